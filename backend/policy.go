package backend

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Policy is a per-destination policy, as an ActiveMQ <policyEntry>: the
// settings for the destinations its pattern matches. A nil (or empty)
// field keeps the broker's setting from Options.
//
// The broker resolves a destination's policy once, when it creates the
// queue (a named queue, a durable subscription, a topic subscriber's
// queue), and keeps it for the queue's life: changing Options.Policies
// takes a new Broker.
//
// Choosing among matching entries: the most specific entry wins, and only
// that entry applies (fields are not merged across entries: what it leaves
// nil comes from Options). An exact name beats any pattern; among patterns
// the one with more literal elements wins ("orders.eu.*" beats
// "orders.>"), then one without ">" ("orders.*" beats "orders.>"); on a
// tie the entry listed first wins.
type Policy struct {
	// Destination is the pattern, in the form Destination.String gives:
	// "queue://orders.>", "topic://prices.*", "queue://orders", or
	// "temp-queue://>" / "temp-topic://>" for temporary destinations. A
	// topic entry applies to the topic's subscriptions (durable and not).
	// Names are '.'-separated; '*' matches one element and '>' (last
	// only) one or more trailing elements, as wildcard.go does.
	Destination string
	// MaxRedeliveries overrides Options.MaxRedeliveries: a delivery that
	// failed more than this many times goes to the dead-letter queue; -1
	// is unlimited. SubscribeOptions.MaxRedeliveries (STOMP
	// activemq.maximumRedeliveries) still overrides it.
	MaxRedeliveries *int
	// RedeliveryDelay overrides Options.RedeliveryDelay (0 redelivers at
	// once). SubscribeOptions.RedeliveryDelay (STOMP
	// activemq.redeliveryDelay) still overrides it.
	RedeliveryDelay *time.Duration
	// BackOffMultiplier overrides Options.BackOffMultiplier (at least 1;
	// 1 keeps the delay constant).
	BackOffMultiplier *float64
	// MaxRedeliveryDelay overrides Options.MaxRedeliveryDelay (more than 0).
	MaxRedeliveryDelay *time.Duration
	// DLQ names the dead-letter queue of the matching destinations,
	// overriding Options.DLQ and Options.DLQPerDestination. A message
	// rejected or expired in that queue goes to Options.DLQ. "" keeps the
	// broker's choice.
	DLQ string
	// PrioritizedMessages turns prioritized dispatch (message priority
	// 0–9, higher first) on or off for the matching destinations; nil
	// leaves it on, the broker's default (ActiveMQ's prioritizedMessages
	// is off by default). Off, messages go out first-in first-out
	// whatever their priority.
	PrioritizedMessages *bool
}

// PolicyError is one problem ValidatePolicies found: the entry's index in
// the slice, the Policy field at fault (its Go name) and what is wrong.
type PolicyError struct {
	Index   int
	Field   string
	Problem string
}

func (e *PolicyError) Error() string {
	return fmt.Sprintf("policy %d: %s: %s", e.Index, e.Field, e.Problem)
}

// ValidatePolicies checks every entry and returns every problem found,
// joined (errors.Join) as *PolicyError values, or nil. Configuration
// loaders call it; New skips (and logs) the entries it rejects.
func ValidatePolicies(ps []Policy) error {
	var errs []error
	bad := func(i int, field, format string, args ...any) {
		errs = append(errs, &PolicyError{Index: i, Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	for i, p := range ps {
		if _, err := parsePattern(p.Destination); err != nil {
			bad(i, "Destination", "%v", err)
		}
		if p.MaxRedeliveries != nil && *p.MaxRedeliveries < -1 {
			bad(i, "MaxRedeliveries", "%d is not allowed; use -1 for unlimited, or 0 or more", *p.MaxRedeliveries)
		}
		if p.RedeliveryDelay != nil && *p.RedeliveryDelay < 0 {
			bad(i, "RedeliveryDelay", "%s is negative; use 0 to redeliver at once", *p.RedeliveryDelay)
		}
		if p.BackOffMultiplier != nil && !(*p.BackOffMultiplier >= 1) {
			bad(i, "BackOffMultiplier", "%v is less than 1; use 1 for a constant delay", *p.BackOffMultiplier)
		}
		if p.MaxRedeliveryDelay != nil && *p.MaxRedeliveryDelay <= 0 {
			bad(i, "MaxRedeliveryDelay", "%s must be more than 0", *p.MaxRedeliveryDelay)
		}
		if p.DLQ != "" {
			if err := ValidateName(p.DLQ); err != nil {
				bad(i, "DLQ", "%v", err)
			} else if isWildcard(p.DLQ) {
				bad(i, "DLQ", "%q is a wildcard pattern, not a queue name", p.DLQ)
			}
		}
	}
	return errors.Join(errs...)
}

// pattern is a parsed Policy.Destination.
type pattern struct {
	kind Kind
	name string
	// Specificity, compared in this order: an exact name, then the
	// number of literal elements, then no '>'.
	exact    bool
	literals int
	noRest   bool
}

// parsePattern parses a policy's destination pattern.
func parsePattern(s string) (pattern, error) {
	d, err := ParseDestination(s)
	if err != nil {
		return pattern{}, fmt.Errorf("%q: %w (want a pattern such as \"queue://orders.>\")", s, err)
	}
	p := pattern{kind: d.Kind, name: d.Name, noRest: true}
	els := strings.Split(d.Name, ".")
	for i, el := range els {
		switch el {
		case ">":
			if i != len(els)-1 {
				return pattern{}, fmt.Errorf("%q: '>' may only be the last element", s)
			}
			p.noRest = false
		case "*":
		default:
			p.literals++
		}
	}
	p.exact = !isWildcard(d.Name)
	return p, nil
}

// moreSpecific reports whether p beats o when both match.
func (p pattern) moreSpecific(o pattern) bool {
	if p.exact != o.exact {
		return p.exact
	}
	if p.literals != o.literals {
		return p.literals > o.literals
	}
	return p.noRest && !o.noRest
}

// matches reports whether p applies to the destination d.
func (p pattern) matches(d Destination) bool {
	if p.kind != d.Kind {
		return false
	}
	if p.exact {
		return p.name == d.Name
	}
	return wildcardMatch(p.name, d.Name)
}

// compiledPolicy is a valid Policy with its pattern parsed.
type compiledPolicy struct {
	pat pattern
	Policy
}

// queuePolicy is what a queue runs with: its policy entry resolved
// against the broker's Options. Immutable once the queue is made.
type queuePolicy struct {
	maxRedeliveries    int
	redeliveryDelay    time.Duration
	backOffMultiplier  float64
	maxRedeliveryDelay time.Duration
	dlq                string // "" : the broker's DLQ rules
	flat               bool   // prioritized dispatch off
}

// compilePolicies keeps the valid entries of ps, logging the others, and
// returns them with the set of dead-letter queue names they name.
func (b *Broker) compilePolicies(ps []Policy) ([]compiledPolicy, map[string]bool) {
	var out []compiledPolicy
	dlqs := map[string]bool{}
	for i, p := range ps {
		if err := ValidatePolicies([]Policy{p}); err != nil {
			b.log.Error().Int("policy", i).Str("destination", p.Destination).Err(err).Msg("invalid destination policy ignored")
			continue
		}
		pat, _ := parsePattern(p.Destination)
		out = append(out, compiledPolicy{pat: pat, Policy: p})
		if p.DLQ != "" {
			dlqs[p.DLQ] = true
		}
	}
	return out, dlqs
}

// policyEntry returns the entry that applies to d, or nil: the most
// specific match, the first listed on a tie.
func (b *Broker) policyEntry(d Destination) *compiledPolicy {
	var best *compiledPolicy
	for i := range b.policies {
		p := &b.policies[i]
		if p.pat.matches(d) && (best == nil || p.pat.moreSpecific(best.pat)) {
			best = p
		}
	}
	return best
}

// resolvePolicy returns the policy a queue for d runs with. It reads only
// immutable state; no lock is needed.
func (b *Broker) resolvePolicy(d Destination) *queuePolicy {
	o := &b.opts
	qp := &queuePolicy{
		maxRedeliveries:    o.MaxRedeliveries,
		redeliveryDelay:    o.RedeliveryDelay,
		backOffMultiplier:  o.BackOffMultiplier,
		maxRedeliveryDelay: o.MaxRedeliveryDelay,
	}
	p := b.policyEntry(d)
	if p == nil {
		return qp
	}
	if p.MaxRedeliveries != nil {
		qp.maxRedeliveries = *p.MaxRedeliveries
	}
	if p.RedeliveryDelay != nil {
		qp.redeliveryDelay = *p.RedeliveryDelay
	}
	if p.BackOffMultiplier != nil {
		qp.backOffMultiplier = *p.BackOffMultiplier
	}
	if p.MaxRedeliveryDelay != nil {
		qp.maxRedeliveryDelay = *p.MaxRedeliveryDelay
	}
	qp.dlq = p.DLQ
	qp.flat = p.PrioritizedMessages != nil && !*p.PrioritizedMessages
	return qp
}
