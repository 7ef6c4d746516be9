package demo

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Prefixes of the secrets the demo generates. The site and server key
// prefixes are also how PrepareTenantsFile tells the accounts it generated
// from accounts a user made their own.
const (
	prefixSiteKey   = "tl_demo_site_"
	prefixServerKey = "tl_demo_srv_"
	prefixTenantKey = "tl_demo_tk_"
	prefixReadToken = "tl_demo_rt_"
	prefixAdmin     = "tl_demo_admin_"
)

// newSecret is prefix and n random bytes in hex. Demo credentials are
// generated, never derived: a derived one is the same on every
// installation, so anyone can compute it.
func newSecret(prefix string, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("demo: reading random bytes: " + err.Error()) // crypto/rand does not fail on supported systems
	}
	return prefix + hex.EncodeToString(b)
}

// AdminTokenFile is where, in the data dir, the demo keeps the console's
// admin token (--sql-token) it generated.
const AdminTokenFile = "admin-token"

// AdminToken returns the demo's console admin token, kept in dataDir (mode
// 0600): read back on a restart, generated the first time. created tells
// which.
func AdminToken(dataDir string) (token string, created bool, err error) {
	path := filepath.Join(dataDir, AdminTokenFile)
	b, err := os.ReadFile(path)
	if err == nil {
		if tok := strings.TrimSpace(string(b)); len(tok) >= 16 {
			return tok, false, nil
		}
		return "", false, fmt.Errorf("%s: shorter than 16 characters; delete it and a new one is generated", path)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", false, fmt.Errorf("reading the demo's admin token: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", false, fmt.Errorf("creating data dir: %w", err)
	}
	tok := newSecret(prefixAdmin, 24)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", false, fmt.Errorf("writing the demo's admin token: %w", err)
	}
	_, werr := f.WriteString(tok + "\n")
	if err := errors.Join(werr, f.Close()); err != nil {
		return "", false, fmt.Errorf("writing the demo's admin token: %w", err)
	}
	return tok, true, nil
}
