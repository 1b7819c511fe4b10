/* http_request.h - pure parsing and validation of what API clients send, and
 * the JSON error body they get back.
 *
 * Nothing here touches a socket or a database, so all of it is unit-tested and
 * fuzzed (tests/unit/test_http_request.c, tests/fuzz/fuzz_http_request.c).
 * An http_problem is a plain value (status, machine code, human message) that
 * the server turns into {"error": {"code": "...", "message": "..."}}.
 */
#ifndef EXPORTQ_HTTP_REQUEST_H
#define EXPORTQ_HTTP_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "export/export_kind.h"

#define HTTP_BODY_MAX (64 * 1024) /* request bodies above this are 413 */
#define HTTP_TOKEN_MAX 256        /* bytes of a bearer token */
#define HTTP_PARAM_NAME_MAX EXPORT_PARAM_NAME_MAX
#define HTTP_PARAM_VALUE_MAX 4096
#define HTTP_PARAMS_MAX 64 /* members of params */
#define HTTP_EMAIL_MAX 254
#define HTTP_LIST_DEFAULT 20
#define HTTP_LIST_MAX 100

typedef struct http_problem {
    int status;       /* HTTP status, e.g. 400 */
    char code[40];    /* e.g. "invalid_json" */
    char message[512];
} http_problem;

/* Fills p; returns -1 so callers can `return http_problem_set(...)`. */
int http_problem_set(http_problem *p, int status, const char *code, const char *fmt, ...) EQ_PRINTF(4, 5);

/* {"error":{"code":..,"message":..}} as a malloc'd string (caller frees), or NULL
 * when out of memory. */
char *http_problem_json(const http_problem *p);

/* A POST /v1/exports body. The request owns params (json_decref via
 * http_export_req_cleanup, which accepts a zeroed request). */
typedef struct http_export_req {
    char kind[EXPORT_KIND_NAME_MAX + 1];
    json_t *params; /* always an object after a successful parse */
    char email[HTTP_EMAIL_MAX + 1]; /* "" when none */
    char format[8];                 /* "" = the kind's default; else csv, tsv, jsonl, xlsx */
} http_export_req;

/* Parses and validates {"kind": str, "params": {..scalars..}, "email": str,
 * "format": str}.
 * Unknown members are refused (a typo should not silently drop a setting). */
int http_export_req_parse(const char *body, size_t len, http_export_req *out, http_problem *p) EQ_MUST;
void http_export_req_cleanup(http_export_req *req);

/* A kind name, by export_kind_name_valid()'s rules. */
bool http_kind_name_valid(const char *kind);
/* A parameter name: 1..64 of [A-Za-z0-9_]. */
bool http_param_name_valid(const char *name);
/* params must be an object of at most HTTP_PARAMS_MAX scalar members (string,
 * number, boolean, null) with valid names and strings of bounded length. */
int http_params_validate(const json_t *params, http_problem *p) EQ_MUST;
/* Overwrites params.owner with the token's owner: export_params_bind_owner(). */
int http_params_bind_owner(json_t *params, const char *owner, http_problem *p) EQ_MUST;


/* Extracts the token of "Bearer TOKEN" (scheme case-insensitive) into out.
 * Returns -1 for a missing header, another scheme, a malformed token or one
 * that does not fit outsz (HTTP_TOKEN_MAX + 1 for exportq's own tokens,
 * HTTP_JWT_MAX + 1 where a JWT may come). */
int http_bearer_token(const char *authorization, char *out, size_t outsz) EQ_MUST;

/* True when an Accept-Encoding value allows gzip (gzip, x-gzip or *, q > 0,
 * and gzip not explicitly refused with q=0). */
bool http_accepts_gzip(const char *accept_encoding);

/* True when a Prefer header value (RFC 7240: comma-separated preferences,
 * each a token with an optional =value and ;parameters, case-insensitive
 * names) asks for respond-async. NULL is false. */
bool http_prefers_async(const char *prefer);

/* ?limit= (1..HTTP_LIST_MAX, default HTTP_LIST_DEFAULT) and ?cursor= (an opaque
 * string the previous page returned; here the id to continue below; 0 = start).
 * NULL means absent. */
int http_list_args_parse(const char *limit, const char *cursor, int *out_limit, int64_t *out_cursor,
                         http_problem *p) EQ_MUST;

/* Sets doc's "next_cursor" for a page of n rows asked with `limit`: the
 * cursor that continues below last_id (the page's last row) when the page is
 * full, else null (no more). The counterpart of http_list_args_parse(). */
void http_list_next_cursor(json_t *doc, int n, int limit, long long last_id);

/* Content-Disposition for a download named `filename` (any bytes), by the one
 * rule of common/disposition.h (the presigned link's too), into a fixed
 * buffer. Always NUL-terminates; returns -1 when it did not fit. */
int http_content_disposition(const char *filename, char *out, size_t outsz) EQ_MUST;

/* An Idempotency-Key value: 1..255 bytes of visible ASCII. */
bool http_idempotency_key_valid(const char *key);

#endif
