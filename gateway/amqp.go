package gateway

import (
	"context"
	"fmt"
	"net"

	"github.com/mqgate/mqgate/protocols/amqp"
)

// AMQPAddr returns the AMQP listener's address, or nil.
func (g *Gateway) AMQPAddr() net.Addr {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.amqpLn == nil {
		return nil
	}
	return g.amqpLn.Addr()
}

// listenAMQP opens the AMQP 1.0 listener. g.mu must be held.
func (g *Gateway) listenAMQP() error {
	cfg := g.cfg
	ln, err := net.Listen("tcp", cfg.AMQP.Listen)
	if err != nil {
		return fmt.Errorf("amqp.listen: %w", err)
	}
	g.amqpLn = ln
	idle := cfg.AMQP.IdleTimeout
	if idle == 0 {
		idle = -1 // config 0 disables it; amqp.Options 0 takes the default
	}
	g.amqp = amqp.NewServer(g.broker, amqp.Options{
		MaxFrameSize:    uint32(cfg.AMQP.MaxFrameSize),
		IdleTimeout:     idle,
		ConnectTimeout:  cfg.AMQP.ConnectTimeout,
		MaxPendingBytes: int(cfg.AMQP.MaxPendingBytes),
		MaxMessageSize:  uint64(cfg.AMQP.MaxMessageSize),
		LinkCredit:      uint32(cfg.AMQP.LinkCredit),
		ServerName:      "mqgate",
		Version:         Version,
		ServerList:      g.amqpServerList(),
		OnPeerClients:   g.peerClients,
		Logger:          g.log.With().Str("proto", "amqp").Logger(),
	})
	g.topo.setSelf(cfg, "amqp", ln.Addr())
	srv := g.amqp
	g.serve(func() error { return srv.Serve(ln) }, "amqp")
	g.log.Info().Str("addr", ln.Addr().String()).Msg("AMQP 1.0 listening")
	return nil
}

// closeAMQP closes the AMQP listener and connections. g.mu must be held.
func (g *Gateway) closeAMQP(ctx context.Context) error {
	if g.amqp == nil {
		return nil
	}
	return g.amqp.Close(ctx)
}
