// Package cluster holds mqgate's clustering: ha (master/slave elections on
// a shared store's lease), discovery (static peer lists and ActiveMQ's
// multicast beacons) and failover (the client transport that reconnects,
// resubscribes and resends). Network-of-brokers bridges come next. It
// imports the backend API and backend/store only.
package cluster
