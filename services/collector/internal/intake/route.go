package collector

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Route labels of the requests counter.
const (
	routePixel  = "/px.gif"
	routeEvents = "/v1/events"
)

// gif is the 43-byte 1x1 transparent GIF the pixel always answers with.
var gif = []byte{
	0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
	0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
}

var gifLength = strconv.Itoa(len(gif))

// writeGIF answers a pixel request: always 200 and the GIF, never cached.
func writeGIF(w http.ResponseWriter) {
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

// instrument counts requests by route and status, continues the sender's
// trace (W3C traceparent) in a server span, applies the key's rate limit
// (admit) and turns a panic into a proper answer — the GIF on the pixel
// route — instead of a dropped connection.
func (c *Collector) instrument(route string, h http.HandlerFunc) http.Handler {
	prop := otel.GetTextMapPropagator()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := c.deps.Tel.Tracer.Start(ctx, "collector "+route, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				c.log.Error().Str("route", route).Interface("panic", p).Msg("handler panicked")
				c.m.reject(sourceOf(route), reasonInternal, "")
				if sw.status == 0 {
					if route == routePixel {
						writeGIF(sw)
					} else {
						writeError(sw, http.StatusInternalServerError, "internal error", "", "")
					}
				}
			}
			c.m.request(route, sw.status)
		}()
		if !c.admit(sw, r, route) {
			return
		}
		if o, ok := c.owner(r); ok {
			ctx = withBodyOwner(ctx, o) // whom readBody charges the body to
		}
		h(sw, r.WithContext(ctx))
	})
}

func sourceOf(route string) string {
	if route == routePixel {
		return sourcePixel
	}
	return sourceAPI
}

// apiError is the JSON body of every error answer of the events API.
type apiError struct {
	Error  string `json:"error"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason,omitempty"`
}

func writeError(w http.ResponseWriter, status int, msg, field, reason string) {
	writeJSON(w, status, apiError{Error: msg, Field: field, Reason: reason})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store") // answers may name accounts and numbers
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// writeUnavailable answers 503 with the Retry-After the sender should honour.
func (c *Collector) writeUnavailable(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(int(c.cfg.RetryAfter.Seconds())))
	writeError(w, http.StatusServiceUnavailable, msg, "", "")
}

// writeKey reads the events API write key: "Authorization: Bearer <key>" or
// "X-Write-Key: <key>".
func writeKey(r *http.Request) string {
	if k := strings.TrimSpace(r.Header.Get("X-Write-Key")); k != "" {
		return k
	}
	auth := r.Header.Get("Authorization")
	if scheme, k, ok := strings.Cut(auth, " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(k)
	}
	return ""
}

// servePreflight lets browsers call the events API from any origin; the
// write key, not the origin, is what authorises a request.
func servePreflight(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, X-Write-Key, Content-Type, Content-Encoding, traceparent, tracestate")
	h.Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
}
