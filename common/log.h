/* log.h - levelled logging to stderr (journald picks it up), text or JSON.
 *
 * eq_log(level, ctx, fmt, ...): `ctx` is NULL or a space-separated list of
 * key=value pairs ("job=42 part=3 owner=u1") that give the line its context; in
 * JSON format each pair becomes a field. Build a context that holds user text
 * (owner, kind) with eq_logctx_format() (log_ctx.h), which quotes and escapes
 * values, so `owner="Jane Doe kind=forged"` stays one field. One line is written with one write(2),
 * so lines from threads never interleave. Never pass secrets: use
 * eq_redact_url() for anything URL-shaped.
 */
#ifndef EXPORTQ_COMMON_LOG_H
#define EXPORTQ_COMMON_LOG_H

#include <stddef.h>
#include "common/error.h"

typedef enum eq_log_level { EQ_LOG_DEBUG = 0, EQ_LOG_INFO, EQ_LOG_WARN, EQ_LOG_ERROR } eq_log_level;
typedef enum eq_log_format { EQ_LOG_TEXT = 0, EQ_LOG_JSON } eq_log_format;

void eq_log_setup(eq_log_level level, eq_log_format format);
eq_log_level eq_log_get_level(void);
void eq_log(eq_log_level level, const char *ctx, const char *fmt, ...) EQ_PRINTF(3, 4);

#define eq_debug(ctx, ...) eq_log(EQ_LOG_DEBUG, ctx, __VA_ARGS__)
#define eq_info(ctx, ...) eq_log(EQ_LOG_INFO, ctx, __VA_ARGS__)
#define eq_warn(ctx, ...) eq_log(EQ_LOG_WARN, ctx, __VA_ARGS__)
#define eq_error(ctx, ...) eq_log(EQ_LOG_ERROR, ctx, __VA_ARGS__)

/* Copies `url` to `out` without userinfo passwords and without the query
 * string (presigned signatures, tokens): "smtp://user:***@host:25",
 * "https://h/b/k?***". Always NUL-terminates. */
void eq_redact_url(const char *url, char *out, size_t outsz);

#endif
