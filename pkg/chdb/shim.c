#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "shim.h"

// chdb_connection is an opaque pointer; chdb_connect returns a pointer to it.
typedef void *chdb_connection;

static void *(*p_connect)(int, char **);
static void (*p_close)(void *);
static void *(*p_query_n)(chdb_connection, const char *, size_t, const char *, size_t);
static void *(*p_query_params_n)(chdb_connection, const char *, size_t, const char *, size_t,
                                 const char **, const size_t *, const char **, const size_t *, size_t);
static void (*p_destroy)(void *);
static const char *(*p_error)(void *);
static char *(*p_buffer)(void *);
static size_t (*p_length)(void *);
static void (*p_set_signals)(int);

// The signals the Go runtime owns. chdb_set_signal_handlers_enabled(0) and
// chdb_connect reset them to SIG_DFL, which would turn a Go nil-pointer panic
// into a hard crash; so their handlers are saved before and restored after.
static const int go_signals[] = {SIGABRT, SIGSEGV, SIGILL, SIGBUS, SIGSYS, SIGFPE,
                                 SIGTSTP, SIGTRAP, SIGPIPE, SIGURG, SIGPROF};
#define NSIG_SAVED (sizeof(go_signals) / sizeof(go_signals[0]))
static struct sigaction saved[NSIG_SAVED];

static void save_signals(void) {
	for (size_t i = 0; i < NSIG_SAVED; i++) sigaction(go_signals[i], NULL, &saved[i]);
}
static void restore_signals(void) {
	for (size_t i = 0; i < NSIG_SAVED; i++) sigaction(go_signals[i], &saved[i], NULL);
}

#define SYM(var, name)                                   \
	do {                                                 \
		*(void **)(&var) = dlsym(h, name);               \
		if (!var) return "missing symbol " name;         \
	} while (0)

const char *tl_load(const char *path) {
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) return dlerror();
	SYM(p_connect, "chdb_connect");
	SYM(p_close, "chdb_close_conn");
	SYM(p_query_n, "chdb_query_n");
	SYM(p_query_params_n, "chdb_query_with_params_n");
	SYM(p_destroy, "chdb_destroy_query_result");
	SYM(p_error, "chdb_result_error");
	SYM(p_buffer, "chdb_result_buffer");
	SYM(p_length, "chdb_result_length");
	SYM(p_set_signals, "chdb_set_signal_handlers_enabled");
	save_signals();
	p_set_signals(0);
	restore_signals();
	return NULL;
}

tl_conn *tl_connect(int argc, char **argv) {
	save_signals();
	void *c = p_connect(argc, argv);
	restore_signals();
	return (tl_conn *)c;
}

void tl_close(tl_conn *c) { p_close((void *)c); }

tl_result *tl_query(tl_conn *c, const char *q, size_t qlen, const char *f, size_t flen) {
	chdb_connection conn = *(chdb_connection *)c;
	return (tl_result *)p_query_n(conn, q, qlen, f, flen);
}

tl_result *tl_query_params(tl_conn *c, const char *q, size_t qlen, const char *f, size_t flen,
                           const char **names, const char **values, const size_t *vlens, size_t n) {
	chdb_connection conn = *(chdb_connection *)c;
	return (tl_result *)p_query_params_n(conn, q, qlen, f, flen, names, NULL, values, vlens, n);
}

void tl_free(tl_result *r) { p_destroy((void *)r); }
const char *tl_error(tl_result *r) { return p_error((void *)r); }
char *tl_buffer(tl_result *r) { return p_buffer((void *)r); }
size_t tl_length(tl_result *r) { return p_length((void *)r); }

int tl_malloc_arenas(int n) {
	const char *tun = getenv("GLIBC_TUNABLES");
	if (getenv("MALLOC_ARENA_MAX") != NULL || (tun != NULL && strstr(tun, "glibc.malloc.arena_max") != NULL)) return 0;
	return mallopt(M_ARENA_MAX, n);
}

