package console

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/throughline/throughline/pkg/chstore"
)

// MaxStatementBytes is the largest request body /v1/sql reads.
const MaxStatementBytes = 1 << 20

// TruncatedHeader is set to "true" on an answer whose rows were cut.
const TruncatedHeader = "X-Throughline-Truncated"

// request is the JSON body form of /v1/sql.
type request struct {
	Query  string            `json:"query"`
	Params map[string]string `json:"params"`
	Format string            `json:"format"`
}

// handleSQL runs one read-only statement: POST with the SQL as the body
// (Content-Type application/sql) or JSON {"query": "…", "params": {…}}
// (application/json). Query parameters {name:Type} are bound from
// param_<name>=… (as in ClickHouse's HTTP interface) or from "params".
// It needs the admin token; a content type a web page could send without a
// CORS preflight is refused (access.go).
func (c *Console) handleSQL(w http.ResponseWriter, r *http.Request) {
	if !c.authorized(r) {
		c.count(r.Context(), "unauthorized")
		w.Header().Set("WWW-Authenticate", `Bearer realm="throughline-sql"`)
		msg := "a valid bearer token is required: Authorization: Bearer <the console's --sql-token>"
		if c.cfg.SQLToken == "" {
			msg = "the SQL endpoint is off: start the console with --sql-token (or $THROUGHLINE_SQL_TOKEN, --sql-token-file)"
		}
		writeError(w, http.StatusUnauthorized, msg)
		return
	}
	if simpleContentType(r) {
		c.count(r.Context(), "rejected")
		writeError(w, http.StatusUnsupportedMediaType, "Content-Type: send the statement as application/sql, or JSON as application/json")
		return
	}
	req, status, err := readRequest(r)
	if err != nil {
		c.count(r.Context(), "rejected")
		writeError(w, status, err.Error())
		return
	}
	format, err := pickFormat(r, req.Format)
	if err != nil {
		c.count(r.Context(), "rejected")
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	user := sqlUser(r)
	if !c.users.acquire(user, c.cfg.MaxConcurrentPerUser) {
		c.count(r.Context(), "busy_user")
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, fmt.Sprintf(
			"you already run %d statement(s) at once, the most one user may; retry when it is done", c.cfg.MaxConcurrentPerUser))
		return
	}
	defer c.users.release(user)
	select {
	case c.sem <- struct{}{}:
		defer func() { <-c.sem }()
	default:
		c.count(r.Context(), "busy")
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("%d statements are already running; retry shortly", c.cfg.MaxConcurrent))
		return
	}
	start := time.Now()
	res, err := c.execute(r.Context(), req.Query, req.Params)
	elapsed := time.Since(start)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	body, truncated, err := render(res, format, c.cfg.MaxRows, c.cfg.MaxBytes, elapsed)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.count(r.Context(), "ok")
	c.latency.Record(r.Context(), elapsed.Seconds())
	c.log.Debug().Int("rows", len(res.Rows)).Bool("truncated", truncated).Dur("elapsed", elapsed).Msg("sql statement answered")
	w.Header().Set("Content-Type", contentType(format))
	w.Header().Set(TruncatedHeader, strconv.FormatBool(truncated))
	w.Write(body)
}

// execute normalises, checks and runs one statement under the limits.
func (c *Console) execute(ctx context.Context, q string, params chstore.Params) (*chstore.Result, error) {
	norm, err := normalise(ctx, c.sqlStore, q)
	if err != nil {
		return nil, err
	}
	if err := checkReading(norm); err != nil {
		return nil, err
	}
	// The engine stops the statement at max_execution_time, but not always
	// on time: some stages (a large sort, a hash table being built) do not
	// look at the clock. So a watchdog kills it (KILL QUERY by its marker,
	// from the pipeline's connection) once the limit and a grace have
	// passed, or when the caller hangs up; the deadline is the backstop for
	// a server store whose connection hangs.
	marker := newMarker()
	ctx, cancel := context.WithTimeout(ctx, c.cfg.QueryTimeout+killGrace+5*time.Second)
	defer cancel()
	stop := c.watchdog(ctx, marker)
	res, err := c.sqlStore.Query(ctx, norm+limitSettings(c.cfg, marker), params)
	killed := stop()
	if err != nil {
		if killed {
			return nil, &engineError{msg: fmt.Sprintf("statement stopped: it ran past the %v limit (%v)", c.cfg.QueryTimeout, stripScope(err.Error()))}
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("running statement: %w", err)
		}
		return nil, &engineError{msg: err.Error()}
	}
	return res, nil
}

func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	var rej *Rejected
	var eng *engineError
	switch {
	case errors.As(err, &rej):
		c.count(r.Context(), "rejected")
		writeError(w, http.StatusBadRequest, rej.Reason)
	case errors.As(err, &eng):
		c.count(r.Context(), "engine_error")
		writeError(w, http.StatusBadRequest, eng.msg)
	case errors.Is(err, context.DeadlineExceeded):
		c.count(r.Context(), "failed")
		writeError(w, http.StatusGatewayTimeout, err.Error())
	default:
		c.count(r.Context(), "failed")
		c.log.Error().Err(err).Msg("sql statement failed")
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}

func (c *Console) count(ctx context.Context, outcome string) {
	c.queries.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", outcome)))
}

// sqlUser is whom a statement counts against in MaxConcurrentPerUser: the
// digest of its bearer token, else its address.
func sqlUser(r *http.Request) string {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && strings.TrimSpace(tok) != "" {
		d := sha256.Sum256([]byte(strings.TrimSpace(tok)))
		return "token:" + hex.EncodeToString(d[:8])
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "addr:" + host
}

// userSlots counts the statements each user runs.
type userSlots struct {
	mu      sync.Mutex
	running map[string]int
}

func (u *userSlots) acquire(user string, max int) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.running == nil {
		u.running = map[string]int{}
	}
	if u.running[user] >= max {
		return false
	}
	u.running[user]++
	return true
}

func (u *userSlots) release(user string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.running[user]--; u.running[user] <= 0 {
		delete(u.running, user)
	}
}

func (c *Console) authorized(r *http.Request) bool {
	if c.cfg.SQLToken == "" {
		return false
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(c.cfg.SQLToken)) == 1
}

func readRequest(r *http.Request) (request, int, error) {
	req := request{Params: chstore.Params{}}
	{
		body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxStatementBytes))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return req, http.StatusRequestEntityTooLarge, fmt.Errorf("statement longer than %d bytes", MaxStatementBytes)
			}
			return req, http.StatusBadRequest, fmt.Errorf("reading statement: %w", err)
		}
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if trimmed := bytes.TrimSpace(body); mt == "application/json" || bytes.HasPrefix(trimmed, []byte("{")) {
			if err := json.Unmarshal(trimmed, &req); err != nil {
				return req, http.StatusBadRequest, fmt.Errorf("decoding JSON body: %w", err)
			}
			if req.Params == nil {
				req.Params = chstore.Params{}
			}
		} else {
			req.Query = string(body)
		}
	}
	for k, vs := range r.URL.Query() {
		if name, ok := strings.CutPrefix(k, "param_"); ok && name != "" && len(vs) > 0 {
			req.Params[name] = vs[0]
		}
	}
	if strings.TrimSpace(req.Query) == "" {
		return req, http.StatusBadRequest, errors.New("no statement: send the SQL as the body, or as JSON {\"query\": \"…\"}")
	}
	return req, 0, nil
}

// pickFormat chooses the output: ?format= (or "format" in a JSON body), else
// the Accept header, else JSON.
func pickFormat(r *http.Request, fromBody string) (string, error) {
	f := r.URL.Query().Get("format")
	if f == "" {
		f = fromBody
	}
	if f == "" {
		accept := r.Header.Get("Accept")
		switch {
		case strings.Contains(accept, "text/csv"):
			return FormatCSV, nil
		case strings.Contains(accept, "text/tab-separated-values"):
			return FormatTSV, nil
		}
		return FormatJSON, nil
	}
	switch strings.ToLower(f) {
	case "json":
		return FormatJSON, nil
	case "csv":
		return FormatCSV, nil
	case "tsv", "tabseparated":
		return FormatTSV, nil
	}
	return "", fmt.Errorf("format: %q is not json, csv or tsv", f)
}

func contentType(format string) string {
	switch format {
	case FormatCSV:
		return "text/csv; charset=utf-8"
	case FormatTSV:
		return "text/tab-separated-values; charset=utf-8"
	}
	return "application/json"
}

// ErrorBody is the JSON body of every error answer.
type ErrorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(ErrorBody{Error: msg})
}
