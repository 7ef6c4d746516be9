package event

import "bytes"

// peekPrefix is how every envelope the collector writes begins: encoding/json
// writes the fields in the order Envelope declares them.
var peekPrefix = []byte(`{"v":1,"id":"`)

// PeekID returns the id of a raw-topic record value written as the collector
// writes it, `{"v":1,"id":"…",…}` with an id of printable ASCII and no
// escapes, without decoding the rest: a consumer that only needs the id (the
// loader's deduplication) reads it for a fraction of DecodeFast's cost. ok
// is false for any other form; the caller then decodes the record in full.
// A hand-made record could carry a second "id" key that a full decode reads
// instead; callers compare with the decoded id before trusting the peek.
func PeekID(b []byte) (id string, ok bool) {
	if !bytes.HasPrefix(b, peekPrefix) {
		return "", false
	}
	rest := b[len(peekPrefix):]
	for i, c := range rest {
		switch {
		case c == '"':
			if i == 0 {
				return "", false
			}
			return string(rest[:i]), true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return "", false
		}
	}
	return "", false
}
