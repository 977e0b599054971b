package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// KeyError is one problem with one configuration key. Load and Validate
// return every KeyError they find joined with errors.Join; walk them with
// errors.As (the first) or the Unwrap() []error method (all).
type KeyError struct {
	// Key is the dotted key, e.g. "store.type"; "" if the problem has none.
	Key string
	// Msg says what is wrong and what is allowed, e.g.
	// `"foo" is not one of memory, disk, redis`.
	Msg string
	// Source says where the bad value came from: "file mqgate.yaml",
	// "MQGATE_STORE_TYPE" or "--store-type"; "" for a default or a value
	// set in Go. Only Load fills it.
	Source string
}

// Error returns "key: msg (from source)".
func (e *KeyError) Error() string {
	s := e.Msg
	if e.Key != "" {
		s = e.Key + ": " + s
	}
	if e.Source != "" {
		s += " (from " + e.Source + ")"
	}
	return s
}

// Validate reports every problem in c at once: nil, or an error joining one
// *KeyError for each bad key, naming the key, the bad value and what is
// allowed, in the order of the keys in Config.
func (c *Config) Validate() error {
	if c == nil {
		return errors.New("config: nil Config")
	}
	var v validator

	if !validNodeID(c.Node.ID) {
		v.add("node.id", "%q is not a node id; use letters, digits, '-', '_' and '.' only, at least one", c.Node.ID)
	}
	if c.Node.DataDir == "" {
		v.add("node.data_dir", `"" is not a directory; name one, such as "data"`)
	}

	v.listen("stomp.listen", c.STOMP.Listen)
	v.sizeRange("stomp.max_frame_size", c.STOMP.MaxFrameSize, KiB, 2*GiB)
	v.intRange("stomp.max_headers", c.STOMP.MaxHeaders, 1, 100000)
	v.sizeRange("stomp.max_header_size", c.STOMP.MaxHeaderSize, 256*B, 16*MiB)
	if c.STOMP.HeartbeatMin < 0 {
		v.add("stomp.heartbeat_min", "%s is negative; use 0 to accept any heart-beat, or a positive duration", c.STOMP.HeartbeatMin)
	}
	v.positive("stomp.connect_timeout", c.STOMP.ConnectTimeout)
	v.intRange("stomp.prefetch", c.STOMP.Prefetch, 1, 1000000)
	if c.STOMP.MaxPendingBytes < 64*KiB {
		v.add("stomp.max_pending_bytes", "%s is too small; use at least 64KiB", c.STOMP.MaxPendingBytes)
	}

	v.listen("amqp.listen", c.AMQP.Listen)
	v.listen("admin.listen", c.Admin.Listen)
	v.distinctPorts(
		listener{"stomp.listen", c.STOMP.Listen},
		listener{"amqp.listen", c.AMQP.Listen},
		listener{"admin.listen", c.Admin.Listen},
	)

	v.oneOf("store.type", c.Store.Type, StoreMemory, StoreDisk, StoreRedis)
	v.oneOf("store.disk.fsync", c.Store.Disk.Fsync, FsyncAlways, FsyncInterval, FsyncNever)
	v.positive("store.disk.fsync_interval", c.Store.Disk.FsyncInterval)
	if c.Store.Disk.MaxSize < 0 {
		v.add("store.disk.max_size", "%s is negative; use 0 for no limit, or a size such as 10GiB", c.Store.Disk.MaxSize)
	}
	v.sizeRange("store.disk.segment_size", c.Store.Disk.SegmentSize, MiB, GiB)
	if c.Store.Type == StoreRedis {
		c.validateRedis(&v)
	}

	v.oneOf("ha.mode", c.HA.Mode, HAAuto, HAStandalone, HASharedStore)
	switch {
	case c.HA.Mode == HAStandalone && c.Store.Type == StoreRedis:
		v.add("ha.mode", "%q cannot be used with store.type redis: brokers sharing a Redis group must elect a master; use auto or shared-store", c.HA.Mode)
	case c.HA.Mode == HASharedStore && c.Store.Type == StoreMemory:
		v.add("ha.mode", "%q needs a shared store; store.type memory shares nothing, use disk (on a shared file system) or redis", c.HA.Mode)
	}
	if c.HA.LeaseTTL < 500*time.Millisecond || c.HA.LeaseTTL > 10*time.Minute {
		v.add("ha.lease_ttl", "%s is out of range; use 500ms to 10m", c.HA.LeaseTTL)
	}
	c.validateCluster(&v)

	if c.Broker.DLQ == "" {
		v.add("broker.dlq", `"" is not a queue name; name one, such as "ActiveMQ.DLQ"`)
	}
	if c.Broker.MaxRedeliveries < -1 {
		v.add("broker.max_redeliveries", "%d is not allowed; use -1 for unlimited, or 0 or more", c.Broker.MaxRedeliveries)
	}
	v.sizeRange("amqp.max_frame_size", c.AMQP.MaxFrameSize, 512, 16*MiB)
	v.sizeRange("amqp.max_message_size", c.AMQP.MaxMessageSize, KiB, 2*GiB)
	if c.AMQP.IdleTimeout < 0 {
		v.add("amqp.idle_timeout", "%s is negative; use 0 to disable it", c.AMQP.IdleTimeout)
	}
	if c.AMQP.ConnectTimeout <= 0 {
		v.add("amqp.connect_timeout", "%s must be more than 0", c.AMQP.ConnectTimeout)
	}
	if c.AMQP.LinkCredit < 1 || c.AMQP.LinkCredit > 1000000 {
		v.add("amqp.link_credit", "%d is out of range; use 1 to 1000000", c.AMQP.LinkCredit)
	}
	if c.AMQP.MaxPendingBytes < 64*KiB {
		v.add("amqp.max_pending_bytes", "%s is too small; use at least 64KiB", c.AMQP.MaxPendingBytes)
	}
	if c.Broker.RedeliveryDelay < 0 {
		v.add("broker.redelivery_delay", "%s is negative; use 0 to redeliver at once", c.Broker.RedeliveryDelay)
	}
	if c.Broker.BackOffMultiplier < 1 {
		v.add("broker.backoff_multiplier", "%v is less than 1; use 1 for a constant delay, 2 to double it", c.Broker.BackOffMultiplier)
	}
	if c.Broker.MaxRedeliveryDelay <= 0 {
		v.add("broker.max_redelivery_delay", "%s must be more than 0", c.Broker.MaxRedeliveryDelay)
	}
	if c.Broker.MaxGroups < 0 {
		v.add("broker.max_groups", "%d is negative; use 0 for no limit", c.Broker.MaxGroups)
	}
	if c.Broker.TopicMaxPending < 1 {
		v.add("broker.topic_max_pending", "%d is too small; use at least 1", c.Broker.TopicMaxPending)
	}

	v.oneOf("log.level", c.Log.Level, LevelTrace, LevelDebug, LevelInfo, LevelWarn, LevelError)
	v.oneOf("log.format", c.Log.Format, FormatAuto, FormatConsole, FormatJSON)

	v.positive("shutdown.timeout", c.Shutdown.Timeout)

	return errors.Join(v.errs...)
}

// validateRedis checks the store.redis keys; they matter only when
// store.type is redis.
func (c *Config) validateRedis(v *validator) {
	r := c.Store.Redis
	if r.Addrs == "" {
		if u, err := url.Parse(r.URL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			v.add("store.redis.url", "%q is not a Redis URL; write redis://host:port/db or rediss://host:port/db, or set store.redis.addrs", r.URL)
		}
	} else {
		for _, a := range RedisAddrs(r.Addrs) {
			if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
				v.add("store.redis.addrs", "%q is not host:port; separate several with commas", a)
			}
		}
	}
	if r.DB < 0 {
		v.add("store.redis.db", "%d is negative; use 0 or more", r.DB)
	}
	if !validNodeID(r.Group) {
		v.add("store.redis.group", "%q is not a group name; use letters, digits, '-', '_' and '.' only, at least one", r.Group)
	}
	if r.MaxSize < 0 {
		v.add("store.redis.max_size", "%s is negative; use 0 for no limit, or a size such as 1GiB", r.MaxSize)
	}
}

// validateCluster checks the cluster keys.
func (c *Config) validateCluster(v *validator) {
	cl := c.Cluster
	v.oneOf("cluster.discovery", cl.Discovery, DiscoveryNone, DiscoveryStatic, DiscoveryMulticast)
	peers := SplitList(cl.Peers)
	for _, p := range peers {
		if !peerURI(p) {
			v.add("cluster.peers", "%q is not a peer URI; write amqp://host:port, several separated by commas", p)
			continue
		}
		validatePeerOptions(v, p)
	}
	if cl.Discovery == DiscoveryStatic && len(peers) == 0 {
		v.add("cluster.peers", `"" lists no peer; cluster.discovery static needs at least one amqp://host:port`)
	}
	if cl.Advertise != "" && !peerURI(cl.Advertise) {
		v.add("cluster.advertise", "%q is not a URI; write amqp://host:port, the address peers reach this broker at", cl.Advertise)
	}
	if cl.Discovery == DiscoveryMulticast && cl.Advertise == "" && c.AMQP.Listen == "" {
		v.add("cluster.advertise", `"" and amqp.listen is disabled: multicast discovery has nothing to announce`)
	}
	m := cl.Multicast
	if !validNodeID(m.Group) {
		v.add("cluster.multicast.group", "%q is not a group name; use letters, digits, '-', '_' and '.' only", m.Group)
	}
	if host, _, err := net.SplitHostPort(m.Address); err != nil || !net.ParseIP(host).IsMulticast() {
		v.add("cluster.multicast.address", "%q is not a multicast address; write host:port with a 224.0.0.0/4 host, such as 239.255.2.3:6155", m.Address)
	}
	v.intRange("cluster.multicast.ttl", m.TTL, 1, 255)
	v.positive("cluster.multicast.interval", m.Interval)
	v.intRange("cluster.multicast.missed_beats", m.MissedBeats, 1, 1000)
	v.intRange("cluster.network_ttl", cl.NetworkTTL, 1, 64)
	nw := cl.Network
	for _, key := range []string{"cluster.network.included", "cluster.network.excluded"} {
		val := nw.Included
		if key == "cluster.network.excluded" {
			val = nw.Excluded
		}
		for _, p := range SplitList(val) {
			if !destinationPattern(p) {
				v.add(key, "%q is not a destination pattern; write queue://name, topic://name or a plain name, with * and > as wildcards", p)
			}
		}
	}
	v.intRange("cluster.network.prefetch", nw.Prefetch, 1, 1000000)
	if nw.ReplayDelay < 0 {
		v.add("cluster.network.replay_delay", "%s is negative; use 0 to replay at once", nw.ReplayDelay)
	}
	v.positive("cluster.network.duplicate_window", nw.DuplicateWindow)
	v.positive("cluster.network.reconnect_delay", nw.ReconnectDelay)
	if nw.MaxReconnectDelay <= 0 || nw.MaxReconnectDelay < nw.ReconnectDelay {
		v.add("cluster.network.max_reconnect_delay", "%s is not allowed; use a duration of at least cluster.network.reconnect_delay (%s)", nw.MaxReconnectDelay, nw.ReconnectDelay)
	}
	v.positive("cluster.network.advertise_interval", nw.AdvertiseInterval)
	if nw.IdleTimeout < time.Second {
		v.add("cluster.network.idle_timeout", "is %s; it must be 1s or more, so that the peer has time to send its empty frames", nw.IdleTimeout)
	}
}

// validatePeerOptions checks the query options of a peer URI of
// cluster.peers, its bridge's own cluster.network settings: duplex
// (true or false, once), included and excluded (destination patterns,
// repeated for more; empty for none).
func validatePeerOptions(v *validator, uri string) {
	u, _ := url.Parse(uri) // peerURI parsed it
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		v.add("cluster.peers", "%q has a bad query (%v); write amqp://host:port?duplex=true&included=queue://orders.>", uri, err)
		return
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		vals := q[k]
		switch k {
		case "duplex":
			if len(vals) != 1 {
				v.add("cluster.peers", "%q gives duplex %d times; give it once, duplex=true or duplex=false", uri, len(vals))
			} else if _, err := strconv.ParseBool(vals[0]); err != nil {
				v.add("cluster.peers", "%q: duplex=%q is not a boolean; write duplex=true or duplex=false", uri, vals[0])
			}
		case "included", "excluded":
			for _, p := range vals {
				if p != "" && !destinationPattern(p) {
					v.add("cluster.peers", "%q: %s=%q is not a destination pattern; write queue://name, topic://name or a plain name, with * and > as wildcards, one per %s=", uri, k, p, k)
				}
			}
		default:
			v.add("cluster.peers", "%q: unknown option %q; a peer URI takes duplex, included and excluded", uri, k)
		}
	}
}

// destinationPattern reports whether p is a destination pattern of
// cluster.network.included/excluded: an optional queue://, topic://,
// /queue/ or /topic/ prefix and a name without control characters.
func destinationPattern(p string) bool {
	for _, pre := range []string{"queue://", "topic://", "/queue/", "/topic/"} {
		if rest, ok := strings.CutPrefix(p, pre); ok {
			p = rest
			break
		}
	}
	if p == "" {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x20 || p[i] == 0x7f {
			return false
		}
	}
	return true
}

// peerURI reports whether s is scheme://host:port.
func peerURI(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme != "" && u.Host != "" && u.Port() != ""
}

// SplitList splits a list written with commas or spaces between its items
// (store.redis.addrs, cluster.peers).
func SplitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
}

// RedisAddrs splits store.redis.addrs at commas and spaces.
func RedisAddrs(s string) []string { return SplitList(s) }

// SharedStore reports whether this broker is one of a master/slave group
// sharing its store (ha.mode shared-store, or auto with a Redis store).
func (c *Config) SharedStore() bool {
	return c.HA.Mode == HASharedStore || c.HA.Mode == HAAuto && c.Store.Type == StoreRedis
}

// validator collects the problems Validate finds.
type validator struct {
	errs []error
}

// add records a problem with key; format and args describe the value and
// what is allowed.
func (v *validator) add(key, format string, args ...any) {
	v.errs = append(v.errs, &KeyError{Key: key, Msg: fmt.Sprintf(format, args...)})
}

// oneOf checks that val is one of allowed.
func (v *validator) oneOf(key, val string, allowed ...string) {
	if !slices.Contains(allowed, val) {
		v.add(key, "%q is not one of %s", val, strings.Join(allowed, ", "))
	}
}

// intRange checks that lo <= val <= hi.
func (v *validator) intRange(key string, val, lo, hi int) {
	if val < lo || val > hi {
		v.add(key, "%d is out of range; use %d to %d", val, lo, hi)
	}
}

// sizeRange checks that lo <= val <= hi.
func (v *validator) sizeRange(key string, val, lo, hi ByteSize) {
	if val < lo || val > hi {
		v.add(key, "%s is out of range; use %s to %s", val, lo, hi)
	}
}

// positive checks that a duration is more than zero.
func (v *validator) positive(key string, d time.Duration) {
	if d <= 0 {
		v.add(key, "%s is not allowed; use a duration more than 0, such as 10s", d)
	}
}

// listen checks that addr is "" or host:port with a numeric port.
func (v *validator) listen(key, addr string) {
	if addr == "" {
		return
	}
	if _, _, err := splitListen(addr); err != nil {
		v.add(key, `%q is not a listen address: %v; write host:port, such as ":61613" or "127.0.0.1:61613", or "" to disable`, addr, err)
	}
}

// listener is a listen address and its key.
type listener struct {
	key, addr string
}

// distinctPorts reports a listener whose port another, earlier listener
// already binds on an overlapping host. Port 0 (a free port) never clashes.
func (v *validator) distinctPorts(ls ...listener) {
	for i, a := range ls {
		ha, pa, err := splitListen(a.addr)
		if a.addr == "" || err != nil || pa == 0 {
			continue
		}
		for _, b := range ls[:i] {
			hb, pb, err := splitListen(b.addr)
			if b.addr == "" || err != nil || pb != pa {
				continue
			}
			if ha == hb || wildcardHost(ha) || wildcardHost(hb) {
				v.add(a.key, "%q uses port %d, as %s (%q) does; give each listener its own port", a.addr, pa, b.key, b.addr)
				break
			}
		}
	}
}

// splitListen splits a listen address into host and a numeric port.
func splitListen(addr string) (host string, port int, err error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return "", 0, errors.New(ae.Err)
		}
		return "", 0, err
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("port %q is not a number from 0 to 65535", p)
	}
	return host, port, nil
}

// wildcardHost reports whether host binds every interface.
func wildcardHost(host string) bool {
	return host == "" || host == "0.0.0.0" || host == "::"
}
