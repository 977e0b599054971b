// Package failover is mqgate's failover client, ActiveMQ's failover:
// transport for STOMP and AMQP 1.0: a Conn speaks to one broker of a list
// at a time and hides a broker's loss from the application. It reconnects
// with back-off to the next broker, subscribes again (durable
// subscriptions by name), and sends again, in order, every message the
// broker had not confirmed; messages carry a producer identity
// (mqgate-producer-id, mqgate-producer-seq) so that a broker can drop a
// resend it already stored.
//
// URIs and options are ActiveMQ's (ParseURI), failover: lists and
// discovery: URIs whose brokers the broker's own discovery agents
// (cluster/discovery: static lists, multicast beacons) find while the Conn
// runs. A broker's redirect (AMQP amqp:connection:redirect, STOMP ERROR
// with mqgate-redirect) moves the Conn at once. STOMP runs over go-stomp's
// frame types with the bounded codec of protocols/stomp/wire, AMQP over
// github.com/Azure/go-amqp. docs/clustering.md ("Failover transport")
// describes the behaviour across a failover for users.
package failover
