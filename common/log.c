/* log.c - see log.h */
#include "common/log.h"

#include "common/log_ctx.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static eq_log_level g_level = EQ_LOG_INFO;
static eq_log_format g_format = EQ_LOG_TEXT;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void eq_log_setup(eq_log_level level, eq_log_format format)
{
    g_level = level;
    g_format = format;
}

eq_log_level eq_log_get_level(void) { return g_level; }

/* Appends s to out[*n..] as JSON string content (no quotes). */
static void json_escape(char *out, size_t cap, size_t *n, const char *s, size_t slen)
{
    for (size_t i = 0; i < slen && *n + 7 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[(*n)++] = '\\';
            out[(*n)++] = (char)c;
        } else if (c < 0x20) {
            *n += (size_t)snprintf(out + *n, cap - *n, "\\u%04x", c);
        } else {
            out[(*n)++] = (char)c;
        }
    }
}

/* Appends s to out[*n..] for a text line: control characters (C0, DEL and
 * the C1 range U+0080..U+009F, which some terminals treat as line breaks) and
 * the backslash are escaped as in JSON mode (\u000a, \\), so user text
 * (a percent-decoded path, an owner id) can never start a forged line. */
static void text_escape(char *out, size_t cap, size_t *n, const char *s)
{
    for (size_t i = 0; s[i] && *n + 7 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\') {
            out[(*n)++] = '\\';
            out[(*n)++] = '\\';
        } else if (c < 0x20 || c == 0x7f) {
            *n += (size_t)snprintf(out + *n, cap - *n, "\\u%04x", c);
        } else if (c == 0xc2 && (unsigned char)s[i + 1] >= 0x80 && (unsigned char)s[i + 1] <= 0x9f) {
            *n += (size_t)snprintf(out + *n, cap - *n, "\\u%04x", (unsigned char)s[i + 1]);
            i++;
        } else {
            out[(*n)++] = (char)c;
        }
    }
}

static void append(char *out, size_t cap, size_t *n, const char *s)
{
    size_t l = strlen(s);
    if (*n + 1 >= cap)
        return;
    if (*n + l >= cap)
        l = cap - *n - 1;
    memcpy(out + *n, s, l);
    *n += l;
}

void eq_log(eq_log_level level, const char *ctx, const char *fmt, ...)
{
    char msg[2048], line[4096], ts[40];
    size_t n = 0;
    struct timespec now;
    struct tm tm;
    va_list ap;

    if (level < g_level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             now.tv_nsec / 1000000);

    if (g_format == EQ_LOG_JSON) {
        append(line, sizeof line, &n, "{\"ts\":\"");
        append(line, sizeof line, &n, ts);
        append(line, sizeof line, &n, "\",\"level\":\"");
        append(line, sizeof line, &n, level_names[level]);
        append(line, sizeof line, &n, "\",\"msg\":\"");
        json_escape(line, sizeof line, &n, msg, strlen(msg));
        append(line, sizeof line, &n, "\"");
        if (ctx) {
            const char *p = ctx, *key;
            size_t keylen;
            char val[EQ_LOGCTX_MAX];
            while (eq_logctx_next(&p, &key, &keylen, val, sizeof val)) {
                append(line, sizeof line, &n, ",\"");
                json_escape(line, sizeof line, &n, key, keylen);
                append(line, sizeof line, &n, "\":\"");
                json_escape(line, sizeof line, &n, val, strlen(val));
                append(line, sizeof line, &n, "\"");
            }
        }
        append(line, sizeof line, &n, "}\n");
    } else {
        append(line, sizeof line, &n, ts);
        append(line, sizeof line, &n, " ");
        append(line, sizeof line, &n, level_names[level]);
        append(line, sizeof line, &n, " ");
        if (ctx && *ctx) {
            append(line, sizeof line, &n, "[");
            text_escape(line, sizeof line, &n, ctx);
            append(line, sizeof line, &n, "] ");
        }
        text_escape(line, sizeof line, &n, msg);
        if (n >= sizeof line - 1)
            n = sizeof line - 2;
        line[n++] = '\n';
    }
    /* One write per line; a short write to stderr is not worth a retry loop. */
    if (write(STDERR_FILENO, line, n) < 0) {
        /* nowhere left to report it */
    }
}

void eq_redact_url(const char *url, char *out, size_t outsz)
{
    const char *auth, *auth_end, *at = NULL, *colon = NULL, *q;
    size_t n;
    if (!outsz)
        return;
    out[0] = '\0';
    if (!url)
        return;
    auth = strstr(url, "://");
    auth = auth ? auth + 3 : url;
    auth_end = auth + strcspn(auth, "/?#");
    for (const char *p = auth; p < auth_end; p++)
        if (*p == '@')
            at = p;
    if (at)
        colon = memchr(auth, ':', (size_t)(at - auth));
    if (colon) /* user:password@ -> user:***@ */
        snprintf(out, outsz, "%.*s:***", (int)(colon - url), url);
    else
        snprintf(out, outsz, "%.*s", (int)((at ? at : auth) - url), url);
    n = strlen(out);
    url = at ? at : auth;
    q = strchr(url, '?');
    if (q)
        snprintf(out + n, outsz - n, "%.*s?***", (int)(q - url), url);
    else
        snprintf(out + n, outsz - n, "%s", url);
}
