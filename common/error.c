/* error.c - see error.h */
#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 4, 0)))
static int vfail(eq_err *err, eq_code code, bool retry, const char *fmt, va_list ap)
{
    if (!err)
        return -1;
    err->code = code;
    err->retryable = retry;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    return -1;
}

int eq_fail(eq_err *err, eq_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(err, code, false, fmt, ap);
    va_end(ap);
    return -1;
}

int eq_fail_retry(eq_err *err, eq_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(err, code, true, fmt, ap);
    va_end(ap);
    return -1;
}

int eq_err_context(eq_err *err, const char *fmt, ...)
{
    char ctx[256], old[sizeof err->msg];
    va_list ap;
    if (!err)
        return -1;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    snprintf(err->msg, sizeof err->msg, "%s: %s", ctx, old);
    return -1;
}

void eq_err_clear(eq_err *err)
{
    if (err) {
        err->code = EQ_OK;
        err->retryable = false;
        err->msg[0] = '\0';
    }
}

const char *eq_code_name(eq_code code)
{
    switch (code) {
    case EQ_OK: return "ok";
    case EQ_ERR_INVALID: return "invalid";
    case EQ_ERR_CONFIG: return "config";
    case EQ_ERR_NOMEM: return "nomem";
    case EQ_ERR_IO: return "io";
    case EQ_ERR_DB: return "db";
    case EQ_ERR_S3: return "s3";
    case EQ_ERR_SMTP: return "smtp";
    case EQ_ERR_NOT_FOUND: return "not_found";
    case EQ_ERR_CONFLICT: return "conflict";
    case EQ_ERR_CANCELLED: return "cancelled";
    case EQ_ERR_LIMIT: return "limit";
    }
    return "unknown";
}
