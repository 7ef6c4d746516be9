// A thin C shim over libchdb, resolved with dlopen so nothing links against it.
#ifndef TL_CHDB_SHIM_H
#define TL_CHDB_SHIM_H
#include <stddef.h>

typedef struct tl_conn tl_conn;
typedef struct tl_result tl_result;

const char *tl_load(const char *path);
tl_conn *tl_connect(int argc, char **argv);
void tl_close(tl_conn *c);
tl_result *tl_query(tl_conn *c, const char *q, size_t qlen, const char *f, size_t flen);
tl_result *tl_query_params(tl_conn *c, const char *q, size_t qlen, const char *f, size_t flen,
                           const char **names, const char **values, const size_t *vlens, size_t n);
void tl_free(tl_result *r);
const char *tl_error(tl_result *r);
char *tl_buffer(tl_result *r);
size_t tl_length(tl_result *r);
// tl_malloc_arenas caps glibc's malloc arenas at n unless MALLOC_ARENA_MAX or
// GLIBC_TUNABLES (glibc.malloc.arena_max) set them; 0 when left alone.
int tl_malloc_arenas(int n);
#endif
