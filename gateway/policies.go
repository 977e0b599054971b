package gateway

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mqgate/mqgate/backend"
	"github.com/mqgate/mqgate/config"
)

// stompPrefixes maps STOMP's destination prefixes, which users also write in
// policy patterns, to the broker's schemes.
var stompPrefixes = []struct{ prefix, scheme string }{
	{"/queue/", "queue://"},
	{"/topic/", "topic://"},
	{"/temp-queue/", "temp-queue://"},
	{"/temp-topic/", "temp-topic://"},
}

// policyFields names a backend.Policy field as its broker.policies key.
var policyFields = map[string]string{
	"Destination":         "destination",
	"MaxRedeliveries":     "max_redeliveries",
	"RedeliveryDelay":     "redelivery_delay",
	"BackOffMultiplier":   "backoff_multiplier",
	"MaxRedeliveryDelay":  "max_redelivery_delay",
	"DLQ":                 "dlq",
	"PrioritizedMessages": "prioritized_messages",
}

// brokerPolicies converts broker.policies to the broker core's policies and
// checks them by its rules: every problem is a *config.KeyError naming the
// entry and field ("broker.policies[1].destination").
func brokerPolicies(ps []config.PolicyConfig) ([]backend.Policy, error) {
	out := make([]backend.Policy, len(ps))
	var errs []error
	for i, p := range ps {
		dest := strings.TrimSpace(p.Destination)
		if dest == "" {
			errs = append(errs, &config.KeyError{Key: fmt.Sprintf("broker.policies[%d].destination", i),
				Msg: `missing; name the destinations the entry applies to, such as "queue://orders.>" or "/topic/prices.*"`})
		}
		for _, sp := range stompPrefixes {
			if rest, ok := strings.CutPrefix(dest, sp.prefix); ok {
				dest = sp.scheme + rest
				break
			}
		}
		out[i] = backend.Policy{
			Destination:         dest,
			MaxRedeliveries:     p.MaxRedeliveries,
			RedeliveryDelay:     p.RedeliveryDelay,
			BackOffMultiplier:   p.BackOffMultiplier,
			MaxRedeliveryDelay:  p.MaxRedeliveryDelay,
			DLQ:                 p.DLQ,
			PrioritizedMessages: p.PrioritizedMessages,
		}
	}
	var pes []error
	if err := backend.ValidatePolicies(out); err != nil {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			pes = j.Unwrap()
		} else {
			pes = []error{err}
		}
	}
	for _, e := range pes {
		var pe *backend.PolicyError
		if !errors.As(e, &pe) {
			errs = append(errs, &config.KeyError{Key: "broker.policies", Msg: e.Error()})
			continue
		}
		if pe.Field == "Destination" && strings.TrimSpace(ps[pe.Index].Destination) == "" {
			continue // reported above
		}
		field := policyFields[pe.Field]
		if field == "" {
			field = strings.ToLower(pe.Field)
		}
		errs = append(errs, &config.KeyError{Key: fmt.Sprintf("broker.policies[%d].%s", pe.Index, field), Msg: pe.Problem})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}
