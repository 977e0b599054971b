// Package stomp is mqgate's STOMP 1.0/1.1/1.2 front-end: it accepts
// connections, reads frames with the bounded codec in protocols/stomp/wire,
// and turns them into calls on the broker core (backend), with ActiveMQ's
// destination names, headers and semantics.
//
// Each connection has one reader goroutine, which handles frames in order,
// and one writer goroutine, which writes everything queued for the
// connection in one write per wake-up. Deliveries arrive on the broker's
// goroutines and are queued as they are; the writer encodes them, so the
// queue's lock is held only to hand them over.
//
// Lock order: backend queue locks, then conn.wmu.
package stomp
