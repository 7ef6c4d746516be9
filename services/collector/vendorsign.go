package collector

import "github.com/throughline/throughline/services/collector/internal/hooks/calls"

// SignMango is the signature Mango Office puts in the sign field of every
// request, hex(sha256(vpbx_api_key + json + salt)), for programs that send
// as Mango does — the demo network — without a copy of the scheme.
func SignMango(apiKey, jsonText, salt string) string {
	return calls.SignMango(apiKey, jsonText, salt)
}
