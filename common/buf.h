/* buf.h - a byte buffer with a hard maximum.
 *
 * The caller owns the eq_buf value; eq_buf_cleanup() frees the storage (and
 * accepts a zeroed or half-built buffer). Growth never exceeds `max`: an append
 * that would is refused with EQ_ERR_NOMEM and leaves the buffer unchanged.
 * Memory use is therefore bounded by configuration, never by the data.
 */
#ifndef EXPORTQ_COMMON_BUF_H
#define EXPORTQ_COMMON_BUF_H

#include <stddef.h>
#include "common/error.h"

typedef struct eq_buf {
    char *data; /* NUL-terminated when len < cap */
    size_t len;
    size_t cap;
    size_t max;
} eq_buf;

void eq_buf_init(eq_buf *b, size_t max);
void eq_buf_cleanup(eq_buf *b);
void eq_buf_reset(eq_buf *b); /* len = 0, keeps the storage */
int eq_buf_reserve(eq_buf *b, size_t total, eq_err *err) EQ_MUST;
int eq_buf_append(eq_buf *b, const void *p, size_t n, eq_err *err) EQ_MUST;
int eq_buf_puts(eq_buf *b, const char *s, eq_err *err) EQ_MUST;
int eq_buf_printf(eq_buf *b, eq_err *err, const char *fmt, ...) EQ_PRINTF(3, 4) EQ_MUST;

#endif
