// Package backend is mqgate's broker core and the common queue API that every
// protocol front-end and network bridge uses: Publish, Subscribe with credit,
// per-delivery settlement, transactions and consumer-demand events. It knows
// no protocol and no store implementation; persistence goes through
// backend/store.
//
// Lock order: Broker.mu, then a fan-in subscription's fanIn.mu, then
// queue.mu (fanIn.mu is released before a queue's lock is taken; see
// fanin.go). A Sink's Deliver is called with the queue's mu held (a browse
// calls it without) and must not call back into the broker.
package backend
