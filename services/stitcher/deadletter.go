package stitcher

import (
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/contract/deadletter"
)

// deadLetterRecord is what a raw record the stitcher cannot read becomes:
// the payload and the reason, so it never disappears silently.
func deadLetterRecord(r *kgo.Record, cause error) *kgo.Record {
	return deadletter.For("stitcher", r, cause)
}
