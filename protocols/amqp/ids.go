package amqp

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/mqgate/mqgate/protocols/amqp/wire"
)

// Message and correlation IDs. The broker keeps IDs as strings; AMQP's may
// be a string, a ulong, a uuid or a binary (AMQP 1.0 §3.2.10–§3.2.14). They
// map as Qpid JMS maps them to JMSMessageID (AMQP JMS Mapping §3.2.1.1),
// so a JMS client, a STOMP client and mqgate agree on the string, and the
// string maps back to the same typed AMQP value:
//
//	uuid u               ↔ "ID:AMQP_UUID:" + u (8-4-4-4-12 hex)
//	ulong n              ↔ "ID:AMQP_ULONG:" + n
//	binary b             ↔ "ID:AMQP_BINARY:" + upper-case hex of b
//	string "ID:x"        ↔ "ID:x" (passes through)
//	string "x" (no ID:)  ↔ "ID:AMQP_NO_PREFIX:x" (message-id);
//	                       "x" (correlation-id: application values pass)
//	string "ID:AMQP_…"   ↔ "ID:AMQP_STRING:" + the string (escaped)
const (
	idPrefix       = "ID:"
	idUUID         = "AMQP_UUID:"
	idULong        = "AMQP_ULONG:"
	idBinary       = "AMQP_BINARY:"
	idString       = "AMQP_STRING:"
	idNoPrefix     = "AMQP_NO_PREFIX:"
	idTypePrefixes = "AMQP_"
)

// hasTypePrefix reports whether s (after "ID:") starts with one of the
// type prefixes above.
func hasTypePrefix(s string) bool {
	if !strings.HasPrefix(s, idTypePrefixes) {
		return false
	}
	for _, p := range [...]string{idUUID, idULong, idBinary, idString, idNoPrefix} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// idToString maps an AMQP message-id or correlation-id to the broker's
// string.
func idToString(v any, correlation bool) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		if strings.HasPrefix(v, idPrefix) {
			if hasTypePrefix(v[len(idPrefix):]) {
				return idPrefix + idString + v
			}
			return v
		}
		if correlation || v == "" {
			return v
		}
		return idPrefix + idNoPrefix + v
	case wire.UUID:
		return idPrefix + idUUID + v.String()
	case uint64:
		return idPrefix + idULong + strconv.FormatUint(v, 10)
	case []byte:
		return idPrefix + idBinary + strings.ToUpper(hex.EncodeToString(v))
	case wire.Symbol:
		return idToString(string(v), correlation)
	}
	return fmt.Sprint(v)
}

// idFromString maps the broker's string back to the AMQP value.
func idFromString(s string) any {
	if s == "" {
		return nil
	}
	if !strings.HasPrefix(s, idPrefix) {
		return s
	}
	rest := s[len(idPrefix):]
	switch {
	case strings.HasPrefix(rest, idUUID):
		if u, ok := parseUUID(rest[len(idUUID):]); ok {
			return u
		}
	case strings.HasPrefix(rest, idULong):
		if n, err := strconv.ParseUint(rest[len(idULong):], 10, 64); err == nil {
			return n
		}
	case strings.HasPrefix(rest, idBinary):
		if b, err := hex.DecodeString(rest[len(idBinary):]); err == nil {
			return b
		}
	case strings.HasPrefix(rest, idString):
		return rest[len(idString):]
	case strings.HasPrefix(rest, idNoPrefix):
		return rest[len(idNoPrefix):]
	}
	return s
}

// parseUUID parses the 8-4-4-4-12 hex form.
func parseUUID(s string) (wire.UUID, bool) {
	var u wire.UUID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	h := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:36]
	if _, err := hex.Decode(u[:], []byte(h)); err != nil {
		return u, false
	}
	return u, true
}
