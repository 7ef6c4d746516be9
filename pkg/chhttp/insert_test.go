package chhttp

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// TestInsertDedupToken: an insert retried with its deduplication token
// lands once; the data comes in the body in several formats.
func TestInsertDedupToken(t *testing.T) {
	post := func(q url.Values, body string) reply {
		return do(t, http.MethodPost, adminUser, adminPass, q, body, nil)
	}
	wantOK(t, post(nil, "CREATE TABLE tl.ins (k UInt64, s String) ENGINE = MergeTree ORDER BY k SETTINGS non_replicated_deduplication_window = 100"), "")
	ins := url.Values{"query": {"INSERT INTO tl.ins (s, k) FORMAT JSONEachRow"}, "insert_deduplication_token": {"batch-1"}}
	for range 2 {
		r := post(ins, "{\"k\":1,\"s\":\"a\\nb\"}\n{\"s\":\"c\",\"k\":2}\n")
		wantOK(t, r, "")
	}
	wantOK(t, query(t, adminUser, adminPass, "SELECT count(), sum(k) FROM tl.ins"), "2\t3\n")
	// CSV, inline data after FORMAT continued by the body, and VALUES.
	wantOK(t, post(url.Values{"query": {"INSERT INTO tl.ins FORMAT CSV\n3,\"x,y\"\n"}}, "4,z\n"), "")
	wantOK(t, post(url.Values{"query": {"INSERT INTO tl.ins VALUES"}}, "(5, 'v')"), "")
	wantOK(t, post(nil, "INSERT INTO tl.ins SETTINGS insert_deduplication_token = 'x' SELECT 6, 'sel'"), "")
	wantOK(t, query(t, adminUser, adminPass, "SELECT groupArray(s) FROM (SELECT s FROM tl.ins ORDER BY k)"), "['a\\nb','c','x,y','z','v','sel']\n")
	// A bad row fails the insert with the engine's parse error.
	wantError(t, post(url.Values{"query": {"INSERT INTO tl.ins FORMAT CSV"}}, "notanumber,x\n"), 400, 27, "CANNOT_PARSE")
}

// TestCompression: answers are compressed when asked, bodies decoded.
func TestCompression(t *testing.T) {
	q := url.Values{"query": {"SELECT number FROM numbers(1000) FORMAT TSV"}, "enable_http_compression": {"1"}}
	want := query(t, adminUser, adminPass, q.Get("query")).body
	for _, enc := range []string{"gzip", "zstd", "lz4", "br", "deflate"} {
		r := do(t, http.MethodGet, adminUser, adminPass, q, "", http.Header{"Accept-Encoding": {enc}})
		if r.status != 200 || r.header.Get("Content-Encoding") != enc {
			t.Fatalf("%s: %d, Content-Encoding %q", enc, r.status, r.header.Get("Content-Encoding"))
		}
		var rd io.Reader
		switch enc {
		case "gzip":
			rd, _ = gzip.NewReader(bytes.NewReader([]byte(r.body)))
		case "zstd":
			zr, _ := zstd.NewReader(bytes.NewReader([]byte(r.body)))
			rd = zr
		case "lz4":
			rd = lz4.NewReader(bytes.NewReader([]byte(r.body)))
		default:
			continue // decoded by the clients' own tests
		}
		got, err := io.ReadAll(rd)
		if err != nil || string(got) != want {
			t.Fatalf("%s: decoded %d bytes (%v), want %d", enc, len(got), err, len(want))
		}
	}
	// A gzip request body.
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte("SELECT 'zipped'"))
	zw.Close()
	wantOK(t, do(t, http.MethodPost, adminUser, adminPass, nil, b.String(), http.Header{"Content-Encoding": {"gzip"}}), "zipped\n")
}
