package failover

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/Azure/go-amqp"
	"github.com/go-stomp/stomp/v3/frame"
)

// HeaderRedirect is mqgate's STOMP redirect: an ERROR frame carrying it
// asks the client to reconnect to the STOMP broker it names
// (mqgate-redirect:stomp://host:port), as an AMQP close with
// amqp:connection:redirect does.
const HeaderRedirect = "mqgate-redirect"

// maxRedirects bounds how many redirects in a row one connection attempt
// follows, so that brokers sending a client to each other cannot hold it
// forever.
const maxRedirects = 8

// ErrRedirect is matched (errors.Is) by a *RedirectError.
var ErrRedirect = errors.New("failover: redirected by the broker")

// RedirectError is a broker's request that the client move to another
// broker (ActiveMQ's rebalanceClusterClients): an AMQP close with the
// amqp:connection:redirect condition (AMQP 1.0 §2.8.16) or a STOMP ERROR
// with the mqgate-redirect header. A failover Conn follows it at once,
// without counting a failure and without the reconnect delay; it is the
// Err of the Event that reports the move.
type RedirectError struct {
	// From is the broker that redirected, as stomp://host:port.
	From string
	// To is where it sent the client.
	To Broker
	// Message is the broker's description or STOMP message header.
	Message string
}

func (e *RedirectError) Error() string {
	s := "broker " + e.From + " redirected the client to " + e.To.String()
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Is makes errors.Is(err, ErrRedirect) hold.
func (e *RedirectError) Is(target error) bool { return target == ErrRedirect }

// amqpRedirect returns the redirect err carries (a connection closed by
// the broker with amqp:connection:redirect and an info map naming
// network-host or hostname, and port; AMQP 1.0 §2.8.16), or nil. A
// redirect whose info lacks a host or has a bad port is not one: the
// connection is then simply lost.
func amqpRedirect(from Broker, err error) *RedirectError {
	var ce *amqp.ConnError
	if !errors.As(err, &ce) || ce.RemoteErr == nil || ce.RemoteErr.Condition != amqp.ErrCondConnectionRedirect {
		return nil
	}
	info := ce.RemoteErr.Info
	host, _ := info["network-host"].(string)
	if host == "" {
		host, _ = info["hostname"].(string)
	}
	if host == "" {
		return nil
	}
	port := DefaultAMQPPort
	if p, ok := info["port"]; ok && p != nil {
		n, ok := portNumber(p)
		if !ok {
			return nil
		}
		port = strconv.Itoa(n)
	}
	addr, aerr := hostPort(net.JoinHostPort(host, port), DefaultAMQPPort)
	if aerr != nil {
		return nil
	}
	return &RedirectError{From: from.String(), To: Broker{Protocol: AMQP, Addr: addr}, Message: ce.RemoteErr.Description}
}

// stompRedirect returns the redirect an ERROR frame carries in its
// mqgate-redirect header, or nil (no header), or an error for a header
// that does not name a STOMP broker.
func stompRedirect(from Broker, f *frame.Frame) (*RedirectError, error) {
	v, ok := f.Header.Contains(HeaderRedirect)
	if !ok {
		return nil, nil
	}
	b, err := parseMember(v)
	if err != nil {
		return nil, fmt.Errorf("%s header: %w", HeaderRedirect, err)
	}
	if b.Protocol != STOMP {
		return nil, fmt.Errorf("%s header %q: not a STOMP broker", HeaderRedirect, v)
	}
	b.Login, b.Passcode = "", ""
	return &RedirectError{From: from.String(), To: b, Message: f.Header.Get(frame.Message)}, nil
}
