package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/mqgate/mqgate/backend"
	"github.com/mqgate/mqgate/backend/store"
	"github.com/mqgate/mqgate/cluster/ha"
	"github.com/mqgate/mqgate/config"
	"github.com/mqgate/mqgate/protocols/amqp"
	"github.com/mqgate/mqgate/protocols/stomp"
	"github.com/mqgate/mqgate/protocols/stomp/wire"
)

// Version is reported in CONNECTED's server header; main sets it.
var Version = "dev"

// Gateway is one broker: store, core, listeners and admin endpoint.
//
// A standalone gateway serves from Start to Close. In a master/slave group
// (config.Config.SharedStore) it serves only while it holds the store's
// lease: each such period is a term, with its own store handle, broker core
// and client listeners; between terms it is a slave with only the admin
// endpoint open.
type Gateway struct {
	cfg      *config.Config
	policies []backend.Policy // broker.policies, checked by New
	log      zerolog.Logger

	mu sync.Mutex
	// Guarded by mu.
	started bool
	closed  bool
	serving bool          // a term is serving clients
	servCh  chan struct{} // closed and replaced when serving changes
	camp    *candidacy    // the current election's store handles

	// The current term, guarded by mu.
	broker  *backend.Broker
	stomp   *stomp.Server
	amqp    *amqp.Server
	stompLn net.Listener
	amqpLn  net.Listener

	admin   *http.Server
	adminLn net.Listener
	wg      sync.WaitGroup

	node     *ha.Node           // nil when standalone
	haStop   context.CancelFunc // ends node.Run
	haDone   chan struct{}      // closed when node.Run returned
	closeCtx context.Context    // the Close caller's context, for the last term's graceful stop; guarded by mu

	members  membership
	topo     topology           // what clients are told about the cluster (topology.go)
	reg      registrar          // keeps this node in its master/slave group's members registry (registry.go)
	discStop context.CancelFunc // ends discovery; nil when off
}

// Option adjusts a Gateway.
type Option func(*Gateway)

// WithLogger sets the logger; the default discards everything.
func WithLogger(l zerolog.Logger) Option { return func(g *Gateway) { g.log = l } }

// New validates cfg and returns a Gateway that is not yet serving.
func New(cfg *config.Config, opts ...Option) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	policies, err := brokerPolicies(cfg.Broker.Policies)
	if err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, policies: policies, log: zerolog.Nop(), servCh: make(chan struct{})}
	for _, o := range opts {
		o(g)
	}
	return g, nil
}

// Start opens the admin endpoint and, standalone, opens the store, recovers
// its messages and opens the client listeners: it returns once the broker
// accepts connections. In a master/slave group it returns at once, a slave;
// the node becomes master, recovers and opens its listeners when it wins
// the store's lease (see Role and WaitMaster).
func (g *Gateway) Start(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.started {
		return errors.New("gateway already started")
	}
	g.started = true
	if g.cfg.SharedStore() {
		g.newNode() // before the admin endpoint, whose handlers read g.node
	}
	if err := g.listenAdmin(); err != nil {
		return err
	}
	g.startDiscovery()
	if g.node != nil {
		g.startRegistrar()
		g.runNode()
		return nil
	}
	st, err := openStore(ctx, g.cfg, g.log)
	if err == nil {
		err = g.startTerm(ctx, st)
	}
	if err != nil {
		g.stopDiscovery()
		g.stopAdmin(ctx)
		g.mu.Unlock()
		g.wg.Wait()
		g.mu.Lock()
		return err
	}
	return nil
}

// newNode sets up the master/slave node. g.mu must be held.
func (g *Gateway) newNode() {
	cfg := g.cfg
	g.node = ha.New(ha.Options{
		Node: cfg.Node.ID,
		TTL:  cfg.HA.LeaseTTL,
		Campaign: func(ctx context.Context) (store.Leaser, func(), error) {
			c, err := campaign(ctx, cfg, g.log)
			if err != nil {
				return nil, nil, err
			}
			g.mu.Lock()
			g.camp = c
			g.mu.Unlock()
			return c.leaser, c.close, nil
		},
		Serve:  g.serveTerm,
		Logger: g.log.With().Str("ha", cfg.Store.Type).Logger(),
	})
}

// runNode starts the node's elections. g.mu must be held.
func (g *Gateway) runNode() {
	ctx, cancel := context.WithCancel(context.Background())
	g.haStop, g.haDone = cancel, make(chan struct{})
	go func() {
		defer close(g.haDone)
		_ = g.node.Run(ctx)
	}()
}

// serveTerm is one term as master: it opens the term's store, recovers,
// serves, and stops at once when the lease is lost, or gracefully when ctx
// (the node) ends.
func (g *Gateway) serveTerm(ctx context.Context, lease store.Lease) error {
	start := time.Now()
	g.mu.Lock()
	c := g.camp
	g.mu.Unlock()
	st, err := c.open(ctx)
	if err != nil {
		return err
	}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		if st != nil {
			_ = st.Close()
		}
		return nil
	}
	err = g.startTerm(ctx, st)
	g.mu.Unlock()
	if err != nil {
		return err
	}
	g.log.Info().Uint64("token", lease.Token()).Dur("took", time.Since(start)).Msg("master: serving clients")
	select {
	case <-lease.Lost():
		expired, cancel := context.WithCancel(context.Background())
		cancel() // no grace: another node may already be master
		g.mu.Lock()
		err := g.stopTerm(expired)
		g.mu.Unlock()
		if err != nil {
			g.log.Debug().Err(err).Msg("stopping the term after the lease was lost")
		}
		return nil
	case <-ctx.Done():
		g.mu.Lock()
		defer g.mu.Unlock()
		stopCtx := g.closeCtx
		if stopCtx == nil {
			stopCtx = context.Background()
		}
		return g.stopTerm(stopCtx)
	}
}

// startTerm builds the broker core over st, recovers it and opens the
// client listeners. g.mu must be held. On error everything it opened,
// st included, is closed.
func (g *Gateway) startTerm(ctx context.Context, st store.Store) error {
	cfg := g.cfg
	g.broker = backend.New(backend.Options{
		NodeID:             cfg.Node.ID,
		Store:              st,
		DLQ:                cfg.Broker.DLQ,
		DLQPerDestination:  cfg.Broker.DLQPerDestination,
		MaxRedeliveries:    cfg.Broker.MaxRedeliveries,
		TopicMaxPending:    cfg.Broker.TopicMaxPending,
		MaxGroups:          cfg.Broker.MaxGroups,
		RedeliveryDelay:    cfg.Broker.RedeliveryDelay,
		BackOffMultiplier:  cfg.Broker.BackOffMultiplier,
		MaxRedeliveryDelay: cfg.Broker.MaxRedeliveryDelay,
		Policies:           g.policies,
		OnDemand:           g.onDemand,
		Logger:             g.log,
	})
	start := time.Now()
	n, err := g.broker.Recover(ctx)
	if err != nil {
		g.broker.Close()
		g.broker = nil
		return fmt.Errorf("recovering the %s store: %w", cfg.Store.Type, err)
	}
	if st != nil {
		g.log.Info().Int("messages", n).Dur("took", time.Since(start)).Str("store", cfg.Store.Type).Msg("store recovered")
	}
	if err := g.listen(); err != nil {
		_ = g.stopTerm(ctx)
		return err
	}
	g.setServing(true)
	g.startNetwork()
	return nil
}

// setServing records whether clients are served. g.mu must be held.
func (g *Gateway) setServing(v bool) {
	if g.serving != v {
		g.serving = v
		close(g.servCh)
		g.servCh = make(chan struct{})
	}
}

// stopTerm closes the client listeners and connections (gracefully until
// ctx ends) and the broker core with its store. g.mu must be held.
func (g *Gateway) stopTerm(ctx context.Context) error {
	g.stopNetwork()
	g.setServing(false)
	var errs []error
	if g.stomp != nil {
		if err := g.stomp.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("closing STOMP connections: %w", err))
		}
	}
	if err := g.closeAMQP(ctx); err != nil {
		errs = append(errs, fmt.Errorf("closing AMQP connections: %w", err))
	}
	if g.stompLn != nil && g.stomp == nil {
		g.stompLn.Close()
	}
	if g.amqpLn != nil && g.amqp == nil {
		g.amqpLn.Close()
	}
	g.stomp, g.amqp, g.stompLn, g.amqpLn = nil, nil, nil, nil
	if g.broker != nil {
		if err := g.broker.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing the store: %w", err))
		}
	}
	return errors.Join(errs...)
}

// listen opens and serves the configured client listeners. g.mu must be
// held.
func (g *Gateway) listen() error {
	cfg := g.cfg
	if cfg.STOMP.Listen != "" {
		ln, err := net.Listen("tcp", cfg.STOMP.Listen)
		if err != nil {
			return fmt.Errorf("stomp.listen: %w", err)
		}
		g.stompLn = ln
		g.stomp = stomp.NewServer(g.broker, stomp.Options{
			Limits: wire.Limits{
				MaxFrameSize:  int(cfg.STOMP.MaxFrameSize),
				MaxHeaders:    cfg.STOMP.MaxHeaders,
				MaxHeaderLine: int(cfg.STOMP.MaxHeaderSize),
			},
			HeartbeatMin:    cfg.STOMP.HeartbeatMin,
			ConnectTimeout:  cfg.STOMP.ConnectTimeout,
			Prefetch:        cfg.STOMP.Prefetch,
			MaxPendingBytes: int(cfg.STOMP.MaxPendingBytes),
			ServerName:      "mqgate/" + Version,
			ServerList:      g.stompServerList(),
			Logger:          g.log.With().Str("proto", "stomp").Logger(),
		})
		g.topo.setSelf(cfg, "stomp", ln.Addr())
		srv := g.stomp
		g.serve(func() error { return srv.Serve(ln) }, "stomp")
		g.log.Info().Str("addr", ln.Addr().String()).Msg("STOMP listening")
	}
	if cfg.AMQP.Listen != "" {
		if err := g.listenAMQP(); err != nil {
			return err
		}
	}
	return nil
}

// listenAdmin opens the admin endpoint, which stays open in every role.
// g.mu must be held.
func (g *Gateway) listenAdmin() error {
	if g.cfg.Admin.Listen == "" {
		return nil
	}
	ln, err := net.Listen("tcp", g.cfg.Admin.Listen)
	if err != nil {
		return fmt.Errorf("admin.listen: %w", err)
	}
	g.adminLn = ln
	srv := &http.Server{Handler: g.adminHandler(), ReadHeaderTimeout: 5 * time.Second}
	g.admin = srv
	g.serve(func() error { return srv.Serve(ln) }, "admin")
	g.log.Info().Str("addr", ln.Addr().String()).Msg("admin HTTP listening")
	return nil
}

// stopDiscovery ends discovery. g.mu must be held.
func (g *Gateway) stopDiscovery() {
	if g.discStop != nil {
		g.discStop()
		g.discStop = nil
	}
}

// stopAdmin closes the admin endpoint. g.mu must be held.
func (g *Gateway) stopAdmin(ctx context.Context) error {
	if g.admin == nil {
		return nil
	}
	err := g.admin.Shutdown(ctx)
	g.admin, g.adminLn = nil, nil
	return err
}

func (g *Gateway) serve(fn func() error, name string) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := fn(); err != nil && !errors.Is(err, stomp.ErrServerClosed) && !errors.Is(err, amqp.ErrServerClosed) &&
			!errors.Is(err, http.ErrServerClosed) {
			g.log.Error().Err(err).Str("listener", name).Msg("listener stopped")
		}
	}()
}

// STOMPAddr returns the STOMP listener's address, or nil when it is not
// listening (disabled, or a slave).
func (g *Gateway) STOMPAddr() net.Addr {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stompLn == nil {
		return nil
	}
	return g.stompLn.Addr()
}

// AdminAddr returns the admin listener's address, or nil.
func (g *Gateway) AdminAddr() net.Addr {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.adminLn == nil {
		return nil
	}
	return g.adminLn.Addr()
}

// Broker returns the current term's broker core (for embedding programs
// and tests), or nil when not serving.
func (g *Gateway) Broker() *backend.Broker {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.broker
}

// Role returns "standalone", or in a master/slave group "master", "slave"
// or "stopped".
func (g *Gateway) Role() string {
	if g.node == nil {
		return "standalone"
	}
	return g.node.Role().String()
}

// Serving reports whether the gateway accepts client connections.
func (g *Gateway) Serving() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.serving
}

// WaitMaster blocks until the gateway serves clients or ctx ends.
func (g *Gateway) WaitMaster(ctx context.Context) error {
	for {
		g.mu.Lock()
		serving, ch := g.serving, g.servCh
		g.mu.Unlock()
		if serving {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close stops accepting connections, lets in-flight work finish until ctx
// ends, closes every connection, flushes and closes the store, and in a
// master/slave group gives up the lease so that a slave takes over at once.
func (g *Gateway) Close(ctx context.Context) error {
	g.mu.Lock()
	if g.closed || !g.started {
		g.closed = true
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	var errs []error
	if g.node != nil && g.haStop != nil { // nil when Start failed before the node ran
		g.closeCtx = ctx
		g.mu.Unlock()
		g.haStop()
		<-g.haDone
		g.stopRegistrar()
		g.mu.Lock()
	} else if err := g.stopTerm(ctx); err != nil {
		errs = append(errs, err)
	}
	g.stopDiscovery()
	if err := g.stopAdmin(ctx); err != nil {
		errs = append(errs, err)
	}
	g.mu.Unlock()
	g.wg.Wait()
	return errors.Join(errs...)
}

func (g *Gateway) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"status\":\"ok\",\"node\":%q,\"role\":%q}\n", g.cfg.Node.ID, g.Role())
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if !g.Serving() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "{\"ready\":false,\"role\":%q}\n", g.Role())
			return
		}
		role := g.Role()
		if role == "standalone" {
			role = "master" // a standalone broker is its own master
		}
		fmt.Fprintf(w, "{\"ready\":true,\"role\":%q}\n", role)
	})
	mux.HandleFunc("GET /cluster", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"node":      g.cfg.Node.ID,
			"role":      g.Role(),
			"discovery": g.cfg.Cluster.Discovery,
			"advertise": advertiseURI(g.cfg),
			"peers":     g.Peers(),
			"network":   g.networkStatus(),
		})
	})
	mux.HandleFunc("GET /queues", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		b := g.Broker()
		if b == nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "{\"error\":\"not serving\",\"role\":%q}\n", g.Role())
			return
		}
		_ = json.NewEncoder(w).Encode(b.Stats())
	})
	return mux
}
