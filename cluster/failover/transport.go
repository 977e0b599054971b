package failover

import "context"

// transport is one connection to one broker, in one protocol. The Conn
// owns it: it calls send under sendLock and subscribe under subLock, so
// each is called by one goroutine at a time; settle, unsubscribe and
// close may come from any goroutine.
//
// A transport reports back by calling Conn.finish for the sends the broker
// confirmed or refused, and Subscription.push for deliveries. It never
// fails a send because the connection failed: such a send stays pending
// and the Conn sends it again on the next transport.
type transport interface {
	// broker returns the broker it is connected to.
	broker() Broker
	// servers returns the brokers this broker announced at connect time.
	servers() []Broker
	// send writes r's message. It returns an error only when the
	// connection failed; a refusal finishes r with a *BrokerError.
	send(r *Receipt) error
	// subscribe makes s on this connection and waits for the broker to
	// confirm it: a *BrokerError is a refusal, another error a failure.
	subscribe(ctx context.Context, s *Subscription) error
	// unsubscribe ends s on this connection.
	unsubscribe(ctx context.Context, s *Subscription) error
	// settle writes the outcome of m, which came on this connection. An
	// error wrapping errLost means the connection (or the link) m came on
	// is gone, so the outcome can no longer be sent.
	settle(ctx context.Context, m *Message, o outcome) error
	// done is closed when the connection has failed or closed; err then
	// says why. A message that came on a transport that is done is stale:
	// it can no longer be acknowledged.
	done() <-chan struct{}
	err() error
	// close disconnects gracefully until ctx ends, then closes.
	close(ctx context.Context) error
}
