// Package gateway assembles a broker from a config.Config: the store, the
// broker core, the protocol listeners and the admin HTTP endpoint. It is
// also the embedding API: gateway.New, Start and Close run a broker inside
// a Go program or test, on ephemeral ports when the addresses say ":0".
package gateway
