// Package tracker serves the JS tracker, GET /t.js: the script a customer's
// site loads to keep a first-party client id, report page views and goals
// through the pixel and carry the landing's UTMs and click ids across the
// visit. The readable source is tracker.js, embedded; it is served without
// its comments and indentation, with caching headers and an ETag.
package tracker

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
)

//go:embed tracker.js
var source []byte

// Script is the script as served: tracker.js without whole-line comments,
// indentation and blank lines, and without the line breaks that automatic
// semicolon insertion cannot depend on: after "{", ";" or "," and before "}".
// Every other line break is kept, so the script parses as its source does.
func Script() []byte { return compact(source) }

func compact(src []byte) []byte {
	var out []byte
	for line := range bytes.SplitSeq(src, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || bytes.HasPrefix(line, []byte("//")) {
			continue
		}
		if n := len(out); n > 0 && out[n-1] == '\n' {
			if prev := out[n-2]; prev == '{' || prev == ';' || prev == ',' || line[0] == '}' {
				out = out[:n-1]
			}
		}
		out = append(out, line...)
		out = append(out, '\n')
	}
	return out
}

// CacheControl is how long browsers and CDNs keep the script: an hour, so a
// new version reaches every site within one.
const CacheControl = "public, max-age=3600"

// Handler serves the script with Cache-Control, an ETag, and 304 to a
// request whose If-None-Match holds that ETag.
func Handler() http.Handler {
	body := Script()
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:12]) + `"`
	length := strconv.Itoa(len(body))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", CacheControl)
		h.Set("ETag", etag)
		if matches(r.Header.Get("If-None-Match"), etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Type", "text/javascript; charset=utf-8")
		h.Set("Content-Length", length)
		h.Set("X-Content-Type-Options", "nosniff")
		// Lets sites load it with Subresource Integrity (crossorigin="anonymous").
		h.Set("Access-Control-Allow-Origin", "*")
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			w.Write(body)
		}
	})
}

// matches reports whether an If-None-Match header names etag; weak
// validators match too (RFC 9110 weak comparison).
func matches(header, etag string) bool {
	if header == "" {
		return false
	}
	for tag := range strings.SplitSeq(header, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
			return true
		}
	}
	return false
}
