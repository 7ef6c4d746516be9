// Package chhttp serves ClickHouse's HTTP interface over the embedded engine
// (chDB), so that ClickHouse clients and BI tools — clickhouse-go, the
// official JS and Python clients, DBeaver, Grafana, Metabase, Power BI
// through the ODBC driver, curl — connect to an embedded Throughline as
// they would to a ClickHouse server.
//
// What is served follows https://clickhouse.com/docs/interfaces/http and
// what clickhouse-go v2's HTTP transport and @clickhouse/client send: the
// query in ?query= or the body, database, default_format and FORMAT
// clauses (any output format the engine has), query_id, query parameters
// (param_*), an allowed set of settings as URL parameters, /ping, users by
// X-ClickHouse-User/Key, basic auth or ?user=&password=, errors with
// X-ClickHouse-Exception-Code and the server's error text, the
// X-ClickHouse-Summary/Format/Timezone/Query-Id headers, compressed answers
// and bodies, and inserts with data in the body. Users come from the
// tenants file: an admin, and tenants' read-only users confined to their
// tenant's rows (guard.go). Each query stands alone: there are no
// sessions, so SET, USE and temporary tables are refused.
package chhttp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/pkg/tenants"
)

// Deps are what the interface serves from.
type Deps struct {
	Log     zerolog.Logger
	Store   *chstore.Embedded
	Tenants *tenants.Config
	// Database is the data database: a tenant user's only database.
	Database string
	// Meter records queries by outcome and their duration (nil: none).
	Meter metric.Meter
}

// Server answers ClickHouse HTTP requests.
type Server struct {
	cfg      Config
	log      zerolog.Logger
	store    *chstore.Embedded
	users    map[string]*user
	database string
	catalog  *catalog
	version  string
	timezone string
	display  string
	hosts    map[string]bool
	seq      atomic.Uint64
	queries  metric.Int64Counter
	duration metric.Float64Histogram
	http     *http.Server
	ln       net.Listener
}

// New prepares the interface; Serve starts it.
func New(cfg Config, d Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := &Server{cfg: cfg, log: d.Log.With().Str("component", "clickhouse-http").Logger(), store: d.Store,
		users: usersFrom(d.Tenants), database: d.Database}
	s.catalog = &catalog{refresh: s.readCatalog}
	meter := d.Meter
	if meter == nil {
		meter = noop.NewMeterProvider().Meter("chhttp")
	}
	var err error
	if s.queries, err = meter.Int64Counter("clickhouse_http.queries",
		metric.WithDescription("queries to the ClickHouse HTTP interface by user kind (admin, tenant) and outcome (ok or the error's name)")); err != nil {
		return nil, err
	}
	if s.duration, err = meter.Float64Histogram("clickhouse_http.duration", metric.WithUnit("s"),
		metric.WithDescription("time to answer a query of the ClickHouse HTTP interface")); err != nil {
		return nil, err
	}
	out, err := d.Store.Engine().Query("SELECT version(), timezone(), displayName()", "TabSeparatedRaw")
	if err != nil {
		return nil, fmt.Errorf("clickhouse http: reading the engine's version: %w", err)
	}
	f := strings.Split(strings.TrimSpace(string(out)), "\t")
	if len(f) != 3 {
		return nil, fmt.Errorf("clickhouse http: unexpected version answer %q", out)
	}
	s.version, s.timezone, s.display = f[0], f[1], f[2]
	s.hosts = allowedHosts(cfg)
	return s, nil
}

// Listen binds the listener; Addr is then known.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("clickhouse http: listening on %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	s.hosts["localhost:"+port], s.hosts["127.0.0.1:"+port], s.hosts["[::1]:"+port] = true, true, true
	s.hosts[ln.Addr().String()] = true
	return nil
}

// Addr is where the interface listens (after Listen).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Run serves until ctx is done, then shuts down within the configured time.
func (s *Server) Run(ctx context.Context) error {
	if s.ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	s.http = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- s.http.Serve(s.ln) }()
	s.log.Info().Str("addr", s.Addr()).Int("users", len(s.users)).Msg("clickhouse http interface listening")
	select {
	case err := <-errc:
		return fmt.Errorf("clickhouse http: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := s.http.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("clickhouse http: shutting down: %w", err)
	}
	return nil
}

// ServeHTTP is one request's road: host → route → user → budget → read →
// statement → guard → run → answer.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.hosts[strings.ToLower(r.Host)] {
		http.Error(w, fmt.Sprintf("Host %q is not served here (see --clickhouse-http-hosts)", r.Host), http.StatusMisdirectedRequest)
		return
	}
	switch r.URL.Path {
	case "/ping", "/replicas_status":
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		w.Write([]byte("Ok.\n"))
		return
	case "/":
		if r.Method == http.MethodGet && !r.URL.Query().Has("query") {
			// As a server's default handler: GET / is a health check.
			w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
			w.Write([]byte("Ok.\n"))
			return
		}
	default:
		http.Error(w, "There is no handle "+r.URL.Path+"\n\nUse / or /ping for health checks.", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "use GET (read-only) or POST", http.StatusMethodNotAllowed)
		return
	}
	queryID := r.URL.Query().Get("query_id")
	if queryID == "" {
		queryID = fmt.Sprintf("%x-%d", time.Now().UnixNano(), s.seq.Add(1))
	}
	w.Header().Set("X-ClickHouse-Query-Id", queryID)
	w.Header().Set("X-ClickHouse-Timezone", s.timezone)
	w.Header().Set("X-ClickHouse-Server-Display-Name", s.display)
	u, ex := s.authenticate(r)
	if ex != nil {
		s.fail(w, r, nil, ex)
		return
	}
	select {
	case u.slots <- struct{}{}:
		defer func() { <-u.slots }()
	default:
		s.fail(w, r, u, exception(codeTooManyQueries, "Too many simultaneous queries for user %s. Maximum: %d", u.name, cap(u.slots)))
		return
	}
	start := time.Now()
	ans, ex := s.answer(r, u)
	if ex != nil {
		s.fail(w, r, u, ex)
		return
	}
	s.write(w, r, u, ans, time.Since(start))
}

// answer is a statement's result, ready to send.
type answer struct {
	body         []byte
	format       string
	resultRows   int64
	writtenRows  int64
	writtenBytes int64
}

func (s *Server) answer(r *http.Request, u *user) (*answer, *Exception) {
	p := params{r.URL.Query()}
	limit := s.cfg.MaxQueryBytes
	if u.admin() && r.Method == http.MethodPost {
		limit = s.cfg.MaxInsertBytes
	}
	body, err := readBody(r, limit, p.flag("decompress"))
	if errors.Is(err, errBodyTooLarge) {
		return nil, exception(codeBadArguments, "Request body is larger than %d bytes (--clickhouse-http-max-insert-bytes)", limit)
	}
	if err != nil {
		return nil, engineException(err)
	}
	st, ex := s.parse(r, u, p, body)
	if ex != nil {
		return nil, ex
	}
	settings, ex := querySettings(p, u)
	if ex != nil {
		return nil, ex
	}
	database, ex := s.databaseFor(u, p.get("database"))
	if ex != nil {
		return nil, ex
	}
	if !u.admin() {
		filters, ex := s.guard(u, database, st)
		if ex != nil {
			return nil, ex
		}
		settings = append([]string{"additional_table_filters = " + filters}, settings...)
	}
	format := p.get("default_format")
	if format == "" {
		format = "TabSeparated"
	}
	if !formatName.MatchString(format) {
		return nil, exception(codeUnknownFormat, "Unknown format %s", format)
	}
	if st.format != "" {
		format = st.format
	}
	return s.run(u, p, st, settings, database, format)
}

// databaseFor is the database a statement runs in: the one asked for, or
// the user's default (the data database for a tenant user).
func (s *Server) databaseFor(u *user, asked string) (string, *Exception) {
	if u.admin() {
		if asked == "" {
			return "default", nil
		}
		return asked, nil
	}
	if asked != "" && asked != s.database {
		return "", exception(codeAccessDenied, "%s: Not enough privileges. To execute this query, it's necessary to have the grant SHOW DATABASES ON %s.*", u.name, asked)
	}
	return s.database, nil
}

// write sends a successful answer with the headers clients read.
func (s *Server) write(w http.ResponseWriter, r *http.Request, u *user, a *answer, elapsed time.Duration) {
	p := params{r.URL.Query()}
	coding := answerCoding(r, p)
	body, err := encodeAnswer(a.body, coding)
	if err != nil {
		s.fail(w, r, u, exception(1001, "encoding the answer: %v", err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", contentType(a.format))
	h.Set("X-ClickHouse-Format", a.format)
	if coding != "" && !strings.HasPrefix(coding, "native/") {
		h.Set("Content-Encoding", coding)
		h.Set("Vary", "Accept-Encoding")
	}
	h.Set("X-ClickHouse-Summary", fmt.Sprintf(
		`{"read_rows":"0","read_bytes":"0","written_rows":"%d","written_bytes":"%d","total_rows_to_read":"0","result_rows":"%d","result_bytes":"%d","elapsed_ns":"%d"}`,
		a.writtenRows, a.writtenBytes, a.resultRows, len(a.body), elapsed.Nanoseconds()))
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
	s.count(r, u, "ok", elapsed)
	s.log.Debug().Str("user", u.name).Str("format", a.format).Int("bytes", len(a.body)).Dur("elapsed", elapsed).Msg("clickhouse http query answered")
}

// fail answers an exception as a server does.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, u *user, ex *Exception) {
	name := ""
	if u != nil {
		name = u.name
	}
	ev := s.log.Debug()
	if ex.Code == codeAccessDenied || ex.Code == codeAuthenticationFailed {
		ev = s.log.Info()
	}
	ev.Str("user", name).Int("code", ex.Code).Str("error", ex.Name).Str("remote", r.RemoteAddr).Msg("clickhouse http query refused")
	s.count(r, u, ex.Name, 0)
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	h.Set("X-ClickHouse-Exception-Code", strconv.Itoa(ex.Code))
	w.WriteHeader(ex.status())
	w.Write([]byte(ex.body(s.version)))
}

func (s *Server) count(r *http.Request, u *user, outcome string, elapsed time.Duration) {
	kind := "none"
	if u != nil {
		kind = "tenant"
		if u.admin() {
			kind = "admin"
		}
	}
	if outcome == "" {
		outcome = "UNKNOWN_EXCEPTION"
	}
	attrs := metric.WithAttributes(attribute.String("user_kind", kind), attribute.String("outcome", outcome))
	s.queries.Add(r.Context(), 1, attrs)
	if elapsed > 0 {
		s.duration.Record(r.Context(), elapsed.Seconds(), attrs)
	}
}

func contentType(format string) string {
	f := strings.ToLower(format)
	switch {
	case strings.HasPrefix(f, "json"):
		return "application/json; charset=UTF-8"
	case strings.HasPrefix(f, "tabseparated"), strings.HasPrefix(f, "tsv"):
		return "text/tab-separated-values; charset=UTF-8"
	case strings.HasPrefix(f, "csv"):
		return "text/csv; charset=UTF-8; header=absent"
	case strings.HasPrefix(f, "native"), strings.HasPrefix(f, "rowbinary"), f == "parquet", f == "arrow", f == "arrowstream", f == "orc", f == "avro":
		return "application/octet-stream"
	}
	return "text/plain; charset=UTF-8"
}
