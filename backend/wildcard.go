package backend

import "strings"

// ActiveMQ's destination wildcards, for topic subscriptions: names are
// '.'-separated, '*' matches one element and '>' matches one or more
// trailing elements. A subscription to "prices.*" receives what is
// published to "prices.eu" and "prices.us"; "prices.>" also "prices.eu.fr".

// isWildcard reports whether a topic name is a wildcard pattern.
func isWildcard(name string) bool {
	for _, el := range strings.Split(name, ".") {
		if el == "*" || el == ">" {
			return true
		}
	}
	return false
}

// wildcardMatch reports whether the concrete name matches pattern.
func wildcardMatch(pattern, name string) bool {
	for {
		pel, prest, pmore := strings.Cut(pattern, ".")
		nel, nrest, nmore := strings.Cut(name, ".")
		switch {
		case pel == ">":
			return true // one or more remaining elements: nel is one
		case pel != "*" && pel != nel:
			return false
		case !pmore || !nmore:
			return pmore == nmore
		}
		pattern, name = prest, nrest
	}
}

// virtualTopicOf returns the virtual topic a queue consumes for, by
// ActiveMQ's default naming: the queue Consumer.<name>.VirtualTopic.<x>
// receives every message published to the topic VirtualTopic.<x>, so that
// the consumers of one queue share one subscription.
func virtualTopicOf(queue string) (string, bool) {
	rest, ok := strings.CutPrefix(queue, "Consumer.")
	if !ok {
		return "", false
	}
	_, vt, ok := strings.Cut(rest, ".")
	if !ok || !strings.HasPrefix(vt, "VirtualTopic.") || len(vt) == len("VirtualTopic.") {
		return "", false
	}
	return vt, true
}

// wildcardTopicsLocked returns the wildcard topics matching the concrete
// topic d. b.mu must be held (read or write).
func (b *Broker) wildcardTopicsLocked(d Destination) []*topic {
	if len(b.wildcards) == 0 || isWildcard(d.Name) {
		return nil
	}
	var out []*topic
	for _, t := range b.wildcards {
		if wildcardMatch(t.dest.Name, d.Name) {
			out = append(out, t)
		}
	}
	return out
}
