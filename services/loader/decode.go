package loader

import "github.com/throughline/throughline/pkg/event"

// decodeEnvelope decodes a raw-topic record value.
func decodeEnvelope(b []byte) (event.Envelope, error) { return event.Decode(b) }
