package gateway

import (
	"context"
	"time"

	"github.com/mqgate/mqgate/backend/store"
)

// registrar keeps this node in its master/slave group's members registry
// (store.Registry on the shared store) for the gateway's lifetime, master
// or slave, and caches the other members in g.topo, so that the master
// announces every live node of its group to clients (topology.go).
//
// stop and done are set by Start under g.mu and used by Close once; the
// goroutine they belong to (runRegistrar) owns everything else.
type registrar struct {
	stop context.CancelFunc // ends runRegistrar; nil when not running
	done chan struct{}      // closed when runRegistrar returned
}

// registryMinInterval bounds how often a node registers, whatever
// ha.lease_ttl.
const registryMinInterval = 50 * time.Millisecond

// startRegistrar starts runRegistrar. g.mu must be held.
func (g *Gateway) startRegistrar() {
	ctx, cancel := context.WithCancel(context.Background())
	g.reg.stop, g.reg.done = cancel, make(chan struct{})
	go g.runRegistrar(ctx, g.reg.done)
}

// stopRegistrar ends runRegistrar, which deregisters this node, and waits
// for it. Called by Close without g.mu (it waits for I/O).
func (g *Gateway) stopRegistrar() {
	if g.reg.stop == nil {
		return
	}
	g.reg.stop()
	<-g.reg.done
	g.reg.stop = nil
}

// runRegistrar registers this node's client URIs every third of
// ha.lease_ttl, with ha.lease_ttl as the entry's lifetime (so a dead node
// leaves the list about when a slave can take over from it), and reads the
// members back into g.topo. It opens the registry itself and again after a
// failure to open it (Redis down at start-up). When ctx ends it removes
// this node's entry. Failures are logged once per outage.
func (g *Gateway) runRegistrar(ctx context.Context, done chan struct{}) {
	defer close(done)
	cfg := g.cfg
	ttl := cfg.HA.LeaseTTL
	every := max(ttl/3, registryMinInterval)
	log := g.log.With().Str("registry", cfg.Store.Type).Logger()
	var reg store.Registry
	closeReg := func() {}
	defer func() { closeReg() }()
	failing := false
	report := func(err error) {
		switch {
		case err != nil && ctx.Err() != nil:
		case err != nil && !failing:
			failing = true
			log.Warn().Err(err).Msg("master/slave members registry: clients are not told about the group until it works")
		case err != nil:
			log.Debug().Err(err).Msg("master/slave members registry")
		case failing:
			failing = false
			log.Info().Msg("master/slave members registry works again")
		}
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if reg != nil {
				dctx, cancel := context.WithTimeout(context.Background(), min(ttl, 2*time.Second))
				if err := reg.Deregister(dctx, cfg.Node.ID); err != nil {
					log.Debug().Err(err).Msg("leaving the master/slave members registry; the entry lapses after ha.lease_ttl")
				}
				cancel()
			}
			return
		case <-t.C:
		}
		if reg == nil {
			r, c, err := openRegistry(ctx, cfg, log)
			if err != nil {
				report(err)
				t.Reset(every)
				continue
			}
			reg, closeReg = r, c
		}
		report(g.registerOnce(ctx, reg, ttl, every))
		t.Reset(every)
	}
}

// registerOnce registers this node and caches the other members. A
// failed read keeps the previous list: announcing a node that may have
// gone costs a client one failed attempt, while forgetting a live one
// costs it a broker to fail over to.
func (g *Gateway) registerOnce(ctx context.Context, reg store.Registry, ttl, timeout time.Duration) error {
	cctx, cancel := context.WithTimeout(ctx, max(timeout, time.Second))
	defer cancel()
	node := g.cfg.Node.ID
	if err := reg.Register(cctx, node, g.registeredURIs(), ttl); err != nil {
		return err
	}
	ms, err := reg.Members(cctx)
	if err != nil {
		return err
	}
	others := ms[:0]
	for _, m := range ms {
		if m.Node != node {
			others = append(others, m)
		}
	}
	g.topo.setGroup(others)
	return nil
}

// registeredURIs returns the client URIs this node registers, STOMP
// first: from the configured listen addresses, since a slave's listeners
// are closed and it will open them on those addresses when it becomes
// master; for a listener configured on port 0, the one open now, if any.
func (g *Gateway) registeredURIs() []string {
	cfg := g.cfg
	self := g.topo.selfMap()
	var out []string
	for _, l := range []struct{ scheme, listen string }{{"stomp", cfg.STOMP.Listen}, {"amqp", cfg.AMQP.Listen}} {
		if l.listen == "" {
			continue
		}
		if u := configuredURI(g.cfg, l.scheme, l.listen); u != "" {
			out = append(out, u)
		} else if u, ok := self[l.scheme]; ok {
			out = append(out, u)
		}
	}
	return out
}

// listenAddr is a configured listen address as a net.Addr, for
// clientHost.
type listenAddr string

func (a listenAddr) Network() string { return "tcp" }
func (a listenAddr) String() string  { return string(a) }
