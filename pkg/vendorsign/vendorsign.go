// Package vendorsign holds the signature schemes of vendors whose webhooks
// Throughline receives, for the two sides that need one: the collector,
// which verifies what arrives, and the programs that send as a vendor does
// (the demo network, tests). One definition each, so the sender and the
// verifier cannot drift apart.
package vendorsign

import (
	"crypto/sha256"
	"encoding/hex"
)

// Mango is the signature Mango Office puts in the sign field of every
// request: hex(sha256(vpbx_api_key + json + salt)), where salt is the
// account's API salt.
func Mango(apiKey, jsonText, salt string) string {
	sum := sha256.Sum256([]byte(apiKey + jsonText + salt))
	return hex.EncodeToString(sum[:])
}
