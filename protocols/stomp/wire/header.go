package wire

import "strings"

// AppendHeader appends one header line, name:value and its EOL, escaped per
// v exactly as AppendFrame escapes its entries. Callers that build a frame
// directly into a buffer (the MESSAGE fast path) use it; they must not pass
// content-length, whose value AppendFrame alone keeps consistent.
func AppendHeader(buf []byte, v Version, name, value string) []byte {
	if v == V10 {
		name = strings.Trim(name, v10Blank)
		value = strings.Trim(value, v10Blank)
	}
	if name == "" {
		return buf
	}
	buf = appendEscaped(buf, name, v, true)
	buf = append(buf, ':')
	buf = appendEscaped(buf, value, v, false)
	return appendEOL(buf)
}
