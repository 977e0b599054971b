package stomp

import (
	"net"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/mqgate/mqgate/backend"
	"github.com/mqgate/mqgate/protocols/netserve"
	"github.com/mqgate/mqgate/protocols/stomp/wire"
)

// Options configure the STOMP front-end. The gateway fills them from config.
type Options struct {
	Limits wire.Limits
	// HeartbeatMin is the shortest heart-beat interval agreed to each way;
	// it is also what the server offers in CONNECTED.
	HeartbeatMin time.Duration
	// ConnectTimeout closes a connection that sends no CONNECT in time.
	ConnectTimeout time.Duration
	// Prefetch is a subscription's default activemq.prefetchSize.
	Prefetch int
	// MaxPendingBytes caps one connection's outbound queue: past it the
	// connection is a slow consumer and is closed.
	MaxPendingBytes int
	// ServerName goes in CONNECTED's server header, e.g. "mqgate/1.0".
	ServerName string
	// ServerList, when set, returns the cluster's client-facing STOMP
	// URIs ("stomp://host:61613"), sent in CONNECTED as the
	// failover-server-list header (comma-separated) so failover clients
	// learn where to go; an empty list sends no header.
	ServerList func() []string
	Logger     zerolog.Logger
}

func (o *Options) setDefaults() {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.Prefetch <= 0 {
		o.Prefetch = 1000
	}
	if o.MaxPendingBytes <= 0 {
		o.MaxPendingBytes = 64 << 20
	}
	if o.ServerName == "" {
		o.ServerName = "mqgate"
	}
}

// Server serves STOMP connections on listeners, for one broker.
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
	opts.setDefaults()
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
