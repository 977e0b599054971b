package gateway

import (
	"context"
	"net"
)

// AMQPAddr returns the AMQP listener's address, or nil.
func (g *Gateway) AMQPAddr() net.Addr { return nil }

// listenAMQP opens the AMQP 1.0 listener. g.mu must be held.
func (g *Gateway) listenAMQP() error {
	g.log.Warn().Str("addr", g.cfg.AMQP.Listen).Msg("amqp.listen is set but the AMQP 1.0 front-end is not built yet; not listening")
	return nil
}

// closeAMQP closes the AMQP listener and connections. g.mu must be held.
func (g *Gateway) closeAMQP(context.Context) error { return nil }
