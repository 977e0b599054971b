// Package cluster will hold mqgate's clustering: discovery (static and
// multicast), network-of-brokers bridges over AMQP 1.0, master/slave roles
// and the failover client. It imports the backend API and backend/store
// only; nothing in it is built yet.
package cluster
