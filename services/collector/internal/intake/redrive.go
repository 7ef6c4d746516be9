package intake

import (
	"context"

	"github.com/throughline/throughline/pkg/event"
)

type redriveCtxKey struct{}

// WithRedrive marks a request as the dead letter dl re-submitted by the
// re-drive endpoint; only that endpoint sets the mark, inside the process.
func WithRedrive(ctx context.Context, dl *event.DeadLetter) context.Context {
	return context.WithValue(ctx, redriveCtxKey{}, dl)
}

// IsRedrive reports whether a request is a re-driven dead letter: it is not
// rate limited, and its vendor's signature, token and replay window are not
// checked again (dead letters keep none of them).
func IsRedrive(ctx context.Context) bool {
	_, ok := ctx.Value(redriveCtxKey{}).(*event.DeadLetter)
	return ok
}
