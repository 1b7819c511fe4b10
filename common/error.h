/* error.h - the one error type of exportq.
 *
 * Every fallible function returns int (0 on success, -1 on failure) and fills a
 * caller-owned eq_err with a code and a human-readable message that carries its
 * context ("s3 UploadPart part 3: HTTP 403 SignatureDoesNotMatch (request id ..)").
 * Messages never contain secrets. eq_err is a plain value: no allocation, nothing
 * to free.
 */
#ifndef EXPORTQ_COMMON_ERROR_H
#define EXPORTQ_COMMON_ERROR_H

#include <stdbool.h>
#include <stddef.h>

#define EQ_MUST __attribute__((warn_unused_result))
#define EQ_PRINTF(f, a) __attribute__((format(printf, f, a)))

typedef enum eq_code {
    EQ_OK = 0,
    EQ_ERR_INVALID,   /* bad input from a user or caller */
    EQ_ERR_CONFIG,    /* bad or missing configuration */
    EQ_ERR_NOMEM,     /* allocation failed or a hard buffer limit was hit */
    EQ_ERR_IO,        /* local I/O, sockets */
    EQ_ERR_DB,        /* PostgreSQL */
    EQ_ERR_S3,        /* object storage */
    EQ_ERR_SMTP,      /* mail */
    EQ_ERR_NOT_FOUND, /* no such job, kind, token, object */
    EQ_ERR_CONFLICT,  /* state does not allow it (not ready, lease lost) */
    EQ_ERR_CANCELLED, /* the job was cancelled or the client went away */
    EQ_ERR_LIMIT,     /* a cap was reached (streams, rate, size) */
} eq_code;

typedef struct eq_err {
    eq_code code;
    bool retryable; /* a later attempt may succeed (network, 5xx, lease) */
    char msg[1024];
} eq_err;

/* Sets code and message; always returns -1 so callers can `return eq_fail(...)`. */
int eq_fail(eq_err *err, eq_code code, const char *fmt, ...) EQ_PRINTF(3, 4);
/* Same, marking the error retryable. */
int eq_fail_retry(eq_err *err, eq_code code, const char *fmt, ...) EQ_PRINTF(3, 4);
/* Prepends context to an existing message: "context: old message". Returns -1. */
int eq_err_context(eq_err *err, const char *fmt, ...) EQ_PRINTF(2, 3);
void eq_err_clear(eq_err *err);
const char *eq_code_name(eq_code code);

#endif
