// Package pii turns the personal data Throughline matches people by —
// phone numbers and e-mail addresses — into keyed hashes before it leaves
// the collector, as DESIGN asks: the raw topic, the stitcher's changelog,
// the entity topics, ClickHouse's calls.caller_phone and dead letters hold
// the hash, never the number or the address.
//
// The hash is HMAC-SHA256 keyed by the tenant's pii_salt (generated, never
// derived from anything public), truncated to 128 bits and written
// "h1:" + 32 hex digits. Within a tenant the same normalised phone always
// gives the same hash, so identity matching works on hashes exactly as it
// did on numbers; across tenants the same phone gives unrelated hashes, and
// without the salt a hash cannot be reversed by enumerating the (small)
// space of phone numbers.
package pii

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/throughline/throughline/pkg/phone"
)

// Prefix marks a hashed value; the digit is the scheme's version, so a
// later scheme can be told apart from this one in stored data.
const Prefix = "h1:"

// hashLen is the length of a hash: Prefix and 32 hex digits.
const hashLen = len(Prefix) + 32

// Hasher hashes one tenant's phones and e-mails. A nil Hasher leaves values
// as they are (a tenant without pii_salt, see Enabled).
type Hasher struct{ key []byte }

// New returns the hasher of a tenant's salt, or nil when salt is "".
func New(salt string) *Hasher {
	if salt == "" {
		return nil
	}
	return &Hasher{key: []byte(salt)}
}

// Enabled reports whether values are hashed.
func (h *Hasher) Enabled() bool { return h != nil }

// Phone returns the hash of a phone number already normalised to E.164.
// A value already hashed, or "", is returned as it is.
func (h *Hasher) Phone(e164 string) string { return h.sum("phone\x00", e164) }

// Email returns the hash of an e-mail address already normalised
// (lower-cased). A value already hashed, or "", is returned as it is.
func (h *Hasher) Email(email string) string { return h.sum("email\x00", email) }

func (h *Hasher) sum(kind, v string) string {
	if h == nil || v == "" || IsHash(v) {
		return v
	}
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(kind))
	m.Write([]byte(v))
	var sum [sha256.Size]byte
	var out [hashLen]byte
	copy(out[:], Prefix)
	hex.Encode(out[len(Prefix):], m.Sum(sum[:0])[:16])
	return string(out[:])
}

// IsHash reports whether v is a hash this package wrote.
func IsHash(v string) bool {
	if len(v) != hashLen || !strings.HasPrefix(v, Prefix) {
		return false
	}
	for i := len(Prefix); i < len(v); i++ {
		if c := v[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// ParsePhone reads a phone a sender wrote: a value this package already
// hashed passes as it is (a dead letter's payload had its phones hashed,
// and re-driving it must not refuse them), anything else is read by
// phone.Parse in region and returned as E.164.
func ParsePhone(raw, region string) (string, error) {
	if v := strings.TrimSpace(raw); IsHash(v) {
		return v, nil
	}
	n, err := phone.Parse(raw, region)
	return n.E164, err
}
