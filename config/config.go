// Package config owns mqgate's configuration: one typed tree (Config) with
// its defaults, loading from a YAML/TOML/JSON file, MQGATE_* environment
// variables and command-line flags (Load), and validation that names every
// bad key at once (Validate).
//
// Only main, gateway and e2e import this package; lower layers take their
// own Options structs, filled by gateway from a Config.
package config

import (
	"fmt"
	"math"
	"math/big"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is the whole broker configuration. Each field's mapstructure tag is
// its key in a file ("stomp.listen"); the same key names the environment
// variable (MQGATE_STOMP_LISTEN) and the flag (--stomp-listen).
//
// A Config is a plain value: it is not safe to change one while another
// goroutine reads it. Get one from Default or Load and treat it as read-only.
type Config struct {
	Node     NodeConfig     `mapstructure:"node"`
	STOMP    STOMPConfig    `mapstructure:"stomp"`
	AMQP     AMQPConfig     `mapstructure:"amqp"`
	Admin    AdminConfig    `mapstructure:"admin"`
	Store    StoreConfig    `mapstructure:"store"`
	HA       HAConfig       `mapstructure:"ha"`
	Cluster  ClusterConfig  `mapstructure:"cluster"`
	Broker   BrokerConfig   `mapstructure:"broker"`
	Log      LogConfig      `mapstructure:"log"`
	Shutdown ShutdownConfig `mapstructure:"shutdown"`
}

// NodeConfig identifies this broker and where it keeps its state.
type NodeConfig struct {
	// ID is this broker's name in the cluster and in message ids: letters,
	// digits, '-', '_' and '.' only. Default: the host name, or "mqgate".
	ID string `mapstructure:"id"`
	// DataDir is the directory for the disk store and other state.
	DataDir string `mapstructure:"data_dir"`
}

// STOMPConfig configures the STOMP front-end and the limits it enforces
// before allocating for a peer's frame.
type STOMPConfig struct {
	// Listen is the TCP listen address as host:port; "" disables STOMP.
	Listen string `mapstructure:"listen"`
	// MaxFrameSize is the largest frame body accepted.
	MaxFrameSize ByteSize `mapstructure:"max_frame_size"`
	// MaxHeaders is the most headers accepted in one frame.
	MaxHeaders int `mapstructure:"max_headers"`
	// MaxHeaderSize is the longest command or header line accepted.
	MaxHeaderSize ByteSize `mapstructure:"max_header_size"`
	// HeartbeatMin is the shortest heart-beat interval the broker agrees to,
	// each way (client requests below it are raised to it), and the interval
	// it offers to send at; 0 accepts any. STOMP 1.2: Heart-beating.
	HeartbeatMin time.Duration `mapstructure:"heartbeat_min"`
	// ConnectTimeout closes a connection that sends no CONNECT frame within it.
	ConnectTimeout time.Duration `mapstructure:"connect_timeout"`
	// Prefetch is a subscription's default activemq.prefetchSize.
	Prefetch int `mapstructure:"prefetch"`
	// MaxPendingBytes is how many outbound bytes may queue for one
	// connection before it is cut off as a slow consumer.
	MaxPendingBytes ByteSize `mapstructure:"max_pending_bytes"`
}

// AMQPConfig configures the AMQP 1.0 front-end.
type AMQPConfig struct {
	// Listen is the TCP listen address as host:port; "" disables AMQP.
	Listen string `mapstructure:"listen"`
	// MaxFrameSize is the largest AMQP frame accepted, announced in open.
	MaxFrameSize ByteSize `mapstructure:"max_frame_size"`
	// MaxMessageSize is the largest message accepted, all its transfers
	// together.
	MaxMessageSize ByteSize `mapstructure:"max_message_size"`
	// IdleTimeout is announced in open; a silent peer is closed after it.
	// 0 disables it.
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
	// ConnectTimeout bounds the protocol headers, SASL and open.
	ConnectTimeout time.Duration `mapstructure:"connect_timeout"`
	// LinkCredit is the credit granted to each client sender link.
	LinkCredit int `mapstructure:"link_credit"`
	// MaxPendingBytes is how many outbound bytes may queue for one
	// connection before it is cut off as a slow consumer.
	MaxPendingBytes ByteSize `mapstructure:"max_pending_bytes"`
}

// AdminConfig configures the admin and health HTTP server.
type AdminConfig struct {
	// Listen is the HTTP listen address as host:port; "" disables it.
	Listen string `mapstructure:"listen"`
}

// StoreConfig chooses and configures the store of persistent messages.
type StoreConfig struct {
	// Type is StoreMemory, StoreDisk or StoreRedis.
	Type string `mapstructure:"type"`
	// Disk configures the disk store (used when Type is StoreDisk).
	Disk DiskStoreConfig `mapstructure:"disk"`
	// Redis configures the Redis store (used when Type is StoreRedis).
	Redis RedisStoreConfig `mapstructure:"redis"`
}

// RedisStoreConfig names the Redis server (standalone, Sentinel-managed or
// a Cluster) that holds a group's messages.
type RedisStoreConfig struct {
	// URL is a redis:// or rediss:// URL naming a standalone server
	// (user, password and database may be in it). Ignored when Addrs is set.
	URL string `mapstructure:"url"`
	// Addrs lists host:port seeds, separated by commas or spaces: Sentinels
	// when MasterName is set, Cluster nodes when there are several and no
	// MasterName.
	Addrs string `mapstructure:"addrs"`
	// MasterName is the Sentinel master name; "" means no Sentinel.
	MasterName string `mapstructure:"master_name"`
	// Username and Password authenticate to Redis (ACL user, AUTH).
	Username string `mapstructure:"username"`
	Password string `mapstructure:"password"`
	// DB is the database number (standalone and Sentinel only).
	DB int `mapstructure:"db"`
	// TLS connects with TLS (rediss:// in URL does the same).
	TLS bool `mapstructure:"tls"`
	// Group names the master/slave group: brokers with the same group share
	// one set of queues and one master lease.
	Group string `mapstructure:"group"`
	// MaxSize is the message data stored at which producers of persistent
	// messages get an error; 0 means no limit.
	MaxSize ByteSize `mapstructure:"max_size"`
}

// HAConfig configures master/slave operation.
type HAConfig struct {
	// Mode is HAAuto, HAStandalone or HASharedStore.
	Mode string `mapstructure:"mode"`
	// LeaseTTL is how long a master's lease lasts without renewal: it
	// bounds the take-over time after a master dies.
	LeaseTTL time.Duration `mapstructure:"lease_ttl"`
}

// DiskStoreConfig configures the disk store's journal.
type DiskStoreConfig struct {
	// Fsync is FsyncAlways, FsyncInterval or FsyncNever.
	Fsync string `mapstructure:"fsync"`
	// FsyncInterval is how often the journal is fsync'd with FsyncInterval.
	FsyncInterval time.Duration `mapstructure:"fsync_interval"`
	// MaxSize is the store size at which producers of persistent messages
	// get an error; 0 means no limit.
	MaxSize ByteSize `mapstructure:"max_size"`
	// SegmentSize is the size of one journal segment file.
	SegmentSize ByteSize `mapstructure:"segment_size"`
}

// BrokerConfig configures the broker core.
type BrokerConfig struct {
	// DLQ is the name of the dead-letter queue.
	DLQ string `mapstructure:"dlq"`
	// MaxRedeliveries is how many times a released message is redelivered
	// before it goes to the DLQ; -1 means unlimited.
	MaxRedeliveries int `mapstructure:"max_redeliveries"`
	// TopicMaxPending is how many messages are buffered for one non-durable
	// topic subscriber before the oldest are dropped.
	TopicMaxPending int `mapstructure:"topic_max_pending"`
	// MaxGroups is how many message groups one queue tracks before it
	// forgets idle ones (groups with no unacknowledged message).
	MaxGroups int `mapstructure:"max_groups"`
	// RedeliveryDelay delays the redelivery of a failed delivery; 0
	// redelivers at once.
	RedeliveryDelay time.Duration `mapstructure:"redelivery_delay"`
	// BackOffMultiplier multiplies the delay for each further failure; 1
	// keeps it constant.
	BackOffMultiplier float64 `mapstructure:"backoff_multiplier"`
	// DLQPerDestination dead-letters to "DLQ.<destination>" instead of DLQ.
	DLQPerDestination bool `mapstructure:"dlq_per_destination"`
	// MaxRedeliveryDelay caps the backed-off delay.
	MaxRedeliveryDelay time.Duration `mapstructure:"max_redelivery_delay"`
	// Policies are per-destination policies (ActiveMQ's policyEntry): the
	// most specific entry whose pattern matches a destination overrides
	// the settings above for it. Checked by the gateway against the
	// broker core's rules (see gateway.New).
	Policies []PolicyConfig `mapstructure:"policies"`
}

// PolicyConfig is one entry of broker.policies. A field left out (nil, or
// "" for DLQ) keeps the broker-wide setting.
type PolicyConfig struct {
	// Destination is the pattern the entry applies to: "queue://orders.>",
	// "topic://prices.*", "queue://orders"; STOMP's "/queue/orders.>" and
	// "/topic/..." are accepted too.
	Destination        string         `mapstructure:"destination"`
	MaxRedeliveries    *int           `mapstructure:"max_redeliveries"`
	RedeliveryDelay    *time.Duration `mapstructure:"redelivery_delay"`
	BackOffMultiplier  *float64       `mapstructure:"backoff_multiplier"`
	MaxRedeliveryDelay *time.Duration `mapstructure:"max_redelivery_delay"`
	DLQ                string         `mapstructure:"dlq"`
	// PrioritizedMessages turns priority dispatch on or off for the
	// matching destinations (on by default).
	PrioritizedMessages *bool `mapstructure:"prioritized_messages"`
}

// LogConfig configures logging.
type LogConfig struct {
	// Level is the least severe level written: LevelTrace ... LevelError.
	Level string `mapstructure:"level"`
	// Format is FormatAuto, FormatConsole or FormatJSON.
	Format string `mapstructure:"format"`
}

// ShutdownConfig configures a graceful stop.
type ShutdownConfig struct {
	// Timeout is how long a graceful stop waits for in-flight work.
	Timeout time.Duration `mapstructure:"timeout"`
}

// Values of StoreConfig.Type.
const (
	StoreMemory = "memory" // non-persistent; for tests and throw-away brokers
	StoreDisk   = "disk"   // the embedded journal
	StoreRedis  = "redis"  // a shared Redis store, always in master/slave
)

// ClusterConfig configures how this broker finds the other brokers of its
// network.
type ClusterConfig struct {
	// Discovery is DiscoveryNone, DiscoveryStatic or DiscoveryMulticast.
	Discovery string `mapstructure:"discovery"`
	// Peers lists peer URIs (amqp://host:port) separated by commas or
	// spaces, for DiscoveryStatic. A URI may carry its bridge's own
	// settings as query options: duplex, included and excluded
	// (amqp://host:port?duplex=true&included=queue://orders.>), which
	// override cluster.network.duplex, included and excluded.
	Peers string `mapstructure:"peers"`
	// Advertise is the URI other brokers and clients reach this one at;
	// "" derives amqp://<host name>:<amqp.listen port>.
	Advertise string `mapstructure:"advertise"`
	// Multicast configures DiscoveryMulticast.
	Multicast MulticastConfig `mapstructure:"multicast"`
	// NetworkTTL is the most broker-to-broker hops a message and an
	// advertisement of consumer demand make in the network of brokers
	// (ActiveMQ's networkTTL); 1 suits a full mesh, a line or a hub of
	// brokers needs its diameter.
	NetworkTTL int `mapstructure:"network_ttl"`
	// RebalanceClients redirects a fair share of this broker's client
	// connections to a peer discovery reports up (ActiveMQ's
	// rebalanceClusterClients), so that clients spread over the brokers.
	RebalanceClients bool `mapstructure:"rebalance_clients"`
	// Network configures the bridges to the discovered peers.
	Network NetworkConfig `mapstructure:"network"`
}

// NetworkConfig configures the network of brokers: a bridge to each peer
// discovery finds, forwarding to the peer the messages its consumers want
// (docs/networks.md).
type NetworkConfig struct {
	// Enabled runs bridges to the discovered peers.
	Enabled bool `mapstructure:"enabled"`
	// Included lists the destination patterns forwarded, separated by
	// commas or spaces ("queue://orders.>", "topic://prices.*", a plain
	// pattern for both kinds); "" forwards every destination.
	Included string `mapstructure:"included"`
	// Excluded lists destination patterns never forwarded; it wins over
	// Included.
	Excluded string `mapstructure:"excluded"`
	// Duplex makes every bridge duplex (ActiveMQ's duplex network
	// connector): its one connection also carries the peer's messages
	// for this broker's consumers, for a peer that cannot dial this
	// broker. A peer URI in cluster.peers may override it, and included
	// and excluded, with query options (?duplex=true&included=...).
	Duplex bool `mapstructure:"duplex"`
	// Prefetch is each network subscription's credit: messages on their
	// way to a peer per destination.
	Prefetch int `mapstructure:"prefetch"`
	// DecreasePriority subscribes bridges below local consumers, so that
	// local consumers are preferred (ActiveMQ's
	// decreaseNetworkConsumerPriority).
	DecreasePriority bool `mapstructure:"decrease_priority"`
	// Replay forwards queue messages stranded on a broker whose
	// consumers left to a peer that has consumers, even back where they
	// came from, after ReplayDelay.
	Replay      bool          `mapstructure:"replay"`
	ReplayDelay time.Duration `mapstructure:"replay_delay"`
	// DuplicateWindow is how long a broker remembers a forwarded message
	// to drop a second copy of it.
	DuplicateWindow time.Duration `mapstructure:"duplicate_window"`
	// ReconnectDelay is the first wait before a lost bridge reconnects;
	// it doubles up to MaxReconnectDelay.
	ReconnectDelay    time.Duration `mapstructure:"reconnect_delay"`
	MaxReconnectDelay time.Duration `mapstructure:"max_reconnect_delay"`
	// AdvertiseInterval is how often a broker republishes its demand
	// snapshot when nothing changed.
	AdvertiseInterval time.Duration `mapstructure:"advertise_interval"`
	// IdleTimeout is the AMQP idle time-out a bridge announces: its peer
	// sends a frame at least every half of it, and a peer silent for it
	// is given up (the bridge reconnects).
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
}

// MulticastConfig configures multicast discovery; the defaults are
// ActiveMQ's multicast://default.
type MulticastConfig struct {
	// Group is the discovery group name; brokers of other groups are ignored.
	Group string `mapstructure:"group"`
	// Address is the multicast group address as host:port.
	Address string `mapstructure:"address"`
	// Interface names the network interface; "" lets the system choose.
	Interface string `mapstructure:"interface"`
	// TTL is the beacons' IP time-to-live; 1 keeps them on the local link.
	TTL int `mapstructure:"ttl"`
	// Interval is the time between beacons.
	Interval time.Duration `mapstructure:"interval"`
	// MissedBeats is how many beacons a peer may miss before it is gone.
	MissedBeats int `mapstructure:"missed_beats"`
}

// Values of ClusterConfig.Discovery.
const (
	DiscoveryNone      = "none"      // a broker on its own
	DiscoveryStatic    = "static"    // the peers in cluster.peers
	DiscoveryMulticast = "multicast" // UDP beacons, as ActiveMQ's multicast://default
)

// Values of HAConfig.Mode.
const (
	HAAuto        = "auto"         // shared-store for redis, standalone otherwise
	HAStandalone  = "standalone"   // one broker owns the store; a second one fails to start
	HASharedStore = "shared-store" // brokers sharing the store elect a master by lease; the others wait as slaves
)

// Values of DiskStoreConfig.Fsync.
const (
	FsyncAlways   = "always"   // fsync (group commit) before a write is acknowledged
	FsyncInterval = "interval" // fsync every DiskStoreConfig.FsyncInterval
	FsyncNever    = "never"    // leave flushing to the operating system
)

// Values of LogConfig.Level, from most to least verbose.
const (
	LevelTrace = "trace"
	LevelDebug = "debug"
	LevelInfo  = "info"
	LevelWarn  = "warn"
	LevelError = "error"
)

// Values of LogConfig.Format.
const (
	FormatAuto    = "auto"    // console on a terminal, JSON otherwise
	FormatConsole = "console" // human-readable lines
	FormatJSON    = "json"    // one JSON object a line
)

// defaultNodeID is the fallback node.id when the host name is unavailable or
// is not a valid node id.
const defaultNodeID = "mqgate"

// Default returns a new Config holding every default. It passes Validate.
// node.id is the host name (os.Hostname) when that is a valid node id, and
// "mqgate" otherwise.
func Default() *Config {
	return &Config{
		Node: NodeConfig{
			ID:      hostNodeID(),
			DataDir: "data",
		},
		STOMP: STOMPConfig{
			Listen:          ":61613",
			MaxFrameSize:    64 * MiB,
			MaxHeaders:      1000,
			MaxHeaderSize:   64 * KiB,
			HeartbeatMin:    time.Second,
			ConnectTimeout:  10 * time.Second,
			Prefetch:        1000,
			MaxPendingBytes: 64 * MiB,
		},
		AMQP: AMQPConfig{
			Listen:          ":5672",
			MaxFrameSize:    256 * KiB,
			MaxMessageSize:  64 * MiB,
			IdleTimeout:     60 * time.Second,
			ConnectTimeout:  10 * time.Second,
			LinkCredit:      1000,
			MaxPendingBytes: 64 * MiB,
		},
		Admin: AdminConfig{Listen: ":8161"},
		Store: StoreConfig{
			Type: StoreDisk,
			Disk: DiskStoreConfig{
				Fsync:         FsyncAlways,
				FsyncInterval: 100 * time.Millisecond,
				MaxSize:       10 * GiB,
				SegmentSize:   64 * MiB,
			},
			Redis: RedisStoreConfig{
				URL:     "redis://localhost:6379/0",
				Group:   "mqgate",
				MaxSize: GiB,
			},
		},
		HA: HAConfig{
			Mode:     HAAuto,
			LeaseTTL: 5 * time.Second,
		},
		Cluster: ClusterConfig{
			Discovery: DiscoveryNone,
			Multicast: MulticastConfig{
				Group:       "default",
				Address:     "239.255.2.3:6155",
				TTL:         1,
				Interval:    500 * time.Millisecond,
				MissedBeats: 10,
			},
			NetworkTTL: 1,
			Network: NetworkConfig{
				Enabled:           true,
				Prefetch:          1000,
				DecreasePriority:  true,
				Replay:            true,
				ReplayDelay:       5 * time.Second,
				DuplicateWindow:   10 * time.Minute,
				ReconnectDelay:    100 * time.Millisecond,
				MaxReconnectDelay: 5 * time.Second,
				AdvertiseInterval: 2 * time.Second,
				IdleTimeout:       30 * time.Second,
			},
		},
		Broker: BrokerConfig{
			DLQ:                "ActiveMQ.DLQ",
			MaxRedeliveries:    6,
			TopicMaxPending:    100000,
			MaxGroups:          65536,
			BackOffMultiplier:  1,
			MaxRedeliveryDelay: time.Minute,
			Policies:           []PolicyConfig{},
		},
		Log: LogConfig{
			Level:  LevelInfo,
			Format: FormatAuto,
		},
		Shutdown: ShutdownConfig{Timeout: 10 * time.Second},
	}
}

// hostNodeID returns the host name if it is a valid node id, else
// defaultNodeID.
func hostNodeID() string {
	h, err := os.Hostname()
	if err != nil || !validNodeID(h) {
		return defaultNodeID
	}
	return h
}

// validNodeID reports whether id is non-empty and only letters, digits,
// '-', '_' and '.'.
func validNodeID(id string) bool {
	if id == "" {
		return false
	}
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return true
}

// ByteSize is a size in bytes. In a file, an environment variable or a flag
// it is written as a whole number of bytes with an optional unit, decimal
// (B, KB=1000, MB, GB, TB, PB) or binary (KiB=1024, MiB, GiB, TiB, PiB),
// case-insensitive: "64MiB", "10GiB", "512KB", "1048576", "1.5GiB".
//
// *ByteSize implements pflag.Value and encoding.TextUnmarshaler.
type ByteSize int64

// Byte size units.
const (
	B   ByteSize = 1
	KB  ByteSize = 1000
	MB           = 1000 * KB
	GB           = 1000 * MB
	TB           = 1000 * GB
	PB           = 1000 * TB
	KiB ByteSize = 1024
	MiB          = 1024 * KiB
	GiB          = 1024 * MiB
	TiB          = 1024 * GiB
	PiB          = 1024 * TiB
)

// sizeUnits maps a lower-case unit to its size, for parsing.
var sizeUnits = map[string]ByteSize{
	"": B, "b": B,
	"kb": KB, "mb": MB, "gb": GB, "tb": TB, "pb": PB,
	"kib": KiB, "mib": MiB, "gib": GiB, "tib": TiB, "pib": PiB,
}

// printUnits are the units String chooses from; on a tie the first wins.
var printUnits = []struct {
	name string
	size ByteSize
}{
	{"PiB", PiB}, {"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB},
	{"PB", PB}, {"TB", TB}, {"GB", GB}, {"MB", MB}, {"KB", KB},
}

// sizeSyntax says how to write a ByteSize, for error messages.
const sizeSyntax = `a whole number of bytes with an optional unit ` +
	`B, KB, MB, GB, TB, PB, KiB, MiB, GiB, TiB or PiB (e.g. "64MiB")`

// ParseByteSize parses s as described on ByteSize. Surrounding spaces and a
// space between number and unit are allowed; negative sizes, fractions of a
// byte and sizes above 2^63-1 bytes are errors.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	mult, ok := sizeUnits[unit]
	if !ok || !validDecimal(num) {
		if strings.HasPrefix(t, "-") {
			return 0, fmt.Errorf("%q is negative; a size is %s", s, sizeSyntax)
		}
		return 0, fmt.Errorf("%q is not a size; write %s", s, sizeSyntax)
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, fmt.Errorf("%q is not a size; write %s", s, sizeSyntax)
	}
	r.Mul(r, new(big.Rat).SetInt64(int64(mult)))
	if !r.IsInt() {
		return 0, fmt.Errorf("%q is not a whole number of bytes", s)
	}
	n := r.Num()
	if !n.IsInt64() {
		return 0, fmt.Errorf("%q is too large; the most is %s", s, ByteSize(math.MaxInt64))
	}
	return ByteSize(n.Int64()), nil
}

// validDecimal reports whether s is digits with at most one '.' that has a
// digit on each side.
func validDecimal(s string) bool {
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || dot && frac == "" {
		return false
	}
	return !strings.Contains(frac, ".")
}

// String formats b with the unit that divides it exactly into the smallest
// number: 64MiB, 10GiB, 10PB, 512000 → "500KiB", 1000 → "1KB", 1500 → "1500B".
// Zero is "0". ParseByteSize(b.String()) == b for every b >= 0.
func (b ByteSize) String() string {
	if b == 0 {
		return "0"
	}
	n, unit := b, "B"
	if b > 0 {
		for _, u := range printUnits {
			if b%u.size == 0 && b/u.size < n {
				n, unit = b/u.size, u.name
			}
		}
	}
	return strconv.FormatInt(int64(n), 10) + unit
}

// Set parses s into b. It implements pflag.Value.
func (b *ByteSize) Set(s string) error {
	v, err := ParseByteSize(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// Type names the flag's value type in help output. It implements pflag.Value.
func (b *ByteSize) Type() string { return "size" }

// MarshalText returns b.String(). It implements encoding.TextMarshaler.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText parses text as ParseByteSize does. It implements
// encoding.TextUnmarshaler.
func (b *ByteSize) UnmarshalText(text []byte) error { return b.Set(string(text)) }
