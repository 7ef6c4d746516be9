package chhttp

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/throughline/throughline/pkg/flagenv"
)

// Config of the ClickHouse HTTP interface.
type Config struct {
	// Addr is where it listens; "" or "off" serves nothing. The default is
	// ClickHouse's own port on loopback.
	Addr string
	// Hosts are the names (host or host:port, comma-separated) the Host
	// header may carry besides loopback and the listen address: what
	// clients on other machines call this one.
	Hosts string
	// MaxQueryBytes bounds a request's body when it holds a statement.
	MaxQueryBytes int64
	// MaxInsertBytes bounds an admin's POST body (insert data).
	MaxInsertBytes int64
	// ShutdownTimeout bounds the graceful shutdown.
	ShutdownTimeout time.Duration
}

// Defaults.
const (
	DefaultAddr           = "127.0.0.1:8123"
	DefaultMaxQueryBytes  = 1 << 20
	DefaultMaxInsertBytes = 256 << 20
)

// RegisterFlags registers the settings on fs (env: THROUGHLINE_CLICKHOUSE_HTTP_*).
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	flagenv.String(fs, &c.Addr, "clickhouse-http-addr", DefaultAddr, `ClickHouse HTTP interface over the embedded engine ("off": none)`)
	flagenv.String(fs, &c.Hosts, "clickhouse-http-hosts", "", "comma-separated host[:port] names the ClickHouse HTTP interface answers to besides loopback")
	flagenv.Int64(fs, &c.MaxInsertBytes, "clickhouse-http-max-insert-bytes", DefaultMaxInsertBytes, "largest insert body the ClickHouse HTTP interface reads")
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Enabled reports whether the interface is to be served.
func (c Config) Enabled() bool { return c.Addr != "" && c.Addr != "off" }

func (c Config) withDefaults() Config {
	c.Addr = cmp.Or(c.Addr, DefaultAddr)
	c.MaxQueryBytes = cmp.Or(c.MaxQueryBytes, DefaultMaxQueryBytes)
	c.MaxInsertBytes = cmp.Or(c.MaxInsertBytes, DefaultMaxInsertBytes)
	c.ShutdownTimeout = cmp.Or(c.ShutdownTimeout, 10*time.Second)
	return c
}

// Validate names the setting that is wrong.
func (c Config) Validate() error {
	if !c.Enabled() {
		return nil
	}
	c = c.withDefaults()
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("clickhouse-http-addr: %q is not host:port: %w", c.Addr, err))
	}
	if c.MaxInsertBytes < 1024 {
		errs = append(errs, fmt.Errorf("clickhouse-http-max-insert-bytes: %d is less than 1024", c.MaxInsertBytes))
	}
	for _, h := range splitList(c.Hosts) {
		if strings.ContainsAny(h, "/ ") {
			errs = append(errs, fmt.Errorf("clickhouse-http-hosts: %q is not a host name", h))
		}
	}
	return errors.Join(errs...)
}

// allowedHosts are the Host headers served before the port is known:
// the configured names, with and without the listen port.
func allowedHosts(c Config) map[string]bool {
	hosts := map[string]bool{}
	_, port, _ := net.SplitHostPort(c.Addr)
	for _, h := range splitList(c.Hosts) {
		h = strings.ToLower(h)
		hosts[h] = true
		if _, _, err := net.SplitHostPort(h); err != nil && port != "" && port != "0" {
			hosts[net.JoinHostPort(h, port)] = true
		}
	}
	return hosts
}
