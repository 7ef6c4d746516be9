package intake

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// gif is the 43-byte 1x1 transparent GIF the pixel always answers with.
var gif = []byte{
	0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
	0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
}

var gifLength = strconv.Itoa(len(gif))

// GIF is a copy of the pixel's answer, for tests.
func GIF() []byte { return slices.Clone(gif) }

// WriteGIF answers a pixel request: always 200 and the GIF, never cached.
func WriteGIF(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "image/gif")
	h.Set("Content-Length", gifLength)
	h.Set("Cache-Control", "no-cache, no-store, must-revalidate, private, max-age=0")
	h.Set("Pragma", "no-cache")
	h.Set("Expires", "0")
	w.WriteHeader(http.StatusOK)
	w.Write(gif)
}

// statusWriter remembers the status code for the requests counter.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (read deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Route is how Handle treats a route's requests.
type Route struct {
	Name string // the requests counter's route label
	// Source is the metrics source of a request refused by its key's rate
	// limit; nil: SourceAPI.
	Source func(*http.Request) string
	// Pixel: the answer is always the GIF (a browser cannot retry or read
	// an error), and a request over its rate limit is counted, not refused.
	Pixel bool
	// Unlimited: no rate limit (the tracker script writes nothing).
	Unlimited bool
}

// Handle counts requests by route and status, continues the sender's
// trace (W3C traceparent) in a server span, applies the key's rate limit
// (admit), tells ReadBody whom the body is charged to, and turns a panic
// into a proper answer — the GIF on the pixel route — instead of a dropped
// connection.
func (p *Pipeline) Handle(rt Route, h http.HandlerFunc) http.Handler {
	prop := otel.GetTextMapPropagator()
	panicSource := SourceAPI
	if rt.Pixel {
		panicSource = SourcePixel
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := p.deps.Tracer.Start(ctx, "collector "+rt.Name, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				p.deps.Log.Error().Str("route", rt.Name).Interface("panic", v).Msg("handler panicked")
				p.M.Reject(panicSource, ReasonInternal, "")
				if sw.status == 0 {
					if rt.Pixel {
						WriteGIF(sw)
					} else {
						WriteError(sw, http.StatusInternalServerError, "internal error", "", "")
					}
				}
			}
			p.M.Request(rt.Name, sw.status)
		}()
		if !p.admit(sw, r, rt) {
			return
		}
		if o, ok := p.Owner(r); ok {
			ctx = withBodyOwner(ctx, o) // whom ReadBody charges the body to
		}
		h(sw, r.WithContext(ctx))
	})
}

// APIError is the JSON body of every error answer.
type APIError struct {
	Error  string `json:"error"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// WriteError answers status with msg, naming the field at fault and why.
func WriteError(w http.ResponseWriter, status int, msg, field, reason string) {
	WriteJSON(w, status, APIError{Error: msg, Field: field, Reason: reason})
}

// WriteJSON answers status with v, never cached.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store") // answers may name accounts and numbers
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// Unavailable answers 503 with the Retry-After the sender should honour.
func (p *Pipeline) Unavailable(w http.ResponseWriter, msg string) {
	p.retryAfter(w)
	WriteError(w, http.StatusServiceUnavailable, msg, "", "")
}

func (p *Pipeline) retryAfter(w http.ResponseWriter) {
	w.Header().Set("Retry-After", strconv.Itoa(int(p.cfg.RetryAfter.Seconds())))
}

// WriteKey reads the events API write key: "Authorization: Bearer <key>" or
// "X-Write-Key: <key>".
func WriteKey(r *http.Request) string {
	if k := strings.TrimSpace(r.Header.Get("X-Write-Key")); k != "" {
		return k
	}
	auth := r.Header.Get("Authorization")
	if scheme, k, ok := strings.Cut(auth, " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(k)
	}
	return ""
}

// ServePreflight lets browsers call the events API from any origin; the
// write key, not the origin, is what authorises a request.
func ServePreflight(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, X-Write-Key, Content-Type, Content-Encoding, traceparent, tracestate")
	h.Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
}
