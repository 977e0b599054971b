// Package wire is mqgate's AMQP 1.0 codec: the type system, framing,
// performatives, SASL frames, delivery states, terminus and transaction
// types, and message sections. Bytes in, values out, and values back to
// bytes; it knows nothing of connections, sessions or links and imports no
// logger and no net.
//
// # Types
//
// AMQP values (AMQP 1.0 §1.6) map to Go as: null nil, boolean bool, ubyte
// uint8, ushort uint16, uint uint32, ulong uint64, byte int8, short int16,
// int int32, long int64, float float32, double float64, decimal32/64/128
// Decimal32/64/128 (raw bytes), char Char, timestamp Timestamp
// (milliseconds), uuid UUID, binary []byte, string string, symbol Symbol,
// list []any, map Map (ordered entries), array Array, and a described value
// Described. DecodeValue accepts every encoding of every type (uint0,
// smalluint, list0, str8, sym32, ...); AppendValue writes the smallest.
//
// Composite types (performatives, outcomes, source, target, message header
// and properties) are Go structs with Marshal (append the encoding) and
// Unmarshal. Decoding fills absent fields with the spec's defaults and
// accepts lists shorter or longer than the field count (AMQP 1.0 §1.4);
// encoding omits fields equal to their defaults and drops trailing nulls.
// Descriptors are accepted in numeric or symbolic form and written numeric.
//
// # Hostile input
//
// Every size the input declares is checked against the bytes that remain
// before anything is allocated: a list claiming more elements than it has
// bytes, an array of zero-width elements, a frame larger than the
// negotiated maximum are errors, not allocations. Nesting is bounded by
// MaxDepth. Decoding never panics; errors are *DecodeError (the
// amqp:decode-error condition) and *FrameError (amqp:connection:framing-error).
// Memory held by a decoded value is bounded by a small multiple of its input.
//
// # Ownership
//
// Decoded binary values (binary fields, delivery tags, transfer payloads,
// data sections) alias the input rather than copy it, with their capacity
// clipped so that an append cannot write into the input; strings and
// symbols are copies. FrameReader hands out a new body per frame, so a
// decoded performative may be kept for as long as needed, at the price of
// keeping its frame alive. A FrameReader belongs to the connection's reader
// goroutine; everything else is stateless and safe for concurrent use.
// Marshal functions append to the caller's buffer so that a connection's
// writer goroutine can encode many frames into one buffer and flush once.
package wire
