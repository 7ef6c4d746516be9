package intake

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/throughline/throughline/services/collector/internal/publish"
)

// Reasons a body was not read (labels of the rejected counter).
const (
	reasonOverShare   = "over_share"   // the tenant's or key's bodies hold their share of memory
	reasonBodyTimeout = "body_timeout" // the body did not arrive within the read deadlines
)

// firstChunk is the memory a body reservation starts with; it doubles as
// bytes arrive, so a small body holds little and a large one pays as it comes.
const firstChunk = 8 << 10

// bodyOwner is whom a request's body is charged to: the tenant and the key
// the request authenticates with. Handle puts it in the context.
type bodyOwner struct{ tenant, key string }

type bodyOwnerKey struct{}

func withBodyOwner(ctx context.Context, o bodyOwner) context.Context {
	return context.WithValue(ctx, bodyOwnerKey{}, o)
}

func bodyOwnerOf(ctx context.Context) bodyOwner {
	o, _ := ctx.Value(bodyOwnerKey{}).(bodyOwner)
	return o
}

var (
	errDecodedTooLarge = errors.New("decompressed body too large")
	errBodyTimeout     = errors.New("body not received in time")
)

// ReadBody reads a request body of at most max bytes (decompressed, when
// sent gzipped) within the in-flight budget; it answers the refusal itself
// (413 too large, 429 over the tenant's or key's share, 503 collector at
// capacity, 408 too slow, 400 unreadable) and returns ok false. release
// gives the memory back; call it once the body is parsed.
//
// Memory is reserved as bytes arrive, never the announced or largest size
// up front: a sender that is slow, or announces more than it sends, holds
// only what it has sent. A body must keep arriving — no pause longer than
// BodyIdleTimeout, all of it within BodyReadTimeout — or it is answered 408,
// so a trickle cannot hold a connection and its memory for long either.
func (p *Pipeline) ReadBody(w http.ResponseWriter, r *http.Request, source string, max int64) (body []byte, release func(), ok bool) {
	tooLarge := func() {
		p.M.Reject(source, ReasonTooLarge, "body")
		WriteError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes: split it", max), "body", "too large")
	}
	if r.ContentLength > max {
		tooLarge()
		return nil, nil, false
	}
	owner := bodyOwnerOf(r.Context())
	res := p.deps.Pub.Reserve(owner.tenant, owner.key)
	body, err := p.readReserved(w, r, res, max)
	if err == nil {
		return body, res.Release, true
	}
	res.Release()
	// The rest of the body is not read: the connection cannot be reused.
	// Without this the server would wait for the rest before answering.
	w.Header().Set("Connection", "close")
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig) || errors.Is(err, errDecodedTooLarge):
		tooLarge()
	case errors.Is(err, publish.ErrTenantShare) || errors.Is(err, publish.ErrKeyShare):
		p.M.Reject(source, reasonOverShare, "body")
		p.deps.Warn.Warn().Str("tenant", owner.tenant).Str("source", source).Err(err).Msg("body refused: over its share of memory")
		p.retryAfter(w)
		who := "tenant's"
		if errors.Is(err, publish.ErrKeyShare) {
			who = "key's"
		}
		WriteError(w, http.StatusTooManyRequests, fmt.Sprintf(
			"this %s uploads in progress hold their share of the collector's memory: retry when they are done", who), "body", "over share")
	case errors.Is(err, publish.ErrOverloaded):
		p.M.Reject(source, ReasonOverload, "")
		p.Unavailable(w, "collector at capacity, retry later")
	case errors.Is(err, errBodyTimeout):
		p.M.Reject(source, reasonBodyTimeout, "body")
		WriteError(w, http.StatusRequestTimeout, fmt.Sprintf(
			"body not received in time (a pause over %v, or over %v in all)", p.cfg.BodyIdleTimeout, p.cfg.BodyReadTimeout), "body", "too slow")
	default:
		p.M.Reject(source, ReasonInvalid, "body")
		WriteError(w, http.StatusBadRequest, "body could not be read: "+err.Error(), "body", "unreadable")
	}
	return nil, nil, false
}

// ReadHookBody reads a webhook's body of at most MaxBodyBytes (ReadBody).
func (p *Pipeline) ReadHookBody(w http.ResponseWriter, r *http.Request, source string) ([]byte, func(), bool) {
	return p.ReadBody(w, r, source, p.cfg.MaxBodyBytes)
}

// readReserved reads the body into a buffer whose capacity res holds.
func (p *Pipeline) readReserved(w http.ResponseWriter, r *http.Request, res *publish.Reservation, max int64) ([]byte, error) {
	dl := newReadDeadline(w, p.cfg.BodyReadTimeout, p.cfg.BodyIdleTimeout)
	defer dl.clear()
	var src io.Reader = &deadlineReader{r: http.MaxBytesReader(w, r.Body, max), dl: dl}
	if strings.EqualFold(strings.TrimSpace(r.Header.Get("Content-Encoding")), "gzip") {
		zr, err := gzip.NewReader(src)
		if err != nil {
			if errors.Is(err, errBodyTimeout) {
				return nil, err
			}
			return nil, fmt.Errorf("opening gzip body: %w", err)
		}
		defer zr.Close()
		src = zr
	}
	// One byte over max tells a body of exactly max from a larger one.
	limit := max + 1
	size := int64(firstChunk)
	if n := r.ContentLength; n >= 0 && n < size {
		size = n + 1 // the +1 sees EOF without growing
	}
	size = min(size, limit)
	if err := res.Grow(size); err != nil {
		return nil, err
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) >= limit {
				return nil, errDecodedTooLarge
			}
			next := min(2*int64(cap(buf)), limit)
			if err := res.Grow(next - int64(cap(buf))); err != nil {
				return nil, err
			}
			nb := make([]byte, len(buf), next)
			copy(nb, buf)
			buf = nb
		}
		n, err := src.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading body: %w", err)
		}
	}
	if int64(len(buf)) > max {
		return nil, errDecodedTooLarge
	}
	return buf, nil
}

// readDeadline sets the connection's read deadline before each read: the
// sooner of the body's overall deadline and the idle timeout from now.
type readDeadline struct {
	rc    *http.ResponseController
	end   time.Time
	idle  time.Duration
	unset bool // the writer cannot set deadlines (an in-process re-drive)
}

func newReadDeadline(w http.ResponseWriter, total, idle time.Duration) *readDeadline {
	return &readDeadline{rc: http.NewResponseController(w), end: time.Now().Add(total), idle: idle}
}

func (d *readDeadline) arm() {
	if d.unset {
		return
	}
	at := time.Now().Add(d.idle)
	if d.end.Before(at) {
		at = d.end
	}
	if err := d.rc.SetReadDeadline(at); err != nil {
		d.unset = true
	}
}

// clear lifts the deadline once the body is read, so the server's own
// timeouts govern the rest of the connection.
func (d *readDeadline) clear() {
	if !d.unset {
		d.rc.SetReadDeadline(time.Time{})
	}
}

// deadlineReader arms the deadline before every read and reports a missed
// one as errBodyTimeout.
type deadlineReader struct {
	r  io.Reader
	dl *readDeadline
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	d.dl.arm()
	n, err := d.r.Read(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		err = errBodyTimeout
	}
	return n, err
}
