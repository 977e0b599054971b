package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// help is the one-sentence meaning of every key. It is the flag's usage
// text and the first line of the key's comment in mqgate.example.yaml and
// of its row in docs/configuration.md (a test keeps the three in step).
var help = map[string]string{
	"node.id":       "This broker's name in the cluster and in message ids; letters, digits, '-', '_' and '.' only.",
	"node.data_dir": "Directory where the disk store and other state live.",

	"stomp.listen":            `STOMP TCP listen address as host:port (port 0 picks a free port); "" disables STOMP.`,
	"stomp.max_frame_size":    "Largest STOMP frame body accepted; 1KiB to 2GiB.",
	"stomp.max_headers":       "Most headers accepted in one STOMP frame; 1 to 100000.",
	"stomp.max_header_size":   "Longest STOMP command or header line accepted; 256B to 16MiB.",
	"stomp.heartbeat_min":     "Shortest heart-beat interval the broker agrees to, each way, and the interval it offers to send at; client requests below it are raised to it; 0 accepts any.",
	"stomp.connect_timeout":   "A connection that sends no CONNECT frame within this time is closed; more than 0.",
	"stomp.prefetch":          "Default prefetch (activemq.prefetchSize) of a STOMP subscription; 1 to 1000000.",
	"stomp.max_pending_bytes": "Outbound bytes queued for one connection before it is cut off as a slow consumer; at least 64KiB.",

	"amqp.listen":            `AMQP 1.0 listen address as host:port; "" disables AMQP.`,
	"amqp.max_frame_size":    "Largest AMQP 1.0 frame accepted, announced in open; 512B to 16MiB.",
	"amqp.max_message_size":  "Largest AMQP 1.0 message accepted, all its transfers together; 1KiB to 2GiB.",
	"amqp.idle_timeout":      "AMQP idle-time-out announced in open: a silent peer is closed after it; 0 disables it.",
	"amqp.connect_timeout":   "An AMQP connection that has not finished its headers, SASL and open within this is closed.",
	"amqp.link_credit":       "Credit granted to each AMQP sender link of a client, topped up as messages arrive; 1 to 1000000.",
	"amqp.max_pending_bytes": "Outbound bytes queued for one AMQP connection before it is cut off as a slow consumer; at least 64KiB.",
	"admin.listen":           `Admin and health HTTP listen address as host:port; "" disables it.`,

	"store.type":                "Where persistent messages are kept: memory, disk or redis (a Redis shared by a master/slave group).",
	"store.disk.fsync":          "When the disk journal is flushed to disk: always (before a write is acknowledged), interval (every fsync_interval) or never (left to the operating system).",
	"store.disk.fsync_interval": "How often the disk journal is flushed when fsync is interval; more than 0.",
	"store.disk.max_size":       "Disk store size at which producers of persistent messages get an error; 0 means no limit.",
	"store.disk.segment_size":   "Size of one disk journal segment file; 1MiB to 1GiB.",
	"store.redis.url":           "Redis server as redis://[user:password@]host:port/db, or rediss:// for TLS; ignored when addrs is set.",
	"store.redis.addrs":         "Redis seed addresses as host:port, separated by commas: Sentinels when master_name is set, else Cluster nodes.",
	"store.redis.master_name":   `Sentinel master name; "" means no Sentinel.`,
	"store.redis.username":      `Redis ACL user name; "" for the default user.`,
	"store.redis.password":      `Redis password; "" for none (better set by MQGATE_STORE_REDIS_PASSWORD than in a file).`,
	"store.redis.db":            "Redis database number, for a standalone or Sentinel-managed Redis.",
	"store.redis.tls":           "Connect to Redis over TLS.",
	"store.redis.group":         "Name of the master/slave group: brokers with the same group share its queues and its master lease.",
	"store.redis.max_size":      "Message data in Redis at which producers of persistent messages get an error; 0 means no limit.",

	"ha.mode":                             "Master/slave mode: auto (shared-store with redis, else standalone), standalone, or shared-store (brokers sharing the store elect a master by lease; the others wait as slaves with listeners closed).",
	"cluster.discovery":                   "How this broker finds its peers: none, static (cluster.peers) or multicast (UDP beacons compatible with ActiveMQ's multicast://default).",
	"cluster.peers":                       "Peer broker URIs for static discovery, as amqp://host:port separated by commas or spaces; a URI may override its bridge's settings with ?duplex=true&included=<pattern>&excluded=<pattern> (repeat included or excluded for more patterns).",
	"cluster.advertise":                   `URI peers and clients reach this broker at; "" means amqp://<host name>:<amqp.listen port>.`,
	"cluster.multicast.group":             "Multicast discovery group name; brokers announcing another group are ignored.",
	"cluster.multicast.address":           "Multicast group address of the discovery beacons as host:port.",
	"cluster.multicast.interface":         `Network interface for multicast discovery; "" lets the system choose.`,
	"cluster.multicast.ttl":               "IP time-to-live of the discovery beacons; 1 keeps them on the local network; 1 to 255.",
	"cluster.multicast.interval":          "Time between two discovery beacons; more than 0.",
	"cluster.multicast.missed_beats":      "Beacons a peer may miss before it is considered gone; 1 to 1000.",
	"cluster.rebalance_clients":           "When discovery reports a new peer, ask a fair share of this broker's client connections (never network bridges) to move to it, so that clients spread over the brokers (ActiveMQ's rebalanceClusterClients).",
	"cluster.network_ttl":                 "Most broker-to-broker hops a message and an advertisement of consumer demand make in the network of brokers; 1 suits a full mesh, a line or hub needs its diameter; 1 to 64.",
	"cluster.network.enabled":             "Run a network bridge to each discovered peer, forwarding the messages its consumers want.",
	"cluster.network.included":            `Destination patterns the bridges forward, separated by commas or spaces, such as queue://orders.> or topic://prices.*; "" forwards every destination.`,
	"cluster.network.excluded":            "Destination patterns the bridges never forward, separated by commas or spaces; they win over included.",
	"cluster.network.duplex":              "Make every bridge duplex: its one connection also brings the peer's messages for this broker's consumers, for a peer that cannot dial this broker (ActiveMQ's duplex network connector).",
	"cluster.network.prefetch":            "Credit of each network subscription: messages on their way to a peer per destination; 1 to 1000000.",
	"cluster.network.decrease_priority":   "Subscribe bridges below local consumers, so that local consumers are preferred (ActiveMQ's decreaseNetworkConsumerPriority).",
	"cluster.network.replay":              "Forward queue messages stranded on a broker whose consumers left to a peer that has consumers, even back where they came from.",
	"cluster.network.replay_delay":        "How long a stranded queue message waits before it is replayed to a peer, so that messages do not bounce between brokers; 0 or more.",
	"cluster.network.duplicate_window":    "How long a broker remembers a message forwarded to it, to drop a second copy that a bridge resends after a failure; more than 0.",
	"cluster.network.reconnect_delay":     "First wait before a lost network bridge reconnects; it doubles up to max_reconnect_delay; more than 0.",
	"cluster.network.max_reconnect_delay": "Longest wait between two reconnection attempts of a network bridge; at least reconnect_delay.",
	"cluster.network.advertise_interval":  "How often a broker republishes its consumer demand to its peers when nothing changed; more than 0.",
	"cluster.network.idle_timeout":        "How long a network bridge waits for a silent peer before it gives the connection up and reconnects (the peer sends a frame at least every half of it); 1s or more.",
	"ha.lease_ttl":                        "How long a master's lease lasts unrenewed; it bounds the take-over time after a master dies; 500ms to 10m.",

	"broker.dlq":                  "Name of the dead-letter queue; not empty.",
	"broker.max_redeliveries":     "Times a released message is redelivered before it goes to the dead-letter queue instead; -1 means unlimited.",
	"broker.topic_max_pending":    "Messages buffered for one non-durable topic subscriber before the oldest are dropped; at least 1.",
	"broker.redelivery_delay":     "Delay before a failed delivery (NACK with requeue, a consumer gone, a rollback) is redelivered; 0 redelivers at once.",
	"broker.backoff_multiplier":   "Each further failure multiplies the redelivery delay by this; 1 keeps it constant, at least 1.",
	"broker.max_redelivery_delay": "Longest redelivery delay the back-off reaches; more than 0.",
	"broker.dlq_per_destination":  "Dead-letter each queue's messages to DLQ.<queue> (a topic's to DLQ.<topic>) instead of broker.dlq.",
	"broker.max_groups":           "Message groups one queue tracks before it forgets groups with no unacknowledged message; 0 means no limit.",
	"broker.policies": "Per-destination policies: a list of entries, each a destination pattern and the redelivery, " +
		"dead-letter and priority settings that override the broker-wide ones there; the most specific match wins; in the environment or a flag, YAML or JSON text. See docs/semantics.md.",

	"log.level":  "Least severe log level written: trace, debug, info, warn or error.",
	"log.format": "Log output format: auto (console on a terminal, JSON otherwise), console or json.",

	"shutdown.timeout": "How long a graceful stop waits for in-flight work; more than 0.",
}

// flagNamer turns a key into its flag name.
var flagNamer = strings.NewReplacer(".", "-", "_", "-")

// flagName returns the flag for key: "store.disk.fsync_interval" →
// "store-disk-fsync-interval".
func flagName(key string) string { return flagNamer.Replace(key) }

// envName returns the environment variable for key:
// "store.disk.fsync_interval" → "MQGATE_STORE_DISK_FSYNC_INTERVAL".
func envName(key string) string {
	return "MQGATE_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// RegisterFlags defines one flag on fs for every key, named by the key with
// '.' and '_' turned into '-' (--stomp-listen, --store-disk-fsync), with the
// key's default and its sentence from mqgate.example.yaml as usage. Pass the
// same FlagSet to Load after parsing: only flags the user set override the
// environment, the file and the defaults. It panics, as pflag does, if fs
// already has a flag of one of these names.
func RegisterFlags(fs *pflag.FlagSet) {
	def := Default()
	for _, k := range keys {
		name, usage := flagName(k.name), help[k.name]
		switch v := k.get(def).(type) {
		case string:
			fs.String(name, v, usage)
		case int:
			fs.Int(name, v, usage)
		case float64:
			fs.Float64(name, v, usage)
		case bool:
			fs.Bool(name, v, usage)
		case time.Duration:
			fs.Duration(name, v, usage)
		case ByteSize:
			fs.Var(&v, name, usage)
		case []PolicyConfig:
			fs.String(name, "[]", usage)
		default:
			panic(fmt.Sprintf("config: key %s has unsupported type %T", k.name, v))
		}
	}
}
