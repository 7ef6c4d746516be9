package console

import (
	"mime"
	"net"
	"net/http"
	"strings"
)

// The console's defences of the browser's side (docs/security.md):
//
//   - every data route needs a token, on loopback too (reader, authorized);
//   - the Host header must be an address of this console (checkHost): a
//     web page the operator opens cannot rebind its own domain name to
//     127.0.0.1 and read the console as if it were that page's server;
//   - /v1/sql is POST only, with a content type a page cannot send without
//     asking first (CORS preflight, which the console never grants);
//   - JSON answers are never cached (Cache-Control: no-store).

// hostAllowed tells whether a request's Host names this console: an IP
// literal (DNS rebinding needs a name the attacker controls, and an IP
// cannot be rebound), localhost, or one of the configured names.
func (c *Console) hostAllowed(r *http.Request) bool {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "" {
		return false
	}
	if net.ParseIP(host) != nil || host == "localhost" {
		return true
	}
	for _, h := range c.allowedHosts {
		if host == h {
			return true
		}
	}
	return false
}

// guard wraps every route: the Host check first, then no-store on the API.
func (c *Console) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !c.hostAllowed(r) {
			c.log.Warn().Str("host", clip(r.Host, 100)).Str("path", r.URL.Path).Msg("request for another host refused")
			writeError(w, http.StatusMisdirectedRequest, "Host "+clip(r.Host, 100)+
				" is not an address of this console; add it to --console-allowed-hosts if it is")
			return
		}
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			w.Header().Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// simpleContentType tells the content types a web page may POST to any
// site without a CORS preflight; /v1/sql takes none of them, nor no type.
func simpleContentType(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt == "" {
		return true
	}
	switch mt {
	case "text/plain", "application/x-www-form-urlencoded", "multipart/form-data":
		return true
	}
	return false
}

// parseHosts reads --console-allowed-hosts: comma-separated host names.
func parseHosts(s string) []string {
	var out []string
	for _, h := range strings.Split(s, ",") {
		if h = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), "."); h != "" {
			out = append(out, h)
		}
	}
	return out
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
