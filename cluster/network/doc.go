// Package network is mqgate's network of brokers: a bridge to each peer
// that discovery finds, which forwards, store-and-forward over AMQP 1.0
// (github.com/Azure/go-amqp as the client, the peer's own AMQP front-end
// as the server), the messages the peer's consumers want. It owns the
// bridges and the advertisement of this broker's consumer demand;
// docs/networks.md is the user's description.
//
// # Demand
//
// Each broker publishes, on its own topic DemandTopic
// ("mqgate.network.demand"), a snapshot of the destinations it wants:
// the ones with local consumers (backend.Broker.LocalDemand: queues and
// queue patterns with consumers, topics and topic patterns with
// subscribers, topics with durable subscriptions), and the ones its
// peers advertised to it, each with its hop count and the peer it came
// through. A snapshot goes out when the demand changes, when a bridge
// subscribes to the topic, and every AdvertiseInterval. Its body is JSON:
//
//	{"v":1,"node":"b","demand":[
//	  {"dest":"queue://orders","routes":[{"hops":0}]},
//	  {"dest":"topic://prices","routes":[{"hops":1,"via":"c"}]}]}
//
// hops is how many broker-to-broker hops a message from the advertiser
// needs to reach a consumer (0: the advertiser's own); via names the
// peer a learned route goes through. A bridge reading the snapshot of
// peer P ignores the routes that go through its own broker (split
// horizon) and takes the shortest of the others plus one; it keeps the
// destinations within Options.TTL hops, and a broker advertises a
// learned route only if one more hop stays within the TTL. Names under
// "mqgate.network." and temporary destinations are never demand.
//
// # Forwarding
//
// For each destination its peer demands, a bridge opens a network
// subscription on the local broker (SubscribeOptions.Network, below
// local consumers' priority when Options.DecreasePriority; one per
// destination and peer however many consumers the peer has: a conduit
// subscription), and sends each delivery on one anonymous-relay sender
// link to the peer, with the message annotation
// x-opt-mqgate-broker-path holding the message's broker path plus this
// broker's node id. It settles the local delivery (accepted: removed)
// only when the peer accepted the transfer, which the peer's front-end
// does once a persistent message is stored; on a lost link the unsettled
// deliveries are released and forwarded again later, and the peer drops
// the copies it already has (backend.Broker.PublishForwarded).
//
// A message is not forwarded to a broker already on its path, nor once
// its path is Options.TTL long. A queue message stranded on a broker
// without local consumers (they moved away) is forwarded to a peer with
// demand whatever its path once it waited Options.ReplayDelay there
// (Options.Replay): messages follow their consumers without bouncing
// between brokers faster than that.
//
// # Duplex bridges and per-bridge settings
//
// A duplex bridge (Options.Duplex, or duplex=true in its peer URI) also
// pulls from its peer, over its one connection, what this broker's
// demand wants: a receiver link per destination, marked as a pull by its
// attach properties, which the peer subscribes as a network subscription
// with backend.PullFilter and advertises as demand through this broker
// (backend.Broker.PeerDemand); see duplex.go. A peer URI's query options
// (duplex, included, excluded) override Options for its bridge (peer.go).
// A Network with Options.Passive has no peers of its own and publishes
// its demand only while a peer's bridge listens.
//
// # Concurrency
//
// Network's methods are safe for concurrent use. Each bridge runs one
// goroutine that connects, reads the peer's demand and reconciles the
// network subscriptions, and per connection a sender goroutine and a
// settlement goroutine; a duplex bridge adds per connection a pull
// goroutine (attaching and detaching pulls) and per pull a receiving
// and a settling goroutine. The broker's goroutines call a network
// subscription's Deliver under a queue lock: it only appends to the
// bridge's queue (lock order: backend queue locks, then bridge.mu);
// nothing calls into the broker while holding bridge.mu or Network.mu.
package network
