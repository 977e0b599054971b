package config

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestDefaultValidates(t *testing.T) {
	t.Parallel()
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	if !validNodeID(c.Node.ID) {
		t.Errorf("default node.id %q is not a valid node id", c.Node.ID)
	}
}

func TestDefaultIsFresh(t *testing.T) {
	t.Parallel()
	a, b := Default(), Default()
	a.STOMP.Listen = "changed"
	if b.STOMP.Listen == "changed" {
		t.Fatal("Default returned shared state")
	}
}

func TestKeys(t *testing.T) {
	t.Parallel()
	want := []string{
		"node.id", "node.data_dir",
		"stomp.listen", "stomp.max_frame_size", "stomp.max_headers", "stomp.max_header_size",
		"stomp.heartbeat_min", "stomp.connect_timeout", "stomp.prefetch", "stomp.max_pending_bytes",
		"amqp.listen", "amqp.max_frame_size", "amqp.max_message_size", "amqp.idle_timeout", "amqp.connect_timeout",
		"amqp.link_credit", "amqp.max_pending_bytes", "admin.listen",
		"store.type", "store.disk.fsync", "store.disk.fsync_interval", "store.disk.max_size", "store.disk.segment_size",
		"store.redis.url", "store.redis.addrs", "store.redis.master_name", "store.redis.username", "store.redis.password",
		"store.redis.db", "store.redis.tls", "store.redis.group", "store.redis.max_size",
		"ha.mode", "ha.lease_ttl",
		"cluster.discovery", "cluster.peers", "cluster.advertise", "cluster.multicast.group", "cluster.multicast.address",
		"cluster.multicast.interface", "cluster.multicast.ttl", "cluster.multicast.interval", "cluster.multicast.missed_beats",
		"cluster.network_ttl", "cluster.rebalance_clients", "cluster.network.enabled", "cluster.network.included", "cluster.network.excluded",
		"cluster.network.duplex", "cluster.network.prefetch", "cluster.network.decrease_priority", "cluster.network.replay", "cluster.network.replay_delay",
		"cluster.network.duplicate_window", "cluster.network.reconnect_delay", "cluster.network.max_reconnect_delay",
		"cluster.network.advertise_interval",
		"cluster.network.idle_timeout",
		"broker.dlq", "broker.max_redeliveries", "broker.topic_max_pending", "broker.max_groups",
		"broker.redelivery_delay", "broker.backoff_multiplier", "broker.dlq_per_destination", "broker.max_redelivery_delay",
		"broker.policies",
		"log.level", "log.format", "shutdown.timeout",
	}
	var got []string
	for _, k := range keys {
		got = append(got, k.name)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("keys =\n%v\nwant\n%v", got, want)
	}
	for _, k := range keys {
		if help[k.name] == "" {
			t.Errorf("%s has no help sentence", k.name)
		}
	}
	if len(help) != len(keys) {
		t.Errorf("help has %d entries for %d keys", len(help), len(keys))
	}
	if !sections["store.disk"] || !sections["node"] || sections["store.type"] {
		t.Errorf("sections = %v", sections)
	}
}

func TestParseByteSize(t *testing.T) {
	t.Parallel()
	good := []struct {
		in   string
		want ByteSize
	}{
		{"0", 0},
		{"1048576", MiB},
		{"64MiB", 64 * MiB},
		{"10GiB", 10 * GiB},
		{"512KB", 512000},
		{"512kb", 512000},
		{"512 KiB", 512 * KiB},
		{" 1kib ", KiB},
		{"256B", 256},
		{"1.5GiB", 3 * GiB / 2},
		{"1.5KB", 1500},
		{"2TB", 2 * TB},
		{"1PiB", PiB},
		{"9223372036854775807", math.MaxInt64},
	}
	for _, tc := range good {
		got, err := ParseByteSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	bad := map[string]string{
		"":                    "is not a size",
		"abc":                 "is not a size",
		"64M":                 "is not a size",
		"64 MB/s":             "is not a size",
		"-1":                  "is negative",
		"-1KiB":               "is negative",
		"1.":                  "is not a size",
		".5KB":                "is not a size",
		"1.2.3KB":             "is not a size",
		"0.5B":                "is not a whole number of bytes",
		"1e3":                 "is not a size",
		"9223372036854775808": "is too large",
		"8192PiB":             "is too large",
	}
	for in, want := range bad {
		if _, err := ParseByteSize(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseByteSize(%q) error = %v; want one containing %q", in, err, want)
		}
	}
}

func TestByteSizeString(t *testing.T) {
	t.Parallel()
	cases := map[ByteSize]string{
		0:                 "0",
		1:                 "1B",
		1500:              "1500B",
		1000:              "1KB",
		512000:            "500KiB",
		KiB:               "1KiB",
		64 * MiB:          "64MiB",
		10 * GiB:          "10GiB",
		3 * MB:            "3MB",
		-5:                "-5B",
		math.MaxInt64:     "9223372036854775807B",
		1536 * MiB:        "1536MiB",
		4 * TiB:           "4TiB",
		ByteSize(10 * PB): "10PB",
	}
	for b, want := range cases {
		if got := b.String(); got != want {
			t.Errorf("ByteSize(%d).String() = %q, want %q", int64(b), got, want)
		}
		if b < 0 {
			continue
		}
		back, err := ParseByteSize(b.String())
		if err != nil || back != b {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", b.String(), back, err, int64(b))
		}
	}
}

func TestByteSizeValue(t *testing.T) {
	t.Parallel()
	var b ByteSize
	var _ pflag.Value = &b
	if err := b.Set("2MiB"); err != nil || b != 2*MiB {
		t.Fatalf("Set(2MiB) = %v, b = %v", err, b)
	}
	if err := b.Set("nope"); err == nil || b != 2*MiB {
		t.Fatalf("Set(nope) = %v, b = %v; want an error and b unchanged", err, b)
	}
	if err := b.UnmarshalText([]byte("3KB")); err != nil || b != 3*KB {
		t.Fatalf("UnmarshalText(3KB) = %v, b = %v", err, b)
	}
	if txt, _ := b.MarshalText(); string(txt) != "3KB" {
		t.Fatalf("MarshalText = %q", txt)
	}
	if b.Type() != "size" {
		t.Fatalf("Type = %q", b.Type())
	}
}

func TestDecodeHook(t *testing.T) {
	t.Parallel()
	good := []struct {
		to   any
		in   any
		want any
	}{
		{time.Duration(0), "500ms", 500 * time.Millisecond},
		{time.Duration(0), 0, time.Duration(0)},
		{time.Duration(0), time.Second, time.Second},
		{ByteSize(0), "64MiB", 64 * MiB},
		{ByteSize(0), 1048576, MiB},
		{ByteSize(0), int64(1024), KiB},
		{ByteSize(0), float64(2048), 2 * KiB},
		{0, "42", 42},
		{0, " -1 ", -1},
		{0, int64(7), 7},
		{0, float64(100000), 100000},
		{"", "x", "x"},
		{"", 42, "42"},
		{"", true, "true"},
	}
	for _, tc := range good {
		got, err := decodeHook(nil, reflectType(tc.to), tc.in)
		if err != nil || got != tc.want {
			t.Errorf("decodeHook(%T ← %#v) = %#v, %v; want %#v", tc.to, tc.in, got, err, tc.want)
		}
	}
	bad := []struct {
		to   any
		in   any
		want string
	}{
		{time.Duration(0), "10", `"10" is not a duration`},
		{time.Duration(0), 10, `10 has no unit; write a duration such as "10s" or "10ms"`},
		{time.Duration(0), 1.5, "1.5 is not a whole number"},
		{ByteSize(0), -1, "-1 is negative"},
		{ByteSize(0), 1.5, "1.5 is not a whole number"},
		{ByteSize(0), "64M", `"64M" is not a size`},
		{0, "abc", `"abc" is not a whole number`},
		{0, 1.5, "1.5 is not a whole number"},
		{0, true, "true (bool) is not a valid value here"},
		{0, uint64(math.MaxUint64), "is too large"},
		{"", map[string]any{"a": 1}, "is a section"},
		{"", []any{"a"}, "is a list"},
	}
	for _, tc := range bad {
		_, err := decodeHook(nil, reflectType(tc.to), tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("decodeHook(%T ← %#v) error = %v; want one containing %q", tc.to, tc.in, err, tc.want)
		}
	}
}
