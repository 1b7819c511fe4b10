/* http_request.c - see http_request.h */
#include "http/http_request.h"

#include "export/export_format.h"

#include "mail/mail_message.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/disposition.h"
#include "common/id.h"
#include "export/export_kind.h"


int http_problem_set(http_problem *p, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    if (!p)
        return -1;
    p->status = status;
    snprintf(p->code, sizeof p->code, "%s", code);
    va_start(ap, fmt);
    vsnprintf(p->message, sizeof p->message, fmt, ap);
    va_end(ap);
    return -1;
}

char *http_problem_json(const http_problem *p)
{
    /* the message may carry a cut multibyte sequence: json_stringn_nocheck
     * would emit invalid UTF-8, so fall back to a generic text then */
    json_t *msg = json_string(p->message);
    json_t *doc;
    char *out;
    if (!msg)
        msg = json_string("invalid request");
    doc = json_pack("{s:{s:s,s:o}}", "error", "code", p->code, "message", msg);
    if (!doc)
        return NULL;
    out = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return out;
}

bool http_kind_name_valid(const char *kind)
{
    return kind && export_kind_name_valid(kind);
}

bool http_param_name_valid(const char *name)
{
    return name && export_param_name_valid(name, strlen(name));
}

int http_params_validate(const json_t *params, http_problem *p)
{
    const char *key;
    json_t *value;
    if (!json_is_object(params))
        return http_problem_set(p, 400, "invalid_params", "params must be a JSON object");
    if (json_object_size(params) > HTTP_PARAMS_MAX)
        return http_problem_set(p, 400, "invalid_params", "params has more than %d members", HTTP_PARAMS_MAX);
    json_object_foreach((json_t *)params, key, value) {
        if (!http_param_name_valid(key))
            return http_problem_set(p, 400, "invalid_params",
                                    "parameter names are 1 to %d letters, digits or _", HTTP_PARAM_NAME_MAX);
        if (json_is_object(value) || json_is_array(value))
            return http_problem_set(p, 400, "invalid_params",
                                    "parameter '%s' must be a string, number, boolean or null", key);
        if (json_is_string(value) && json_string_length(value) > HTTP_PARAM_VALUE_MAX)
            return http_problem_set(p, 400, "invalid_params", "parameter '%s' is longer than %d bytes", key,
                                    HTTP_PARAM_VALUE_MAX);
        if (json_is_string(value) && memchr(json_string_value(value), '\0', json_string_length(value)))
            return http_problem_set(p, 400, "invalid_params", "parameter '%s' contains a NUL character", key);
    }
    return 0;
}

int http_params_bind_owner(json_t *params, const char *owner, http_problem *p)
{
    eq_err err;
    if (export_params_bind_owner(params, owner, &err) < 0)
        return http_problem_set(p, err.code == EQ_ERR_NOMEM ? 500 : 400,
                                err.code == EQ_ERR_NOMEM ? "internal" : "invalid_params", "%s", err.msg);
    return 0;
}


int http_export_req_parse(const char *body, size_t len, http_export_req *out, http_problem *p)
{
    json_error_t jerr;
    json_t *doc = NULL, *kind, *params, *email, *format;
    const char *key;
    json_t *value;

    memset(out, 0, sizeof *out);
    if (len > HTTP_BODY_MAX)
        return http_problem_set(p, 413, "body_too_large", "request body is larger than %d bytes", HTTP_BODY_MAX);
    doc = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        return http_problem_set(p, 400, "invalid_json", "malformed JSON at line %d column %d: %s", jerr.line,
                                jerr.column, jerr.text);
    if (!json_is_object(doc)) {
        http_problem_set(p, 400, "invalid_json", "the body must be a JSON object");
        goto fail;
    }
    json_object_foreach(doc, key, value) {
        if (strcmp(key, "kind") != 0 && strcmp(key, "params") != 0 && strcmp(key, "email") != 0 &&
            strcmp(key, "format") != 0) {
            http_problem_set(p, 400, "invalid_request",
                             "unknown member '%.64s' (expected kind, params, email, format)", key);
            goto fail;
        }
    }
    kind = json_object_get(doc, "kind");
    if (!json_is_string(kind) || !http_kind_name_valid(json_string_value(kind))) {
        http_problem_set(p, 400, "invalid_kind", "kind must be the name of an export kind");
        goto fail;
    }
    snprintf(out->kind, sizeof out->kind, "%s", json_string_value(kind));

    params = json_object_get(doc, "params");
    if (!params || json_is_null(params)) {
        out->params = json_object();
        if (!out->params) {
            http_problem_set(p, 500, "internal", "out of memory");
            goto fail;
        }
    } else {
        if (http_params_validate(params, p) < 0)
            goto fail;
        out->params = json_incref(params);
    }

    format = json_object_get(doc, "format");
    if (format && !json_is_null(format)) {
        export_format f;
        eq_err ferr;
        if (!json_is_string(format) || export_format_parse(json_string_value(format), &f, &ferr) < 0) {
            http_problem_set(p, 400, "invalid_format", "format must be one of csv, tsv, jsonl, xlsx");
            goto fail;
        }
        snprintf(out->format, sizeof out->format, "%s", export_format_name(f));
    }

    email = json_object_get(doc, "email");
    if (email && !json_is_null(email)) {
        if (!json_is_string(email) || !mail_address_valid(json_string_value(email))) {
            http_problem_set(p, 400, "invalid_email", "email must be a valid email address");
            goto fail;
        }
        snprintf(out->email, sizeof out->email, "%s", json_string_value(email));
    }
    json_decref(doc);
    return 0;
fail:
    json_decref(doc);
    http_export_req_cleanup(out);
    return -1;
}

void http_export_req_cleanup(http_export_req *req)
{
    if (!req)
        return;
    json_decref(req->params);
    req->params = NULL;
}

int http_bearer_token(const char *authorization, char *out, size_t outsz)
{
    static const char tok_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=";
    const char *t;
    size_t n;
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return -1;
    t = authorization + 7;
    while (*t == ' ')
        t++;
    n = strspn(t, tok_chars);
    while (t[n] == ' ')
        n++; /* trailing blanks */
    if (t[n] != '\0')
        return -1;
    n = strspn(t, tok_chars);
    if (n == 0 || n >= outsz)
        return -1;
    memcpy(out, t, n);
    out[n] = '\0';
    return 0;
}

/* q-value of a coding parameter list like ";q=0.5" (1.0 when absent). */
static double qvalue(const char *params, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if ((params[i] == 'q' || params[i] == 'Q') && i + 1 < n && params[i + 1] == '=') {
            char num[16];
            size_t k = 0;
            for (size_t j = i + 2; j < n && k < sizeof num - 1 && (isdigit((unsigned char)params[j]) || params[j] == '.');
                 j++)
                num[k++] = params[j];
            num[k] = '\0';
            return k ? strtod(num, NULL) : 0.0;
        }
    }
    return 1.0;
}

bool http_accepts_gzip(const char *ae)
{
    double gzip_q = -1.0, star_q = -1.0;
    const char *p = ae;
    if (!ae)
        return false;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p), tl;
        const char *semi;
        while (n && (*p == ' ' || *p == '\t')) {
            p++;
            n--;
        }
        semi = memchr(p, ';', n);
        tl = semi ? (size_t)(semi - p) : n;
        while (tl && (p[tl - 1] == ' ' || p[tl - 1] == '\t'))
            tl--;
        if ((tl == 4 && strncasecmp(p, "gzip", 4) == 0) || (tl == 6 && strncasecmp(p, "x-gzip", 6) == 0))
            gzip_q = qvalue(semi ? semi : p + n, semi ? n - (size_t)(semi - p) : 0);
        else if (tl == 1 && *p == '*')
            star_q = qvalue(semi ? semi : p + n, semi ? n - (size_t)(semi - p) : 0);
        if (!end)
            break;
        p = end + 1;
    }
    if (gzip_q >= 0.0)
        return gzip_q > 0.0;
    return star_q > 0.0;
}

bool http_prefers_async(const char *prefer)
{
    static const char want[] = "respond-async";
    const char *p = prefer;
    bool quoted = false;
    if (!prefer)
        return false;
    while (*p) {
        size_t tl;
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        tl = strcspn(p, "=;, \t");
        if (tl == sizeof want - 1 && strncasecmp(p, want, tl) == 0 && (p[tl] == '\0' || strchr(";, \t", p[tl])))
            return true;
        /* on to the next preference: the next comma outside a quoted string */
        for (p += tl; *p && (quoted || *p != ','); p++) {
            if (*p == '"')
                quoted = !quoted;
            else if (*p == '\\' && quoted && p[1])
                p++;
        }
    }
    return false;
}

int http_list_args_parse(const char *limit, const char *cursor, int *out_limit, int64_t *out_cursor,
                         http_problem *p)
{
    *out_limit = HTTP_LIST_DEFAULT;
    *out_cursor = 0;
    if (limit) {
        long v = 0;
        size_t n = strlen(limit);
        if (n == 0 || n > 3 || strspn(limit, "0123456789") != n)
            return http_problem_set(p, 400, "invalid_limit", "limit must be a number from 1 to %d", HTTP_LIST_MAX);
        v = strtol(limit, NULL, 10);
        if (v < 1 || v > HTTP_LIST_MAX)
            return http_problem_set(p, 400, "invalid_limit", "limit must be a number from 1 to %d", HTTP_LIST_MAX);
        *out_limit = (int)v;
    }
    if (cursor) {
        long long v;
        if (eq_id_parse_str(cursor, &v) < 0)
            return http_problem_set(p, 400, "invalid_cursor", "cursor is not one this API returned");
        *out_cursor = v;
    }
    return 0;
}

void http_list_next_cursor(json_t *doc, int n, int limit, long long last_id)
{
    char next[32];
    if (n == limit && n > 0) {
        snprintf(next, sizeof next, "%lld", last_id);
        json_object_set_new(doc, "next_cursor", json_string(next));
    } else {
        json_object_set_new(doc, "next_cursor", json_null());
    }
}

int http_content_disposition(const char *filename, char *out, size_t outsz)
{
    eq_buf b;
    eq_err err;
    int rc = -1;
    if (outsz)
        out[0] = '\0';
    eq_buf_init(&b, outsz);
    if (eq_content_disposition(filename, &b, &err) == 0 && b.len < outsz) {
        memcpy(out, b.data, b.len + 1);
        rc = 0;
    }
    eq_buf_cleanup(&b);
    return rc;
}

bool http_idempotency_key_valid(const char *key)
{
    size_t n = key ? strlen(key) : 0;
    if (n < 1 || n > 255)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)key[i] < 0x21 || (unsigned char)key[i] > 0x7e)
            return false;
    return true;
}
