package clientip

import (
	"net/http/httptest"
	"testing"
)

func TestClientIP(t *testing.T) {
	r, err := Parse("10.0.0.0/8, 127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"untrusted peer ignores header", "203.0.113.7:5000", []string{"1.2.3.4"}, "203.0.113.7"},
		{"trusted peer uses last untrusted hop", "10.1.2.3:80", []string{"9.9.9.9, 1.2.3.4, 10.0.0.5"}, "1.2.3.4"},
		{"several headers", "127.0.0.1:80", []string{"9.9.9.9", "5.6.7.8"}, "5.6.7.8"},
		{"trusted peer without header", "127.0.0.1:80", nil, "127.0.0.1"},
		{"malformed hop stops the walk", "10.0.0.1:80", []string{"1.1.1.1, junk, 10.0.0.2"}, "10.0.0.2"},
		{"ipv6 peer", "[2001:db8::1]:443", nil, "2001:db8::1"},
		{"mapped v4", "[::ffff:10.0.0.9]:80", []string{"8.8.8.8"}, "8.8.8.8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/px.gif", nil)
			req.RemoteAddr = c.remote
			for _, h := range c.xff {
				req.Header.Add("X-Forwarded-For", h)
			}
			if got := r.ClientIP(req); got != c.want {
				t.Fatalf("ClientIP = %q, want %q", got, c.want)
			}
		})
	}
	if _, err := Parse("10.0.0.0/33"); err == nil {
		t.Fatal("bad prefix accepted")
	}
	none, _ := Parse("")
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "127.0.0.1:1"
	req.Header.Set("X-Forwarded-For", "1.2.3.4")
	if got := none.ClientIP(req); got != "127.0.0.1" {
		t.Fatalf("no trusted proxies: got %q", got)
	}
}
