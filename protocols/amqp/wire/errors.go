package wire

import (
	"fmt"
	"strconv"
)

// DecodeError reports bytes that are not a valid encoding of what was
// expected: a truncated value, a size that overruns its container, an
// unknown format code, a wrong type in a field, a missing mandatory field,
// nesting deeper than MaxDepth. The session answers it with the
// amqp:decode-error condition (Condition). AMQP 1.0 §2.8.15.
//
// Reason is a short lowercase phrase free of raw peer bytes.
type DecodeError struct {
	// Offset is the byte offset, in the input given to the decoding
	// function, at which the problem was found.
	Offset int
	// Reason says what was wrong.
	Reason string
}

// Error returns "amqp decode error at byte N: reason".
func (e *DecodeError) Error() string {
	return "amqp decode error at byte " + strconv.Itoa(e.Offset) + ": " + e.Reason
}

// Condition returns CondDecodeError.
func (e *DecodeError) Condition() Symbol { return CondDecodeError }

// FrameError reports a frame that breaks the framing rules: a size below 8
// or above the negotiated maximum, a data offset outside the frame, a bad
// protocol header. The connection is closed with Condition, which is
// amqp:connection:framing-error. AMQP 1.0 §2.3, §2.8.16.
type FrameError struct {
	Reason string
}

// Error returns "amqp framing error: reason".
func (e *FrameError) Error() string { return "amqp framing error: " + e.Reason }

// Condition returns CondFramingError.
func (e *FrameError) Condition() Symbol { return CondFramingError }

// Error is the AMQP error composite carried by detach, end, close and the
// rejected outcome. It is also a Go error, so a session can return one and
// have the connection layer send it unchanged. AMQP 1.0 §2.8.14.
type Error struct {
	// Condition is mandatory: a symbolic error condition, e.g.
	// CondNotFound.
	Condition Symbol
	// Description is optional human-readable text ("" is absent).
	Description string
	// Info is optional supplementary information (nil is absent).
	Info Map
}

// Error returns "condition: description".
func (e *Error) Error() string {
	if e.Description == "" {
		return string(e.Condition)
	}
	return string(e.Condition) + ": " + e.Description
}

// Errorf returns an *Error with condition cond and a formatted description.
func Errorf(cond Symbol, format string, args ...any) *Error {
	return &Error{Condition: cond, Description: fmt.Sprintf(format, args...)}
}

// Error conditions. AMQP 1.0 §2.8.15 (amqp-error), §2.8.16 (connection-error),
// §2.8.17 (session-error), §2.8.18 (link-error), §4.5.8 (transaction-error).
const (
	// CondInternalError: an internal error occurred; operator intervention
	// may be needed.
	CondInternalError Symbol = "amqp:internal-error"
	// CondNotFound: a peer attempted to work with a remote entity that does
	// not exist.
	CondNotFound Symbol = "amqp:not-found"
	// CondUnauthorizedAccess: a peer attempted to work with a remote entity
	// to which it has no access due to security settings.
	CondUnauthorizedAccess Symbol = "amqp:unauthorized-access"
	// CondDecodeError: data could not be decoded.
	CondDecodeError Symbol = "amqp:decode-error"
	// CondResourceLimitExceeded: a peer exceeded its resource allocation.
	CondResourceLimitExceeded Symbol = "amqp:resource-limit-exceeded"
	// CondNotAllowed: the peer tried to use a frame in a manner that is
	// inconsistent with the semantics defined in the specification.
	CondNotAllowed Symbol = "amqp:not-allowed"
	// CondInvalidField: an invalid field was passed in a frame body.
	CondInvalidField Symbol = "amqp:invalid-field"
	// CondNotImplemented: the peer tried to use functionality that is not
	// implemented in its partner.
	CondNotImplemented Symbol = "amqp:not-implemented"
	// CondResourceLocked: the client attempted to work with a server entity
	// to which it has no access because another client is working with it.
	CondResourceLocked Symbol = "amqp:resource-locked"
	// CondPreconditionFailed: the client made a request that was not
	// allowed because some precondition failed.
	CondPreconditionFailed Symbol = "amqp:precondition-failed"
	// CondResourceDeleted: a server entity the client is working with has
	// been deleted.
	CondResourceDeleted Symbol = "amqp:resource-deleted"
	// CondIllegalState: the peer sent a frame that is not permitted in the
	// current state.
	CondIllegalState Symbol = "amqp:illegal-state"
	// CondFrameSizeTooSmall: the peer cannot send a frame because the
	// smallest encoding of the performative with the currently valid values
	// would be too large to fit within a frame of the agreed maximum size.
	CondFrameSizeTooSmall Symbol = "amqp:frame-size-too-small"

	// CondConnectionForced: an operator intervened to close the connection.
	CondConnectionForced Symbol = "amqp:connection:forced"
	// CondFramingError: a valid frame header cannot be formed from the
	// incoming byte stream.
	CondFramingError Symbol = "amqp:connection:framing-error"
	// CondConnectionRedirect: the container is no longer available on the
	// current connection; the info map says where to go.
	CondConnectionRedirect Symbol = "amqp:connection:redirect"

	// CondWindowViolation: the peer violated incoming window for the
	// session.
	CondWindowViolation Symbol = "amqp:session:window-violation"
	// CondErrantLink: input was received for a link that was detached with
	// an error.
	CondErrantLink Symbol = "amqp:session:errant-link"
	// CondHandleInUse: an attach was received using a handle that is
	// already in use for an attached link.
	CondHandleInUse Symbol = "amqp:session:handle-in-use"
	// CondUnattachedHandle: a frame (other than attach) was received
	// referencing a handle which is not currently in use of an attached link.
	CondUnattachedHandle Symbol = "amqp:session:unattached-handle"

	// CondDetachForced: an operator intervened to detach for some reason.
	CondDetachForced Symbol = "amqp:link:detach-forced"
	// CondTransferLimitExceeded: the peer sent more message transfers than
	// currently allowed on the link.
	CondTransferLimitExceeded Symbol = "amqp:link:transfer-limit-exceeded"
	// CondMessageSizeExceeded: the peer sent a larger message than is
	// supported on the link.
	CondMessageSizeExceeded Symbol = "amqp:link:message-size-exceeded"
	// CondLinkRedirect: the address provided cannot be resolved to a
	// terminus at the current container; the info map says where to go.
	CondLinkRedirect Symbol = "amqp:link:redirect"
	// CondStolen: the link has been attached elsewhere, causing the
	// existing attachment to be forcibly closed.
	CondStolen Symbol = "amqp:link:stolen"

	// CondTransactionUnknownID: the specified txn-id does not exist.
	CondTransactionUnknownID Symbol = "amqp:transaction:unknown-id"
	// CondTransactionRollback: the transaction was rolled back for a reason
	// other than a discharge.
	CondTransactionRollback Symbol = "amqp:transaction:rollback"
	// CondTransactionTimeout: the transaction timed out.
	CondTransactionTimeout Symbol = "amqp:transaction:timeout"
)
