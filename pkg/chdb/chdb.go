// Package chdb is Throughline's own small binding to chDB, the ClickHouse engine
// as a library (libchdb.so). The library is loaded with dlopen at run time, so
// every package builds and links without it; Open reports a clear error naming
// the install command when it is missing.
//
// One process may open one data path: libchdb keeps a single global engine.
// More connections to that engine (Session) run statements side by side,
// each with its own session, seeing the same tables.
package chdb

/*
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"unsafe"
)

// InstallHint is the command that installs libchdb into the project's cache.
const InstallHint = "scripts/install-libchdb.sh (or: make libchdb)"

// ErrNotInstalled is returned by Open when libchdb.so cannot be found or loaded.
var ErrNotInstalled = errors.New("libchdb.so not found")

// LibraryPath returns where libchdb.so is looked for: $THROUGHLINE_LIBCHDB if
// set, else the cache the install script writes to.
func LibraryPath() string {
	if p := os.Getenv("THROUGHLINE_LIBCHDB"); p != "" {
		return p
	}
	return filepath.Join(CacheDir(), "libchdb.so")
}

// CacheDir is where scripts/install-libchdb.sh installs the library:
// $THROUGHLINE_CACHE, else $XDG_CACHE_HOME/throughline, else ~/.cache/throughline.
func CacheDir() string {
	if d := os.Getenv("THROUGHLINE_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "throughline")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "throughline-cache")
	}
	return filepath.Join(home, ".cache", "throughline")
}

var (
	loadOnce sync.Once
	loadErr  error
)

// mallocArenas caps glibc's malloc arenas, which libchdb allocates from
// (it is built without jemalloc). glibc makes up to 8 per core, one per
// thread that finds the others busy, and each keeps what its threads freed:
// the engine's pools of threads left a dozen arenas holding tens of MiB at
// rest. Two keep the engine's allocations from contending on one lock on a
// small machine. MALLOC_ARENA_MAX (or GLIBC_TUNABLES) in the environment
// wins: https://www.gnu.org/software/libc/manual/html_node/Memory-Allocation-Tunables.html
const mallocArenas = 2

func load(path string) error {
	// A missing file is checked before the once, so installing the library
	// while the process runs (or a test pointing elsewhere) is noticed.
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("%w at %s: install it with %s, or point THROUGHLINE_LIBCHDB at it", ErrNotInstalled, path, InstallHint)
	}
	loadOnce.Do(func() {
		C.tl_malloc_arenas(mallocArenas)
		cpath := C.CString(path)
		defer C.free(unsafe.Pointer(cpath))
		if msg := C.tl_load(cpath); msg != nil {
			loadErr = fmt.Errorf("%w: loading %s: %s (reinstall with %s)", ErrNotInstalled, path, C.GoString(msg), InstallHint)
		}
	})
	return loadErr
}

// Conn is an open chDB connection to the engine on one data directory.
// Queries on one Conn are serialised: a connection is not safe for
// concurrent use. Statements on different Conns (Session) run at once.
type Conn struct {
	mu   sync.Mutex
	conn *C.tl_conn
	path string
	args []string // the engine's arguments, --path first
	// session: a second connection from Session, whose Close leaves the
	// engine (and the data path's claim) to the Conn that Open returned.
	session bool
}

var (
	openMu   sync.Mutex
	openPath string
)

// Open loads libchdb (once per process) and opens a session on dataDir.
func Open(dataDir string) (*Conn, error) { return OpenArgs(dataDir) }

// OpenArgs is Open with more command-line arguments for the engine, as
// clickhouse-local takes them (e.g. "--config-file=/path/config.xml"). They
// apply to the engine, which is made once per process: a Session gets the
// same ones.
func OpenArgs(dataDir string, args ...string) (*Conn, error) {
	if err := load(LibraryPath()); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, fmt.Errorf("resolving chdb data dir: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("creating chdb data dir: %w", err)
	}
	openMu.Lock()
	defer openMu.Unlock()
	if openPath != "" {
		return nil, fmt.Errorf("chdb: %s is already open in this process (one session per process)", openPath)
	}
	all := append([]string{"--path=" + abs}, args...)
	c := connect(all)
	if c == nil {
		return nil, fmt.Errorf("chdb: connecting to %s failed", abs)
	}
	openPath = abs
	return &Conn{conn: c, path: abs, args: all}, nil
}

// Session opens another connection to the same engine: its statements run
// alongside this connection's, on the same tables — so a long one there
// (a user's SQL) does not hold up statements here (the pipeline's inserts).
// Close it before the Conn it came from.
func (c *Conn) Session() (*Conn, error) {
	c.mu.Lock()
	closed := c.conn == nil
	c.mu.Unlock()
	if closed {
		return nil, errors.New("chdb: connection is closed")
	}
	s := connect(c.args)
	if s == nil {
		return nil, fmt.Errorf("chdb: opening a second connection to %s failed", c.path)
	}
	return &Conn{conn: s, path: c.path, args: c.args, session: true}, nil
}

// connect calls chdb_connect with argv "clickhouse" followed by args.
func connect(args []string) *C.tl_conn {
	argv := make([]*C.char, 0, len(args)+1)
	argv = append(argv, C.CString("clickhouse"))
	for _, a := range args {
		argv = append(argv, C.CString(a))
	}
	defer func() {
		for _, a := range argv {
			C.free(unsafe.Pointer(a))
		}
	}()
	// cgo forbids passing Go memory holding Go pointers; C strings are not.
	cargv := (*[1 << 16]*C.char)(C.malloc(C.size_t(len(argv)) * C.size_t(unsafe.Sizeof(uintptr(0)))))[:len(argv):len(argv)]
	defer C.free(unsafe.Pointer(&cargv[0]))
	copy(cargv, argv)
	return C.tl_connect(C.int(len(argv)), &cargv[0])
}

// Path is the data directory of the session.
func (c *Conn) Path() string { return c.path }

// Query runs one statement and returns its output in the given ClickHouse
// format ("" means TabSeparated). Errors are returned as the engine reports them.
// The query text is passed with its length, so it may hold any bytes.
func (c *Conn) Query(query, format string) ([]byte, error) {
	return c.QueryParams(query, format, nil)
}

// QueryParams is Query with ClickHouse query parameters: {name:Type}
// placeholders in the query are bound to params by the engine, never spliced
// into the text.
func (c *Conn) QueryParams(query, format string, params map[string]string) ([]byte, error) {
	if format == "" {
		format = "TabSeparated"
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queryLocked(query, format, params)
}

// QueryIn runs one statement with database as the session's current
// database, as ClickHouse's HTTP interface does for ?database=. The session
// is shared by every caller, so the switch is made and undone under the one
// lock: no other statement ever sees it. database must be a quoted
// identifier or empty (the session's "default").
func (c *Conn) QueryIn(database, query, format string, params map[string]string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if database == "" {
		return c.queryLocked(query, format, params)
	}
	if _, err := c.queryLocked("USE "+database, "TabSeparated", nil); err != nil {
		return nil, err
	}
	defer c.queryLocked("USE default", "TabSeparated", nil)
	return c.queryLocked(query, format, params)
}

func (c *Conn) queryLocked(query, format string, params map[string]string) ([]byte, error) {
	if format == "" {
		format = "TabSeparated"
	}
	if c.conn == nil {
		return nil, errors.New("chdb: connection is closed")
	}
	q := C.CBytes([]byte(query))
	defer C.free(q)
	f := C.CString(format)
	defer C.free(unsafe.Pointer(f))
	var res *C.tl_result
	if len(params) == 0 {
		res = C.tl_query(c.conn, (*C.char)(q), C.size_t(len(query)), f, C.size_t(len(format)))
	} else {
		res = c.queryParams((*C.char)(q), len(query), f, len(format), params)
	}
	if res == nil {
		return nil, errors.New("chdb: query returned no result")
	}
	defer C.tl_free(res)
	if e := C.tl_error(res); e != nil {
		err := &Error{Message: C.GoString(e)}
		c.drain()
		return nil, err
	}
	n := C.tl_length(res)
	if n == 0 {
		return nil, nil
	}
	return C.GoBytes(unsafe.Pointer(C.tl_buffer(res)), C.int(n)), nil
}

// drainQuery is run after a failed statement, see drain.
const drainQuery = "SELECT 'throughline-drain'"

// drain clears output a failed statement left behind. libchdb (26.5) keeps
// what a statement had written before it failed mid-stream (a runtime error,
// TIMEOUT_EXCEEDED) and prepends it to the next statement's output, which
// would hand that statement's caller someone else's rows. A throwaway
// statement takes the leftovers; it is repeated until its output is clean.
// The caller holds c.mu.
func (c *Conn) drain() {
	q := C.CString(drainQuery)
	defer C.free(unsafe.Pointer(q))
	f := C.CString("TabSeparated")
	defer C.free(unsafe.Pointer(f))
	for range 3 {
		res := C.tl_query(c.conn, q, C.size_t(len(drainQuery)), f, C.size_t(len("TabSeparated")))
		if res == nil {
			return
		}
		clean := C.tl_error(res) == nil && C.tl_length(res) == C.size_t(len("throughline-drain\n")) &&
			C.GoStringN(C.tl_buffer(res), C.int(C.tl_length(res))) == "throughline-drain\n"
		C.tl_free(res)
		if clean {
			return
		}
	}
}

func (c *Conn) queryParams(q *C.char, qlen int, f *C.char, flen int, params map[string]string) *C.tl_result {
	n := len(params)
	// The arrays live in C memory: cgo forbids passing Go memory that holds Go pointers.
	ptrSize := C.size_t(unsafe.Sizeof(uintptr(0)))
	names := (*[1 << 20]*C.char)(C.malloc(C.size_t(n) * ptrSize))[:n:n]
	values := (*[1 << 20]*C.char)(C.malloc(C.size_t(n) * ptrSize))[:n:n]
	lens := (*[1 << 20]C.size_t)(C.malloc(C.size_t(n) * C.size_t(unsafe.Sizeof(C.size_t(0)))))[:n:n]
	i := 0
	for k, v := range params {
		names[i] = C.CString(k)
		values[i] = (*C.char)(C.CBytes([]byte(v)))
		lens[i] = C.size_t(len(v))
		i++
	}
	defer func() {
		for j := 0; j < n; j++ {
			C.free(unsafe.Pointer(names[j]))
			C.free(unsafe.Pointer(values[j]))
		}
		C.free(unsafe.Pointer(&names[0]))
		C.free(unsafe.Pointer(&values[0]))
		C.free(unsafe.Pointer(&lens[0]))
	}()
	return C.tl_query_params(c.conn, q, C.size_t(qlen), f, C.size_t(flen), &names[0], &values[0], &lens[0], C.size_t(n))
}

// Close ends the session. It is idempotent.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return nil
	}
	C.tl_close(c.conn)
	c.conn = nil
	if c.session {
		return nil
	}
	openMu.Lock()
	openPath = ""
	openMu.Unlock()
	return nil
}

// Error is an error reported by the engine, with its text unchanged.
type Error struct{ Message string }

func (e *Error) Error() string { return e.Message }
