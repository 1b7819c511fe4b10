/* log_ctx.h - the context of a log line as a value, rendered in one place.
 *
 * A front end fills an eq_logctx (job, attempt, owner, kind, format, part) and renders
 * it once with eq_logctx_format() into the `ctx` string that eq_log() takes:
 *
 *   job=42 attempt=1 owner="Jane Doe kind=forged" kind=activity format=csv part=3
 *
 * A value that holds a space, '=', '"', '\\', a control character or nothing
 * is quoted, with '"' and '\\' escaped by '\\' and control characters as
 * \u00XX, so user text (an owner id, a kind) can neither add a field nor end
 * the line. eq_log() reads the pairs back with eq_logctx_next(): in JSON
 * format each pair is one field ("owner":"Jane Doe kind=forged").
 * Pure functions; the caller owns every buffer.
 */
#ifndef EXPORTQ_COMMON_LOG_CTX_H
#define EXPORTQ_COMMON_LOG_CTX_H

#include <stdbool.h>
#include <stddef.h>

typedef struct eq_logctx {
    long long job;     /* 0 = none */
    int attempt;       /* 0 = none */
    const char *owner; /* NULL or "" = none */
    const char *kind;  /* NULL or "" = none */
    const char *format; /* NULL or "" = none */
    int part;          /* 0 = none */
} eq_logctx;

#define EQ_LOGCTX_MAX 1024 /* a rendered context never needs more */

/* Renders c into out (always NUL-terminated; cut at a pair boundary when
 * outsz is too small). Returns out. */
const char *eq_logctx_format(const eq_logctx *c, char *out, size_t outsz);

/* Reads the next pair of a context string at *p: key and keylen point into the
 * string, the value is unescaped into val (NUL-terminated, cut to valsz).
 * Advances *p; returns false at the end. A word without '=' is skipped. */
bool eq_logctx_next(const char **p, const char **key, size_t *keylen, char *val, size_t valsz);

#endif
