package amqp

import (
	"errors"
	"fmt"

	"github.com/mqgate/mqgate/backend"
	"github.com/mqgate/mqgate/backend/selector"
	"github.com/mqgate/mqgate/protocols/amqp/wire"
)

// scope is what a protocol error ends. AMQP 1.0 §2.8.15–§2.8.18: an error
// closes the connection, ends the session or detaches the link.
type scope uint8

const (
	scopeConn scope = iota
	scopeSession
	scopeLink
)

func (s scope) String() string {
	switch s {
	case scopeSession:
		return "session"
	case scopeLink:
		return "link"
	}
	return "connection"
}

// protoError is a failure caused by the peer or by a broker refusal, with
// the condition sent on the wire and what it ends. Handlers return it; the
// reader translates it into close, end or detach.
type protoError struct {
	scope  scope
	handle uint32 // the link's handle, for scopeLink
	err    *wire.Error
}

func (e *protoError) Error() string { return e.scope.String() + " error: " + e.err.Error() }

func connErr(cond wire.Symbol, format string, args ...any) *protoError {
	return &protoError{scope: scopeConn, err: wire.Errorf(cond, format, args...)}
}

func sessionErr(cond wire.Symbol, format string, args ...any) *protoError {
	return &protoError{scope: scopeSession, err: wire.Errorf(cond, format, args...)}
}

func linkErr(handle uint32, cond wire.Symbol, format string, args ...any) *protoError {
	return &protoError{scope: scopeLink, handle: handle, err: wire.Errorf(cond, format, args...)}
}

// brokerCondition maps an error of the broker core to the AMQP condition
// a client can act on.
func brokerCondition(err error) wire.Symbol {
	switch {
	case isStoreFull(err):
		return wire.CondResourceLimitExceeded
	case errors.Is(err, backend.ErrNoDestination):
		return wire.CondNotFound
	case errors.Is(err, backend.ErrNotOwner):
		return wire.CondUnauthorizedAccess
	case errors.Is(err, backend.ErrSubscriptionActive):
		return wire.CondResourceLocked
	case errors.Is(err, backend.ErrBadDestination), errors.Is(err, selector.ErrInvalid):
		return wire.CondInvalidField
	case errors.Is(err, backend.ErrTxDone):
		return wire.CondTransactionUnknownID
	case errors.Is(err, backend.ErrClosed):
		return wire.CondConnectionForced
	}
	return wire.CondInternalError
}

// brokerError returns err as an AMQP error composite.
func brokerError(err error) *wire.Error {
	return &wire.Error{Condition: brokerCondition(err), Description: err.Error()}
}

// isStoreFull reports whether err is the store's "full" error
// (backend/store.ErrFull). The layer rules keep protocols from importing
// backend/store, and the core does not re-export the sentinel yet, so it
// is recognised by its text until backend has an ErrStoreFull.
func isStoreFull(err error) bool { return errors.Is(err, backend.ErrStoreFull) }

// describe formats an error description.
func describe(format string, args ...any) string { return fmt.Sprintf(format, args...) }
