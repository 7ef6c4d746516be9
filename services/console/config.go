package console

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"runtime"
	"time"

	"github.com/throughline/throughline/pkg/flagenv"
)

// Config of the console service.
type Config struct {
	// Addr is where the console listens. The default is loopback only: the
	// SQL endpoint reads every tenant's rows.
	Addr string
	// QueryTimeout bounds one SQL statement (the engine's max_execution_time).
	QueryTimeout time.Duration
	// MaxRows is the most rows one SQL answer holds; more are cut and the
	// answer says it was truncated.
	MaxRows int
	// MaxBytes is the most bytes of rows one SQL answer holds.
	MaxBytes int
	// MaxConcurrent is how many SQL statements run at once; more get 503.
	MaxConcurrent int
	// MaxConcurrentPerUser is how many of them one user (one bearer token,
	// or one address without a token) may run at once; more get 429.
	MaxConcurrentPerUser int
	// MaxMemory bounds the memory one SQL statement may take in the engine
	// (max_memory_usage): past it the statement fails with
	// MEMORY_LIMIT_EXCEEDED instead of taking the process — which in the
	// embedded mode also holds Kafka and the pipeline — down.
	MaxMemory int64
	// MaxThreads is the engine threads one SQL statement may use
	// (max_threads); the default, half the cores, leaves the rest to the
	// pipeline running in the same process.
	MaxThreads int
	// SQLToken is the admin token: the Bearer token /v1/sql requires (it
	// reads every tenant's rows), which also reads any tenant's reports.
	// Empty: /v1/sql answers 401, reports need a tenant's read token.
	SQLToken string
	// AllowedHosts are the host names (comma-separated) clients reach the
	// console by, besides IP addresses and localhost; a request naming
	// another Host is refused (DNS rebinding).
	AllowedHosts string
	// ShutdownTimeout bounds the graceful shutdown of the HTTP server.
	ShutdownTimeout time.Duration
	// ClickHouseURL is the address of ClickHouse's HTTP interface that data
	// teams' tools connect to, shown in the dashboard's "Connect your BI"
	// panel ("": the panel says where to find it).
	ClickHouseURL string
}

// Defaults.
const (
	DefaultAddr          = "127.0.0.1:8081"
	DefaultQueryTimeout  = 30 * time.Second
	DefaultMaxRows       = 10000
	DefaultMaxBytes      = 32 << 20
	DefaultMaxConcurrent = 2
	// DefaultMaxConcurrentPerUser leaves the other slot to someone else.
	DefaultMaxConcurrentPerUser = 1
	DefaultMaxMemory            = 2 << 30
	DefaultShutdownTimeout      = 10 * time.Second
)

// RegisterFlags registers the console's settings on fs (env: THROUGHLINE_CONSOLE_*, THROUGHLINE_SQL_TOKEN).
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	flagenv.String(fs, &c.Addr, "console-addr", DefaultAddr, "console listen address (SQL on a non-loopback address needs --sql-token)")
	flagenv.Duration(fs, &c.QueryTimeout, "console-query-timeout", DefaultQueryTimeout, "longest a SQL statement may run")
	flagenv.Int(fs, &c.MaxRows, "console-max-rows", DefaultMaxRows, "most rows one SQL answer returns (the rest is cut, marked truncated)")
	flagenv.Int(fs, &c.MaxBytes, "console-max-bytes", DefaultMaxBytes, "most bytes of rows one SQL answer returns")
	flagenv.Int(fs, &c.MaxConcurrent, "console-max-concurrent", DefaultMaxConcurrent, "SQL statements run at once; more are answered 503")
	flagenv.Int(fs, &c.MaxConcurrentPerUser, "console-max-concurrent-per-user", DefaultMaxConcurrentPerUser,
		"SQL statements one user (token, or address without one) runs at once; more are answered 429")
	flagenv.Int64(fs, &c.MaxMemory, "console-max-memory", DefaultMaxMemory,
		"bytes of memory one SQL statement may use in the engine (max_memory_usage); more fail with MEMORY_LIMIT_EXCEEDED")
	flagenv.Int(fs, &c.MaxThreads, "console-max-threads", defaultMaxThreads(),
		"engine threads one SQL statement may use (max_threads); default: half the cores")
	flagenv.Secret(fs, &c.SQLToken, "sql-token", "admin token: Bearer token of /v1/sql and of every tenant's reports (empty: /v1/sql is off)")
	flagenv.String(fs, &c.AllowedHosts, "console-allowed-hosts", "",
		"host names the console is reached by, comma-separated, besides IP addresses and localhost (other Host headers are refused)")
	flagenv.String(fs, &c.ClickHouseURL, "console-clickhouse-url", "",
		"ClickHouse's HTTP interface as data teams reach it (http://host:8123), shown in the dashboard's Connect your BI panel")
	flagenv.Duration(fs, &c.ShutdownTimeout, "console-shutdown-timeout", DefaultShutdownTimeout, "how long the console's graceful shutdown may take")
}

// withDefaults fills zero values, so a Config built in code needs only what differs.
func (c Config) withDefaults() Config {
	c.Addr = cmp.Or(c.Addr, DefaultAddr)
	c.QueryTimeout = cmp.Or(c.QueryTimeout, DefaultQueryTimeout)
	c.MaxRows = cmp.Or(c.MaxRows, DefaultMaxRows)
	c.MaxBytes = cmp.Or(c.MaxBytes, DefaultMaxBytes)
	c.MaxConcurrent = cmp.Or(c.MaxConcurrent, DefaultMaxConcurrent)
	c.MaxConcurrentPerUser = cmp.Or(c.MaxConcurrentPerUser, min(DefaultMaxConcurrentPerUser, c.MaxConcurrent))
	c.MaxMemory = cmp.Or(c.MaxMemory, DefaultMaxMemory)
	c.MaxThreads = cmp.Or(c.MaxThreads, defaultMaxThreads())
	c.ShutdownTimeout = cmp.Or(c.ShutdownTimeout, DefaultShutdownTimeout)
	return c
}

// Validate names the setting that is wrong; zero values are checked as the
// defaults they take in New. It changes nothing.
func (c Config) Validate() error {
	c = c.withDefaults()
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("console-addr: %q is not host:port: %w", c.Addr, err)
	}
	var errs []error
	if c.SQLToken == "" && !loopback(host) {
		errs = append(errs, fmt.Errorf("console-addr: %q is reachable from other hosts; set --sql-token (the SQL endpoint reads every tenant's rows) or listen on 127.0.0.1", c.Addr))
	}
	if c.QueryTimeout < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("console-query-timeout: %v is shorter than 10ms", c.QueryTimeout))
	}
	if c.MaxRows < 1 {
		errs = append(errs, fmt.Errorf("console-max-rows: %d must be at least 1", c.MaxRows))
	}
	if c.MaxBytes < 1024 {
		errs = append(errs, fmt.Errorf("console-max-bytes: %d must be at least 1024", c.MaxBytes))
	}
	if c.MaxConcurrent < 1 {
		errs = append(errs, fmt.Errorf("console-max-concurrent: %d must be at least 1", c.MaxConcurrent))
	}
	if c.MaxConcurrentPerUser < 1 || c.MaxConcurrentPerUser > c.MaxConcurrent {
		errs = append(errs, fmt.Errorf("console-max-concurrent-per-user: %d must be between 1 and console-max-concurrent (%d)",
			c.MaxConcurrentPerUser, c.MaxConcurrent))
	}
	if c.MaxMemory < 16<<20 {
		errs = append(errs, fmt.Errorf("console-max-memory: %d must be at least 16 MiB (%d)", c.MaxMemory, 16<<20))
	}
	if c.MaxThreads < 1 {
		errs = append(errs, fmt.Errorf("console-max-threads: %d must be at least 1", c.MaxThreads))
	}
	if c.ClickHouseURL != "" {
		if u, err := url.Parse(c.ClickHouseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			errs = append(errs, fmt.Errorf("console-clickhouse-url: %q is not http(s)://host:port without credentials", c.ClickHouseURL))
		}
	}
	if c.ShutdownTimeout < 0 {
		errs = append(errs, fmt.Errorf("console-shutdown-timeout: %v is negative", c.ShutdownTimeout))
	}
	return errors.Join(errs...)
}

// defaultMaxThreads is half the cores, at least one.
func defaultMaxThreads() int { return max(1, runtime.NumCPU()/2) }

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
