// Package amqp is mqgate's AMQP 1.0 front-end: it accepts connections,
// negotiates the protocol headers and SASL, runs the connection, session
// and link state machines of the OASIS AMQP 1.0 specification over the
// codec in protocols/amqp/wire, and maps links onto the broker core
// (backend): a client's sender link publishes, a client's receiver link
// subscribes with link credit as the subscription's credit (a queue
// source in distribution-mode copy browses the queue instead), and a
// coordinator link runs local transactions. docs/protocol-mapping.md says
// how messages map to the broker's and to STOMP's.
//
// Each connection has one reader goroutine, which decodes and handles
// frames in order and owns the session and link tables, and one writer
// goroutine, which drains the connection's outbound queue in one write per
// wake-up and sends empty frames when the connection is idle. Deliveries
// arrive on the broker's goroutines (Sink.Deliver), which only queue them:
// the writer encodes them off the queue's lock, numbers them and sends them
// as transfer frames within the peer's session window, holding back what
// the window does not take. Publish outcomes arrive on the store's
// goroutine and become dispositions, in delivery order.
//
// Locks: conn.mu guards the outbound queue and the state the broker's
// goroutines touch (link credit, acks, publish accounting); conn.wmu guards
// the writer's state (outgoing windows, held deliveries, unsettled
// deliveries), which the reader also reads on flow, disposition and
// detach. Neither is held while taking the other. Order: backend queue
// locks, then conn.mu. Nothing calls into the broker while holding either.
package amqp
