package failover

import (
	"fmt"
	"net"
	"reflect"
	"strconv"
	"strings"
)

// ServerListKey is the name of the STOMP CONNECTED header and of the AMQP
// open property that carry a broker's current member list (the AMQP one as
// Artemis sends it and Qpid JMS reads it).
const ServerListKey = "failover-server-list"

// maxServerList bounds how many brokers one announcement may add.
const maxServerList = 256

// ParseSTOMPServerList parses the value of a STOMP CONNECTED header
// failover-server-list: comma-separated broker URIs, e.g.
// "stomp://10.0.0.1:61613,stomp://10.0.0.2:61613". Members that do not
// parse or do not speak STOMP are skipped (the announcement is advice; a
// bad entry must not break a working connection); their errors are
// returned for logging.
func ParseSTOMPServerList(v string) ([]Broker, []error) {
	var out []Broker
	var errs []error
	for _, m := range strings.Split(v, ",") {
		m = strings.TrimSpace(m)
		if m == "" {
			continue
		}
		if len(out) == maxServerList {
			errs = append(errs, fmt.Errorf("%s: more than %d brokers; the rest are ignored", ServerListKey, maxServerList))
			break
		}
		b, err := parseMember(m)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ServerListKey, err))
			continue
		}
		if b.Protocol != STOMP {
			errs = append(errs, fmt.Errorf("%s: broker %q is not a STOMP broker", ServerListKey, m))
			continue
		}
		b.Login, b.Passcode = "", ""
		out = append(out, b)
	}
	return out, errs
}

// ParseAMQPServerList reads the failover-server-list property of an AMQP
// open frame's properties (as go-amqp's Conn.Properties returns them): a
// list of maps with the keys "network-host" or "hostname", "port" and
// "scheme" (AMQP 1.0 §2.7.1 open properties; the keys of Artemis and Qpid
// JMS's AmqpRedirect). A missing scheme is amqp, a missing port 5672.
// Entries that are not amqp or lack a host are skipped with an error for
// logging. A missing property is (nil, nil).
func ParseAMQPServerList(props map[string]any) ([]Broker, []error) {
	v, ok := props[ServerListKey]
	if !ok || v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, []error{fmt.Errorf("%s: a %T, not a list", ServerListKey, v)}
	}
	var out []Broker
	var errs []error
	for i, e := range list {
		if len(out) == maxServerList {
			errs = append(errs, fmt.Errorf("%s: more than %d brokers; the rest are ignored", ServerListKey, maxServerList))
			break
		}
		m := stringKeys(e)
		if m == nil {
			errs = append(errs, fmt.Errorf("%s[%d]: a %T, not a map", ServerListKey, i, e))
			continue
		}
		host, _ := m["network-host"].(string)
		if host == "" {
			host, _ = m["hostname"].(string)
		}
		if host == "" {
			errs = append(errs, fmt.Errorf("%s[%d]: no network-host or hostname", ServerListKey, i))
			continue
		}
		scheme := "amqp"
		if s, ok := m["scheme"].(string); ok && s != "" {
			scheme = strings.ToLower(s)
		}
		if scheme != "amqp" {
			errs = append(errs, fmt.Errorf("%s[%d]: scheme %q is not supported (amqp only)", ServerListKey, i, scheme))
			continue
		}
		port := DefaultAMQPPort
		if p, ok := m["port"]; ok && p != nil {
			n, ok := portNumber(p)
			if !ok {
				errs = append(errs, fmt.Errorf("%s[%d]: invalid port %v", ServerListKey, i, p))
				continue
			}
			port = strconv.Itoa(n)
		}
		addr, err := hostPort(net.JoinHostPort(host, port), DefaultAMQPPort)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s[%d]: %w", ServerListKey, i, err))
			continue
		}
		out = append(out, Broker{Protocol: AMQP, Addr: addr})
	}
	return out, errs
}

// stringKeys returns e as a map keyed by strings (go-amqp decodes a map
// with symbol or string keys as map[string]any, any other as
// map[any]any), or nil.
func stringKeys(e any) map[string]any {
	switch m := e.(type) {
	case map[string]any:
		return m
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, v := range m {
			if rk := reflect.ValueOf(k); rk.Kind() == reflect.String { // string or a symbol type
				out[rk.String()] = v
			}
		}
		return out
	}
	return nil
}

// portNumber converts an AMQP integer (any width, signed or not) or a
// decimal string to a port.
func portNumber(v any) (int, bool) {
	var n int64
	switch x := v.(type) {
	case int:
		n = int64(x)
	case int8:
		n = int64(x)
	case int16:
		n = int64(x)
	case int32:
		n = int64(x)
	case int64:
		n = x
	case uint8:
		n = int64(x)
	case uint16:
		n = int64(x)
	case uint32:
		n = int64(x)
	case uint64:
		if x > 65535 {
			return 0, false
		}
		n = int64(x)
	case string:
		p, err := strconv.Atoi(x)
		if err != nil {
			return 0, false
		}
		n = int64(p)
	default:
		return 0, false
	}
	return int(n), n >= 1 && n <= 65535
}
