package failover

import (
	"math/rand/v2"
	"slices"
	"time"
)

// backoff is the wait between reconnect passes, as ActiveMQ's
// FailoverTransport.doDelay computes it: it starts at
// InitialReconnectDelay and, with UseExponentialBackOff, is multiplied by
// BackOffMultiplier after each wait, up to MaxReconnectDelay. It belongs
// to the goroutine that reconnects.
type backoff struct {
	cfg  *Config
	next time.Duration
}

func newBackoff(cfg *Config) *backoff { return &backoff{cfg: cfg, next: cfg.InitialReconnectDelay} }

// delay returns the wait before the next pass and grows the one after.
func (b *backoff) delay() time.Duration {
	d := b.next
	if b.cfg.UseExponentialBackOff {
		n := time.Duration(float64(b.next) * b.cfg.BackOffMultiplier)
		if n > b.cfg.MaxReconnectDelay || n < b.next { // capped, or overflowed
			n = b.cfg.MaxReconnectDelay
		}
		b.next = n
	}
	return min(d, b.cfg.MaxReconnectDelay)
}

// connectList orders brokers for one pass, as ActiveMQ's getConnectList:
// shuffled when randomize is on, the broker that just failed (if any)
// last; with PriorityBackup the priority brokers come first.
func connectList(cfg *Config, brokers []Broker, failed string) []Broker {
	l := slices.Clone(brokers)
	var last []Broker
	if failed != "" {
		l = slices.DeleteFunc(l, func(b Broker) bool {
			if b.Addr == failed {
				last = append(last, b)
				return true
			}
			return false
		})
	}
	if cfg.Randomize {
		rand.Shuffle(len(l), func(i, j int) { l[i], l[j] = l[j], l[i] })
	}
	l = append(l, last...)
	if cfg.PriorityBackup {
		// A stable partition keeps the (shuffled) order within each part.
		var pri, rest []Broker
		for _, b := range l {
			if isPriority(cfg, brokers, b) {
				pri = append(pri, b)
			} else {
				rest = append(rest, b)
			}
		}
		l = append(pri, rest...)
	}
	return l
}

// isPriority reports whether b is a priority broker: one of PriorityURIs,
// or with none given the first broker of the URI (ActiveMQ's isPriority).
func isPriority(cfg *Config, brokers []Broker, b Broker) bool {
	if len(cfg.PriorityURIs) > 0 {
		return slices.ContainsFunc(cfg.PriorityURIs, func(p Broker) bool { return p.Addr == b.Addr })
	}
	return len(brokers) > 0 && brokers[0].Addr == b.Addr
}

// attemptLimit is the number of passes the connect loop makes before it
// gives up, -1 for no limit: StartupMaxReconnectAttempts for the first
// connection unless it is -1, else MaxReconnectAttempts (ActiveMQ's
// calculateReconnectAttemptLimit).
func attemptLimit(cfg *Config, startup bool) int {
	if startup && cfg.StartupMaxReconnectAttempts != -1 {
		return cfg.StartupMaxReconnectAttempts
	}
	return cfg.MaxReconnectAttempts
}
