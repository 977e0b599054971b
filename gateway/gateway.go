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
	"github.com/mqgate/mqgate/config"
	"github.com/mqgate/mqgate/protocols/amqp"
	"github.com/mqgate/mqgate/protocols/stomp"
	"github.com/mqgate/mqgate/protocols/stomp/wire"
)

// Version is reported in CONNECTED's server header; main sets it.
var Version = "dev"

// Gateway is one broker: store, core, listeners and admin endpoint.
type Gateway struct {
	cfg *config.Config
	log zerolog.Logger

	mu sync.Mutex
	// Guarded by mu.
	started bool
	closed  bool

	store  store.Store
	broker *backend.Broker
	stomp  *stomp.Server
	admin  *http.Server

	amqp    *amqp.Server
	stompLn net.Listener
	amqpLn  net.Listener
	adminLn net.Listener
	wg      sync.WaitGroup
	ready   chan struct{}
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
	g := &Gateway{cfg: cfg, log: zerolog.Nop(), ready: make(chan struct{})}
	for _, o := range opts {
		o(g)
	}
	return g, nil
}

// Start opens the store, recovers its messages, and opens the listeners.
// It returns once the broker accepts connections.
func (g *Gateway) Start(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.started {
		return errors.New("gateway already started")
	}
	g.started = true
	cfg := g.cfg
	st, err := openStore(cfg, g.log)
	if err != nil {
		return err
	}
	g.store = st
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
		Logger:             g.log,
	})
	start := time.Now()
	n, err := g.broker.Recover(ctx)
	if err != nil {
		g.broker.Close()
		return fmt.Errorf("recovering the %s store: %w", cfg.Store.Type, err)
	}
	if st != nil {
		g.log.Info().Int("messages", n).Dur("took", time.Since(start)).Str("store", cfg.Store.Type).Msg("store recovered")
	}
	if err := g.listen(); err != nil {
		g.closeListeners()
		if g.stomp != nil {
			_ = g.stomp.Close(ctx)
		}
		_ = g.closeAMQP(ctx)
		g.wg.Wait()
		g.broker.Close()
		return err
	}
	close(g.ready)
	return nil
}

// listen opens and serves the configured listeners. g.mu must be held.
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
			Logger:          g.log.With().Str("proto", "stomp").Logger(),
		})
		g.serve(func() error { return g.stomp.Serve(ln) }, "stomp")
		g.log.Info().Str("addr", ln.Addr().String()).Msg("STOMP listening")
	}
	if cfg.AMQP.Listen != "" {
		if err := g.listenAMQP(); err != nil {
			return err
		}
	}
	if cfg.Admin.Listen != "" {
		ln, err := net.Listen("tcp", cfg.Admin.Listen)
		if err != nil {
			return fmt.Errorf("admin.listen: %w", err)
		}
		g.adminLn = ln
		g.admin = &http.Server{Handler: g.adminHandler(), ReadHeaderTimeout: 5 * time.Second}
		g.serve(func() error { return g.admin.Serve(ln) }, "admin")
		g.log.Info().Str("addr", ln.Addr().String()).Msg("admin HTTP listening")
	}
	return nil
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

// STOMPAddr returns the STOMP listener's address, or nil.
func (g *Gateway) STOMPAddr() net.Addr {
	if g.stompLn == nil {
		return nil
	}
	return g.stompLn.Addr()
}

// AdminAddr returns the admin listener's address, or nil.
func (g *Gateway) AdminAddr() net.Addr {
	if g.adminLn == nil {
		return nil
	}
	return g.adminLn.Addr()
}

// Broker returns the broker core (for embedding programs and tests).
func (g *Gateway) Broker() *backend.Broker { return g.broker }

// Close stops accepting connections, lets in-flight work finish until ctx
// ends, closes every connection, and flushes and closes the store.
func (g *Gateway) Close(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed || !g.started {
		g.closed = true
		return nil
	}
	g.closed = true
	var errs []error
	if g.stomp != nil {
		if err := g.stomp.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("closing STOMP connections: %w", err))
		}
	}
	if err := g.closeAMQP(ctx); err != nil {
		errs = append(errs, fmt.Errorf("closing AMQP connections: %w", err))
	}
	if g.admin != nil {
		if err := g.admin.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	g.closeListeners()
	g.wg.Wait()
	if g.broker != nil {
		if err := g.broker.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing the store: %w", err))
		}
	}
	return errors.Join(errs...)
}

// closeListeners closes listeners not handed to a server yet. g.mu must be held.
func (g *Gateway) closeListeners() {
	if g.stompLn != nil && g.stomp == nil {
		g.stompLn.Close()
	}
	if g.amqpLn != nil && g.amqp == nil {
		g.amqpLn.Close()
	}
	if g.adminLn != nil && g.admin == nil {
		g.adminLn.Close()
	}
}

func (g *Gateway) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"status\":\"ok\",\"node\":%q}\n", g.cfg.Node.ID)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		select {
		case <-g.ready:
			fmt.Fprintf(w, "{\"ready\":true,\"role\":\"master\"}\n")
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "{\"ready\":false}\n")
		}
	})
	mux.HandleFunc("GET /queues", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(g.broker.Stats())
	})
	return mux
}
