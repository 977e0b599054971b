package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

// TestLoadPolicies reads broker.policies from a YAML file, a TOML file, the
// environment and a flag; fields left out stay nil.
func TestLoadPolicies(t *testing.T) {
	t.Parallel()
	want := []PolicyConfig{
		{Destination: "queue://orders.>", MaxRedeliveries: ptr(2), RedeliveryDelay: ptr(250 * time.Millisecond),
			BackOffMultiplier: ptr(2.0), MaxRedeliveryDelay: ptr(5 * time.Second), DLQ: "DLQ.orders"},
		{Destination: "/topic/prices.*", PrioritizedMessages: ptr(false)},
	}
	yamlFile := writeFile(t, "m.yaml", `
broker:
  policies:
    - destination: queue://orders.>
      max_redeliveries: 2
      redelivery_delay: 250ms
      backoff_multiplier: 2
      max_redelivery_delay: 5s
      dlq: DLQ.orders
    - destination: /topic/prices.*
      prioritized_messages: false
`)
	tomlFile := writeFile(t, "m.toml", `
[[broker.policies]]
destination = "queue://orders.>"
max_redeliveries = 2
redelivery_delay = "250ms"
backoff_multiplier = 2.0
max_redelivery_delay = "5s"
dlq = "DLQ.orders"

[[broker.policies]]
destination = "/topic/prices.*"
prioritized_messages = false
`)
	text := `[{destination: "queue://orders.>", max_redeliveries: 2, redelivery_delay: 250ms, backoff_multiplier: 2,
	  max_redelivery_delay: 5s, dlq: DLQ.orders}, {"destination": "/topic/prices.*", "prioritized_messages": false}]`
	for name, c := range map[string]*Config{
		"yaml": mustLoad(t, yamlFile, nil, noEnv),
		"toml": mustLoad(t, tomlFile, nil, noEnv),
		"env":  mustLoad(t, "", nil, env(map[string]string{"MQGATE_BROKER_POLICIES": text})),
		"flag": mustLoad(t, yamlFile, parseFlags(t, "--broker-policies", text), env(map[string]string{"MQGATE_BROKER_POLICIES": "[]"})),
	} {
		if !reflect.DeepEqual(c.Broker.Policies, want) {
			t.Errorf("%s: policies = %s, want %s", name, fmtPolicies(c.Broker.Policies), fmtPolicies(want))
		}
	}
	// An empty environment value clears the file's list.
	c := mustLoad(t, yamlFile, nil, env(map[string]string{"MQGATE_BROKER_POLICIES": ""}))
	if c.Broker.Policies == nil || len(c.Broker.Policies) != 0 {
		t.Errorf("empty env: policies = %#v, want an empty list", c.Broker.Policies)
	}
}

// TestLoadPoliciesErrors: an unknown field, a bad value and unparsable text
// are reported against the entry, with where the value came from.
func TestLoadPoliciesErrors(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "bad.yaml", `
broker:
  policies:
    - destination: queue://a
      max_redelivery: 3
    - destination: queue://b
      redelivery_delay: soon
`)
	_, err := load(path, nil, noEnv)
	msg := strings.Join(errorLines(err), "\n")
	for _, s := range []string{"broker.policies[0]", "max_redelivery", "broker.policies[1].redelivery_delay", "soon", "file " + path} {
		if !strings.Contains(msg, s) {
			t.Errorf("error lacks %q:\n%s", s, msg)
		}
	}
	_, err = load("", nil, env(map[string]string{"MQGATE_BROKER_POLICIES": "{destination: queue://a"}))
	msg = strings.Join(errorLines(err), "\n")
	for _, s := range []string{"broker.policies", "MQGATE_BROKER_POLICIES", "not a list of policy entries"} {
		if !strings.Contains(msg, s) {
			t.Errorf("error lacks %q:\n%s", s, msg)
		}
	}
}

func fmtPolicies(ps []PolicyConfig) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString("{" + p.Destination)
		v := reflect.ValueOf(p)
		for i := 1; i < v.NumField(); i++ {
			f := v.Field(i)
			if f.Kind() == reflect.Pointer && !f.IsNil() {
				f = f.Elem()
			}
			b.WriteString(" " + v.Type().Field(i).Name + "=")
			if f.Kind() == reflect.Pointer {
				b.WriteString("nil")
			} else {
				b.WriteString(fmt.Sprint(f.Interface()))
			}
		}
		b.WriteString("} ")
	}
	return b.String()
}
