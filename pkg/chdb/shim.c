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

// release_clean drops the present, file-backed (never copied-on-write)
// pages of [lo, hi) from this process's mappings: runs of them found with
// /proc/self/pagemap (bit 63 present, bit 61 file page or shared).
static size_t release_clean(int pm, unsigned long lo, unsigned long hi) {
	const unsigned long pg = 4096;
	size_t total = 0;
	unsigned long run = 0;
	uint64_t ent[512];
	for (unsigned long a = lo; a < hi;) {
		size_t n = (hi - a) / pg;
		if (n > 512) n = 512;
		ssize_t got = pread(pm, ent, n * 8, (off_t)(a / pg * 8));
		if (got <= 0) break;
		n = (size_t)got / 8;
		for (size_t i = 0; i < n; i++, a += pg) {
			int clean = (ent[i] >> 63 & 1) && (ent[i] >> 61 & 1);
			if (clean && run == 0) run = a;
			if (!clean && run != 0) {
				if (madvise((void *)run, a - run, MADV_DONTNEED) == 0) total += a - run;
				run = 0;
			}
		}
	}
	if (run != 0 && madvise((void *)run, hi - run, MADV_DONTNEED) == 0) total += hi - run;
	return total;
}

size_t tl_release_text(const char *path) {
	FILE *f = fopen("/proc/self/maps", "r");
	if (f == NULL) return 0;
	int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pm < 0) {
		fclose(f);
		return 0;
	}
	char line[4096], perms[8], name[4096];
	unsigned long lo, hi;
	size_t total = 0;
	while (fgets(line, sizeof line, f) != NULL) {
		name[0] = 0;
		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %4095s", &lo, &hi, perms, name) < 3) continue;
		// Read-only mappings only (code, constants), and in them only pages
		// still the file's: a relocated (RELRO) page is the process's own
		// copy, which MADV_DONTNEED would drop.
		if (perms[1] != '-' || perms[3] != 'p' || strcmp(name, path) != 0) continue;
		total += release_clean(pm, lo, hi);
	}
	close(pm);
	fclose(f);
	return total;
}
