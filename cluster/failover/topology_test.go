package failover

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseSTOMPServerList(t *testing.T) {
	tests := []struct {
		in      string
		want    []Broker
		errs    int
		errPart string
	}{
		{"stomp://10.0.0.1:61613,stomp://10.0.0.2:61613", []Broker{stompB("10.0.0.1:61613"), stompB("10.0.0.2:61613")}, 0, ""},
		{" tcp://a , ,b:7,", []Broker{stompB("a:61613"), stompB("b:7")}, 0, ""},
		{"stomp://u:p@a:1", []Broker{stompB("a:1")}, 0, ""}, // credentials are not taken from a broker
		{"stomp://a:1,amqp://b:5672", []Broker{stompB("a:1")}, 1, "not a STOMP broker"},
		{"ssl://a:1,stomp://b:2", []Broker{stompB("b:2")}, 1, `"ssl"`},
		{"stomp://a:x", nil, 1, "invalid port"},
		{"", nil, 0, ""},
	}
	for _, tc := range tests {
		got, errs := ParseSTOMPServerList(tc.in)
		if !reflect.DeepEqual(got, tc.want) || len(errs) != tc.errs {
			t.Errorf("ParseSTOMPServerList(%q) = %v, %v; want %v and %d errors", tc.in, got, errs, tc.want, tc.errs)
			continue
		}
		if tc.errPart != "" && !strings.Contains(errs[0].Error(), tc.errPart) {
			t.Errorf("ParseSTOMPServerList(%q) error %q, want %q", tc.in, errs[0], tc.errPart)
		}
	}
	long := strings.Repeat("stomp://a:1,", maxServerList+5)
	if got, errs := ParseSTOMPServerList(long); len(got) != maxServerList || len(errs) != 1 {
		t.Fatalf("an over-long list: %d brokers, errors %v", len(got), errs)
	}
}

// symbol stands for go-amqp's symbol type (a named string type) in a map
// that also has other key types.
type symbol string

func TestParseAMQPServerList(t *testing.T) {
	tests := []struct {
		name    string
		props   map[string]any
		want    []Broker
		errs    int
		errPart string
	}{
		{"absent", map[string]any{"queue-prefix": "queue://"}, nil, 0, ""},
		{"nil props", nil, nil, 0, ""},
		{"artemis", map[string]any{ServerListKey: []any{
			map[string]any{"network-host": "10.0.0.1", "hostname": "vhost", "port": int32(5672), "scheme": "amqp"},
			map[string]any{"hostname": "b", "port": uint16(5673)},
			map[string]any{"hostname": "c", "port": "5674", "scheme": "AMQP"},
			map[string]any{"hostname": "d"},
			map[any]any{symbol("hostname"): "e", int64(7): "ignored", "port": int64(1)},
		}}, []Broker{amqpB("10.0.0.1:5672"), amqpB("b:5673"), amqpB("c:5674"), amqpB("d:5672"), amqpB("e:1")}, 0, ""},
		{"ipv6", map[string]any{ServerListKey: []any{map[string]any{"hostname": "::1", "port": 5672}}},
			[]Broker{amqpB("[::1]:5672")}, 0, ""},
		{"not a list", map[string]any{ServerListKey: "amqp://a:1"}, nil, 1, "not a list"},
		{"not a map", map[string]any{ServerListKey: []any{"amqp://a:1"}}, nil, 1, "not a map"},
		{"no host", map[string]any{ServerListKey: []any{map[string]any{"port": 1}}}, nil, 1, "no network-host or hostname"},
		{"tls", map[string]any{ServerListKey: []any{map[string]any{"hostname": "a", "scheme": "amqps"}}}, nil, 1, `"amqps"`},
		{"bad port", map[string]any{ServerListKey: []any{
			map[string]any{"hostname": "a", "port": int64(70000)},
			map[string]any{"hostname": "a", "port": "x"},
			map[string]any{"hostname": "a", "port": 1.5},
			map[string]any{"hostname": "a", "port": uint64(1 << 40)},
			map[string]any{"hostname": "ok", "port": int8(9)},
		}}, []Broker{amqpB("ok:9")}, 4, "invalid port"},
		{"bad host", map[string]any{ServerListKey: []any{map[string]any{"hostname": "a/b"}}}, nil, 1, "invalid host"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, errs := ParseAMQPServerList(tc.props)
			if !reflect.DeepEqual(got, tc.want) || len(errs) != tc.errs {
				t.Fatalf("got %v, errors %v; want %v and %d errors", got, errs, tc.want, tc.errs)
			}
			if tc.errPart != "" && !strings.Contains(errs[0].Error(), tc.errPart) {
				t.Fatalf("error %q, want %q", errs[0], tc.errPart)
			}
		})
	}
}

// TestAddBrokers: announced brokers of the Conn's protocol join the list
// once; others are ignored.
func TestAddBrokers(t *testing.T) {
	u, err := ParseURI("failover:(tcp://a:1)")
	if err != nil {
		t.Fatal(err)
	}
	c := &Conn{uri: u, brokers: u.Brokers}
	stomp, _ := ParseSTOMPServerList("stomp://a:1,stomp://b:2,stomp://b:2")
	c.mu.Lock()
	c.addBrokers(stomp)
	c.addBrokers([]Broker{amqpB("c:3")})
	c.mu.Unlock()
	if got := c.Brokers(); !reflect.DeepEqual(got, []string{"stomp://a:1", "stomp://b:2"}) {
		t.Fatalf("brokers %v", got)
	}
}
