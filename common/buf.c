/* buf.c - see buf.h */
#include "common/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void eq_buf_init(eq_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void eq_buf_cleanup(eq_buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void eq_buf_reset(eq_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

int eq_buf_reserve(eq_buf *b, size_t total, eq_err *err)
{
    size_t ncap;
    char *p;
    if (total + 1 <= b->cap)
        return 0;
    if (total > b->max)
        return eq_fail(err, EQ_ERR_NOMEM, "buffer limit of %zu bytes reached", b->max);
    ncap = b->cap ? b->cap : 256;
    while (ncap < total + 1)
        ncap *= 2;
    if (ncap > b->max + 1)
        ncap = b->max + 1;
    p = realloc(b->data, ncap);
    if (!p)
        return eq_fail(err, EQ_ERR_NOMEM, "out of memory (%zu bytes)", ncap);
    b->data = p;
    b->cap = ncap;
    return 0;
}

int eq_buf_append(eq_buf *b, const void *p, size_t n, eq_err *err)
{
    if (n > b->max - b->len)
        return eq_fail(err, EQ_ERR_NOMEM, "buffer limit of %zu bytes reached", b->max);
    if (eq_buf_reserve(b, b->len + n, err) < 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int eq_buf_puts(eq_buf *b, const char *s, eq_err *err)
{
    return eq_buf_append(b, s, strlen(s), err);
}

int eq_buf_printf(eq_buf *b, eq_err *err, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return eq_fail(err, EQ_ERR_INVALID, "format error");
    if ((size_t)n > b->max - b->len)
        return eq_fail(err, EQ_ERR_NOMEM, "buffer limit of %zu bytes reached", b->max);
    if (eq_buf_reserve(b, b->len + (size_t)n, err) < 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}
