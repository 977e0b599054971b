// Package e2e holds mqgate's end-to-end tests: real clients (go-stomp,
// Debian's stomp.py, raw TCP) against an embedded gateway on ephemeral
// ports, and the real mqgate binary started as a process.
//
// Run them with `go test -race -count=1 ./e2e/`; -short skips the slow ones.
// Behaviour that ActiveMQ 5.x defines is asserted as ActiveMQ 5.17 gives it
// (each such test says it was checked against ActiveMQ).
package e2e
