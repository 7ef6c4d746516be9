package tracker

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The served script stays small: it is on the critical path of every page
// of every customer site. (6 KiB until number insertion took 1.6 KiB more.)
const maxScript = 8 << 10

func TestScriptSmallAndCompacted(t *testing.T) {
	s := Script()
	if len(s) >= maxScript {
		t.Fatalf("served script is %d bytes, want under %d", len(s), maxScript)
	}
	for i, line := range strings.Split(string(s), "\n") {
		if l := strings.TrimSpace(line); strings.HasPrefix(l, "//") || line != l {
			t.Fatalf("line %d kept a comment or indentation: %q", i+1, line)
		}
	}
	for _, want := range []string{"_tl_cid", "/px.gif?k=", "tl_client_id", "data-tl-goal", "throughlineReady", "keepalive", "/v1/numbers?k=", "_tl_num"} {
		if !bytes.Contains(s, []byte(want)) {
			t.Errorf("script lost %q", want)
		}
	}
	// Each click id the collector recognises is captured by the script.
	for _, p := range []string{"yclid", "gclid", "gbraid", "wbraid", "fbclid", "vkclid", "ttclid", "msclkid", "ysclid"} {
		if !bytes.Contains(s, []byte("'"+p+"'")) {
			t.Errorf("script does not capture %s", p)
		}
	}
}

func TestCompact(t *testing.T) {
	src := "// head\n(function () {\n  // inner\n  var a = 1,\n    b = 2;\n  var f = function () {\n    return a\n  }\n  f()\n})();\n"
	want := "(function () {var a = 1,b = 2;var f = function () {return a}\nf()})();\n"
	if got := string(compact([]byte(src))); got != want {
		t.Fatalf("compact:\n%s\nwant:\n%s", got, want)
	}
}

func TestHandlerCaching(t *testing.T) {
	h := Handler()
	get := func(method string, hdr map[string]string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "/t.js", nil)
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	w := get("GET", nil)
	if w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), Script()) {
		t.Fatalf("GET: %d, %d bytes", w.Code, w.Body.Len())
	}
	hd := w.Header()
	if hd.Get("Content-Type") != "text/javascript; charset=utf-8" || hd.Get("Cache-Control") != "public, max-age=3600" ||
		hd.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("headers: %v", hd)
	}
	etag := hd.Get("ETag")
	if len(etag) < 10 || etag[0] != '"' || etag[len(etag)-1] != '"' {
		t.Fatalf("etag %q", etag)
	}
	for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
		w := get("GET", map[string]string{"If-None-Match": inm})
		if w.Code != http.StatusNotModified || w.Body.Len() != 0 || w.Header().Get("ETag") != etag ||
			w.Header().Get("Cache-Control") == "" {
			t.Errorf("If-None-Match %s: %d, %d bytes, %v", inm, w.Code, w.Body.Len(), w.Header())
		}
	}
	if w := get("GET", map[string]string{"If-None-Match": `"stale"`}); w.Code != http.StatusOK {
		t.Errorf("stale etag: %d", w.Code)
	}
	if w := get("HEAD", nil); w.Code != http.StatusOK || w.Body.Len() != 0 || w.Header().Get("Content-Length") == "" {
		t.Errorf("HEAD: %d, %d bytes", w.Code, w.Body.Len())
	}
}
