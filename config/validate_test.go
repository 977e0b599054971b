package config

import (
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		change func(c *Config)
		want   string // "" for valid
	}{
		{"node id empty", func(c *Config) { c.Node.ID = "" },
			`node.id: "" is not a node id; use letters, digits, '-', '_' and '.' only, at least one`},
		{"node id space", func(c *Config) { c.Node.ID = "a b" }, `node.id: "a b" is not a node id`},
		{"node id ok", func(c *Config) { c.Node.ID = "broker-1_a.B" }, ""},
		{"data dir empty", func(c *Config) { c.Node.DataDir = "" }, `node.data_dir: "" is not a directory`},
		{"stomp off", func(c *Config) { c.STOMP.Listen = "" }, ""},
		{"stomp port 0", func(c *Config) { c.STOMP.Listen = "127.0.0.1:0" }, ""},
		{"stomp ipv6", func(c *Config) { c.STOMP.Listen = "[::1]:61613" }, ""},
		{"stomp no port", func(c *Config) { c.STOMP.Listen = "localhost" },
			`stomp.listen: "localhost" is not a listen address: missing port in address; write host:port`},
		{"stomp bad port", func(c *Config) { c.STOMP.Listen = ":stomp" },
			`stomp.listen: ":stomp" is not a listen address: port "stomp" is not a number from 0 to 65535`},
		{"stomp big port", func(c *Config) { c.STOMP.Listen = ":65536" },
			`stomp.listen: ":65536" is not a listen address: port "65536" is not a number from 0 to 65535`},
		{"frame small", func(c *Config) { c.STOMP.MaxFrameSize = 1000 },
			"stomp.max_frame_size: 1KB is out of range; use 1KiB to 2GiB"},
		{"frame big", func(c *Config) { c.STOMP.MaxFrameSize = 2*GiB + 1 }, "stomp.max_frame_size: 2147483649B is out of range"},
		{"frame edges", func(c *Config) { c.STOMP.MaxFrameSize = 2 * GiB; c.STOMP.MaxHeaderSize = 256 }, ""},
		{"headers big", func(c *Config) { c.STOMP.MaxHeaders = 100001 }, "stomp.max_headers: 100001 is out of range; use 1 to 100000"},
		{"header size", func(c *Config) { c.STOMP.MaxHeaderSize = 255 }, "stomp.max_header_size: 255B is out of range; use 256B to 16MiB"},
		{"heartbeat 0", func(c *Config) { c.STOMP.HeartbeatMin = 0 }, ""},
		{"heartbeat negative", func(c *Config) { c.STOMP.HeartbeatMin = -time.Second }, "stomp.heartbeat_min: -1s is negative"},
		{"connect timeout", func(c *Config) { c.STOMP.ConnectTimeout = 0 },
			"stomp.connect_timeout: 0s is not allowed; use a duration more than 0, such as 10s"},
		{"prefetch", func(c *Config) { c.STOMP.Prefetch = 0 }, "stomp.prefetch: 0 is out of range; use 1 to 1000000"},
		{"pending", func(c *Config) { c.STOMP.MaxPendingBytes = 64*KiB - 1 },
			"stomp.max_pending_bytes: 65535B is too small; use at least 64KiB"},
		{"amqp", func(c *Config) { c.AMQP.Listen = "x" }, `amqp.listen: "x" is not a listen address`},
		{"admin", func(c *Config) { c.Admin.Listen = "1:2:3" }, `admin.listen: "1:2:3" is not a listen address: too many colons in address`},
		{"same port", func(c *Config) { c.Admin.Listen = "127.0.0.1:61613" },
			`admin.listen: "127.0.0.1:61613" uses port 61613, as stomp.listen (":61613") does; give each listener its own port`},
		{"same port other hosts", func(c *Config) { c.STOMP.Listen = "127.0.0.1:7000"; c.AMQP.Listen = "127.0.0.2:7000" }, ""},
		{"port 0 twice", func(c *Config) { c.STOMP.Listen = ":0"; c.AMQP.Listen = ":0"; c.Admin.Listen = ":0" }, ""},
		{"store disk", func(c *Config) { c.Store.Type = StoreDisk }, ""},
		{"store redis", func(c *Config) { c.Store.Type = StoreRedis }, ""},
		{"redis url", func(c *Config) { c.Store.Type = StoreRedis; c.Store.Redis.URL = "localhost:6379" },
			`store.redis.url: "localhost:6379" is not a Redis URL`},
		{"redis url unchecked", func(c *Config) { c.Store.Redis.URL = "x" }, ""},
		{"redis addrs", func(c *Config) { c.Store.Type = StoreRedis; c.Store.Redis.Addrs = "a:1, b" },
			`store.redis.addrs: "b" is not host:port`},
		{"redis addrs ok", func(c *Config) {
			c.Store.Type = StoreRedis
			c.Store.Redis.URL = ""
			c.Store.Redis.Addrs = "a:1,b:2 c:3"
		}, ""},
		{"redis group", func(c *Config) { c.Store.Type = StoreRedis; c.Store.Redis.Group = "a b" }, `store.redis.group: "a b" is not a group name`},
		{"redis standalone", func(c *Config) { c.Store.Type = StoreRedis; c.HA.Mode = HAStandalone },
			`ha.mode: "standalone" cannot be used with store.type redis`},
		{"shared memory", func(c *Config) { c.Store.Type = StoreMemory; c.HA.Mode = HASharedStore }, `ha.mode: "shared-store" needs a shared store`},
		{"shared disk", func(c *Config) { c.HA.Mode = HASharedStore }, ""},
		{"ha mode", func(c *Config) { c.HA.Mode = "raft" }, `ha.mode: "raft" is not one of auto, standalone, shared-store`},
		{"static no peers", func(c *Config) { c.Cluster.Discovery = DiscoveryStatic }, `cluster.peers: "" lists no peer`},
		{"static", func(c *Config) {
			c.Cluster.Discovery = DiscoveryStatic
			c.Cluster.Peers = "amqp://a:5672, amqp://b:5672"
		}, ""},
		{"bad peer", func(c *Config) { c.Cluster.Peers = "a:5672" }, `cluster.peers: "a:5672" is not a peer URI`},
		{"peer options", func(c *Config) {
			c.Cluster.Discovery = DiscoveryStatic
			c.Cluster.Peers = "amqp://a:5672?duplex=true&included=queue://orders.>&included=topic://prices.*&excluded=, amqp://b:5672?duplex=false"
			c.Cluster.Network.Duplex = true
		}, ""},
		{"peer duplex", func(c *Config) { c.Cluster.Peers = "amqp://a:5672?duplex=yes" },
			`cluster.peers: "amqp://a:5672?duplex=yes": duplex="yes" is not a boolean`},
		{"peer duplex twice", func(c *Config) { c.Cluster.Peers = "amqp://a:5672?duplex=true&duplex=false" },
			`cluster.peers: "amqp://a:5672?duplex=true&duplex=false" gives duplex 2 times`},
		{"peer included", func(c *Config) { c.Cluster.Peers = "amqp://a:5672?included=topic://" },
			`cluster.peers: "amqp://a:5672?included=topic://": included="topic://" is not a destination pattern`},
		{"peer excluded", func(c *Config) { c.Cluster.Peers = "amqp://a:5672?excluded=queue://%01" },
			`cluster.peers: "amqp://a:5672?excluded=queue://%01": excluded="queue://\x01" is not a destination pattern`},
		{"peer unknown option", func(c *Config) { c.Cluster.Peers = "amqp://a:5672?networkTTL=3" },
			`cluster.peers: "amqp://a:5672?networkTTL=3": unknown option "networkTTL"`},
		{"peer bad query", func(c *Config) { c.Cluster.Peers = "amqp://a:5672?included=%zz" },
			`cluster.peers: "amqp://a:5672?included=%zz" has a bad query`},
		{"advertise", func(c *Config) { c.Cluster.Advertise = "host" }, `cluster.advertise: "host" is not a URI`},
		{"multicast nothing to announce", func(c *Config) { c.Cluster.Discovery = DiscoveryMulticast; c.AMQP.Listen = "" },
			"cluster.advertise: \"\" and amqp.listen is disabled"},
		{"multicast address", func(c *Config) { c.Cluster.Multicast.Address = "10.0.0.1:6155" },
			`cluster.multicast.address: "10.0.0.1:6155" is not a multicast address`},
		{"discovery", func(c *Config) { c.Cluster.Discovery = "dns" }, `cluster.discovery: "dns" is not one of none, static, multicast`},
		{"network ttl", func(c *Config) { c.Cluster.NetworkTTL = 0 }, "cluster.network_ttl: 0 is out of range; use 1 to 64"},
		{"network included", func(c *Config) { c.Cluster.Network.Included = "queue://orders.>, topic://" },
			`cluster.network.included: "topic://" is not a destination pattern`},
		{"network reconnect", func(c *Config) { c.Cluster.Network.MaxReconnectDelay = time.Millisecond },
			"cluster.network.max_reconnect_delay: 1ms is not allowed"},
		{"network replay delay", func(c *Config) { c.Cluster.Network.ReplayDelay = -time.Second },
			"cluster.network.replay_delay: -1s is negative"},
		{"lease ttl", func(c *Config) { c.HA.LeaseTTL = time.Millisecond }, "ha.lease_ttl: 1ms is out of range; use 500ms to 10m"},
		{"store foo", func(c *Config) { c.Store.Type = "foo" }, `store.type: "foo" is not one of memory, disk, redis`},
		{"fsync", func(c *Config) { c.Store.Disk.Fsync = "sometimes" },
			`store.disk.fsync: "sometimes" is not one of always, interval, never`},
		{"fsync interval", func(c *Config) { c.Store.Disk.FsyncInterval = 0 }, "store.disk.fsync_interval: 0s is not allowed"},
		{"max size 0", func(c *Config) { c.Store.Disk.MaxSize = 0 }, ""},
		{"max size negative", func(c *Config) { c.Store.Disk.MaxSize = -1 }, "store.disk.max_size: -1B is negative"},
		{"segment small", func(c *Config) { c.Store.Disk.SegmentSize = MiB - 1 }, "store.disk.segment_size: 1048575B is out of range; use 1MiB to 1GiB"},
		{"segment big", func(c *Config) { c.Store.Disk.SegmentSize = 4*GiB + KiB }, "store.disk.segment_size: 4194305KiB is out of range"},
		{"dlq", func(c *Config) { c.Broker.DLQ = "" }, `broker.dlq: "" is not a queue name`},
		{"redeliveries -1", func(c *Config) { c.Broker.MaxRedeliveries = -1 }, ""},
		{"redeliveries 0", func(c *Config) { c.Broker.MaxRedeliveries = 0 }, ""},
		{"redeliveries -2", func(c *Config) { c.Broker.MaxRedeliveries = -2 }, "broker.max_redeliveries: -2 is not allowed"},
		{"topic pending", func(c *Config) { c.Broker.TopicMaxPending = 0 }, "broker.topic_max_pending: 0 is too small; use at least 1"},
		{"log level", func(c *Config) { c.Log.Level = "INFO" }, `log.level: "INFO" is not one of trace, debug, info, warn, error`},
		{"log format", func(c *Config) { c.Log.Format = "text" }, `log.format: "text" is not one of auto, console, json`},
		{"shutdown", func(c *Config) { c.Shutdown.Timeout = -1 }, "shutdown.timeout: -1ns is not allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := Default()
			tc.change(c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
				t.Fatalf("Validate() = %v\nwant prefix %q", err, tc.want)
			case tc.want != "" && len(keyErrors(err)) != 1:
				t.Fatalf("Validate() = %v, want one error", err)
			}
		})
	}
}

func TestValidateReportsEverything(t *testing.T) {
	t.Parallel()
	c := &Config{} // every key bad, except the ones whose zero value is allowed
	err := c.Validate()
	var got []string
	for _, e := range keyErrors(err) {
		got = append(got, e.Key)
	}
	want := []string{
		"node.id", "node.data_dir",
		"stomp.max_frame_size", "stomp.max_headers", "stomp.max_header_size",
		"stomp.connect_timeout", "stomp.prefetch", "stomp.max_pending_bytes",
		"store.type", "store.disk.fsync", "store.disk.fsync_interval", "store.disk.segment_size",
		"ha.mode", "ha.lease_ttl",
		"cluster.discovery", "cluster.multicast.group", "cluster.multicast.address", "cluster.multicast.ttl",
		"cluster.multicast.interval", "cluster.multicast.missed_beats",
		"cluster.network_ttl", "cluster.network.prefetch", "cluster.network.duplicate_window",
		"cluster.network.reconnect_delay", "cluster.network.max_reconnect_delay", "cluster.network.advertise_interval", "cluster.network.idle_timeout",
		"broker.dlq",
		"amqp.max_frame_size", "amqp.max_message_size", "amqp.connect_timeout", "amqp.link_credit", "amqp.max_pending_bytes",
		"broker.backoff_multiplier", "broker.max_redelivery_delay",
		"broker.topic_max_pending",
		"log.level", "log.format", "shutdown.timeout",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("keys with errors =\n%v\nwant\n%v\nerror:\n%v", got, want, err)
	}
	if (*Config)(nil).Validate() == nil {
		t.Fatal("nil Config validated")
	}
}

func TestKeyErrorString(t *testing.T) {
	t.Parallel()
	cases := map[string]*KeyError{
		"a.b: bad":                   {Key: "a.b", Msg: "bad"},
		"a.b: bad (from MQGATE_A_B)": {Key: "a.b", Msg: "bad", Source: "MQGATE_A_B"},
		"bad":                        {Msg: "bad"},
	}
	for want, e := range cases {
		if got := e.Error(); got != want {
			t.Errorf("Error() = %q, want %q", got, want)
		}
	}
}
