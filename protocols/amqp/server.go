package amqp

import (
	"net"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/mqgate/mqgate/backend"
	"github.com/mqgate/mqgate/protocols/amqp/wire"
	"github.com/mqgate/mqgate/protocols/netserve"
)

// SASL mechanisms the server can offer. Credentials are not checked yet:
// PLAIN accepts any user name and password.
const (
	MechPLAIN     = "PLAIN"
	MechANONYMOUS = "ANONYMOUS"
)

// Options configure the AMQP front-end. The gateway fills them from config;
// zero values take the defaults documented on each field.
type Options struct {
	// MaxFrameSize is the largest frame accepted, announced in open
	// (default 256 KiB; at least 512, AMQP 1.0 §2.7.1). It also bounds the
	// frames read before open, which the spec limits to 512 bytes: real
	// clients send larger opens.
	MaxFrameSize uint32
	// ChannelMax is the highest channel (session) number accepted (default
	// 1023).
	ChannelMax uint16
	// HandleMax is the highest link handle accepted per session (default
	// 4095).
	HandleMax uint32
	// IdleTimeout is announced in open: a peer that sends nothing for this
	// long is closed with amqp:resource-limit-exceeded (default 60s;
	// negative disables it). Empty frames are sent at half the peer's
	// idle-time-out whatever this is.
	IdleTimeout time.Duration
	// ConnectTimeout bounds the protocol headers, SASL and open (default
	// 10s).
	ConnectTimeout time.Duration
	// MaxPendingBytes caps one connection's outbound queue, deliveries
	// held back by the peer's session window included: past it the
	// connection is a slow consumer and is closed (default 64 MiB).
	MaxPendingBytes int
	// MaxMessageSize bounds one incoming message, all its transfers
	// together; announced as the receiving links' max-message-size
	// (default 64 MiB).
	MaxMessageSize uint64
	// LinkCredit is the credit granted to each client sender link and
	// topped up as deliveries arrive (default 1000).
	LinkCredit uint32
	// SessionWindow is the incoming-window of each session, in transfer
	// frames (default 4096).
	SessionWindow uint32
	// MaxPendingPublishes: while a connection has this many publishes
	// waiting for the store, its sender links get no more credit
	// (default 4096).
	MaxPendingPublishes int
	// ContainerID is announced in open (default the broker's node ID).
	ContainerID string
	// ServerName is the product connection property, e.g. "mqgate"
	// (default "mqgate"); Version is the version property ("" omits it).
	ServerName string
	Version    string
	// SASLMechanisms are offered in this order (default PLAIN, ANONYMOUS);
	// an empty list after defaults means SASL is refused and clients must
	// send the AMQP header directly.
	SASLMechanisms []string
	// ServerList, when set, returns the cluster's client-facing AMQP
	// addresses, announced in every open as failover-server-list (the
	// property Qpid JMS and Artemis clients read to learn where to fail
	// over); an empty list is not announced.
	ServerList func() []ServerAddr
	// OnPeerClients, when set, is called with the node id and client URIs
	// a peer broker's network bridge names in its open
	// (mqgate-client-uris).
	OnPeerClients func(node string, uris []string)
	Logger        zerolog.Logger
}

func (o *Options) setDefaults(b *backend.Broker) {
	if o.MaxFrameSize == 0 {
		o.MaxFrameSize = 256 << 10
	}
	o.MaxFrameSize = max(o.MaxFrameSize, wire.MinMaxFrameSize)
	if o.ChannelMax == 0 {
		o.ChannelMax = 1023
	}
	if o.HandleMax == 0 {
		o.HandleMax = 4095
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 60 * time.Second
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.MaxPendingBytes <= 0 {
		o.MaxPendingBytes = 64 << 20
	}
	if o.MaxMessageSize == 0 {
		o.MaxMessageSize = 64 << 20
	}
	if o.LinkCredit == 0 {
		o.LinkCredit = 1000
	}
	if o.SessionWindow == 0 {
		o.SessionWindow = 4096
	}
	if o.MaxPendingPublishes <= 0 {
		o.MaxPendingPublishes = 4096
	}
	if o.ContainerID == "" {
		o.ContainerID = b.NodeID()
	}
	if o.ServerName == "" {
		o.ServerName = "mqgate"
	}
	if o.SASLMechanisms == nil {
		o.SASLMechanisms = []string{MechPLAIN, MechANONYMOUS}
	}
}

// Server serves AMQP 1.0 connections on listeners, for one broker.
type Server struct {
	b    *backend.Broker
	opts Options
	log  zerolog.Logger

	boot string

	// Set serves the connections: Serve, ServeConn, Connections, Close.
	*netserve.Set
}

// NewServer returns a server for b.
func NewServer(b *backend.Broker, opts Options) *Server {
	opts.setDefaults(b)
	s := &Server{
		b:    b,
		opts: opts,
		log:  opts.Logger,
		boot: strconv.FormatInt(time.Now().UnixMilli(), 36),
	}
	s.Set = netserve.New(opts.Logger, func(nc net.Conn, n uint64) netserve.Conn { return newConn(s, nc, n) })
	return s
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = netserve.ErrServerClosed

// Serve, Shutdown and Abort make a conn a netserve.Conn.
func (c *conn) Serve()    { c.serve() }
func (c *conn) Shutdown() { c.shutdown() }
func (c *conn) Abort()    { c.nc.Close() }
