/* test_http_request.c - the API's pure request logic: routing, POST body
 * validation, bearer tokens, Accept-Encoding, list arguments, the JSON error
 * body and Content-Disposition; each from a table of named cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "http/http_request.h"
#include "http/http_route.h"

/* ---- routing ---------------------------------------------------------------------- */

typedef struct rcase {
    const char *name, *method, *path;
    int status;
    http_endpoint ep;
    int64_t id;
    const char *kind;
} rcase;

static const rcase routes[] = {
    {"healthz", "GET", "/healthz", 200, HTTP_EP_HEALTHZ, 0, NULL},
    {"metrics HEAD", "HEAD", "/metrics", 200, HTTP_EP_METRICS, 0, NULL},
    {"list", "GET", "/v1/exports", 200, HTTP_EP_EXPORTS, 0, NULL},
    {"list trailing slash", "GET", "/v1/exports/", 200, HTTP_EP_EXPORTS, 0, NULL},
    {"create", "POST", "/v1/exports", 200, HTTP_EP_EXPORTS, 0, NULL},
    {"get", "GET", "/v1/exports/42", 200, HTTP_EP_EXPORT, 42, NULL},
    {"cancel", "DELETE", "/v1/exports/7", 200, HTTP_EP_EXPORT, 7, NULL},
    {"download", "GET", "/v1/exports/9/download", 200, HTTP_EP_EXPORT_DOWNLOAD, 9, NULL},
    {"stream", "GET", "/v1/stream/user_activity", 200, HTTP_EP_STREAM, 0, "user_activity"},
    {"PUT on list is 405", "PUT", "/v1/exports", 405, HTTP_EP_EXPORTS, 0, NULL},
    {"POST on a job is 405", "POST", "/v1/exports/1", 405, HTTP_EP_EXPORT, 1, NULL},
    {"DELETE download is 405", "DELETE", "/v1/exports/1/download", 405, HTTP_EP_EXPORT_DOWNLOAD, 1, NULL},
    {"POST stream is 405", "POST", "/v1/stream/k", 405, HTTP_EP_STREAM, 0, "k"},
    {"unknown method is 405", "BREW", "/healthz", 405, HTTP_EP_HEALTHZ, 0, NULL},
    {"root is 404", "GET", "/", 404, HTTP_EP_NONE, 0, NULL},
    {"prefix lookalike is 404", "GET", "/v1/exportsx", 404, HTTP_EP_NONE, 0, NULL},
    {"id with letters", "GET", "/v1/exports/12a", 404, HTTP_EP_NONE, 0, NULL},
    {"id zero", "GET", "/v1/exports/0", 404, HTTP_EP_NONE, 0, NULL},
    {"id leading zero", "GET", "/v1/exports/012", 404, HTTP_EP_NONE, 0, NULL},
    {"id negative", "GET", "/v1/exports/-1", 404, HTTP_EP_NONE, 0, NULL},
    {"id too long", "GET", "/v1/exports/1234567890123456789", 404, HTTP_EP_NONE, 0, NULL},
    {"unknown job sub-path", "GET", "/v1/exports/1/other", 404, HTTP_EP_NONE, 0, NULL},
    {"stream without kind", "GET", "/v1/stream/", 404, HTTP_EP_NONE, 0, NULL},
    {"stream kind with slash", "GET", "/v1/stream/a/b", 404, HTTP_EP_NONE, 0, NULL},
    {"stream kind too long", "GET",
     "/v1/stream/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 404, HTTP_EP_NONE, 0,
     NULL},
};

static void test_routes(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const rcase *c = &routes[i];
        http_route r;
        int st = http_route_match(c->method, c->path, &r);
        if (st != c->status || (st != 404 && r.endpoint != c->ep) || (st == 200 && r.job_id != c->id) ||
            (c->kind && strcmp(r.kind, c->kind) != 0))
            fail_msg("route case '%s': status %d endpoint %d id %lld kind '%s'", c->name, st, r.endpoint,
                     (long long)r.job_id, r.kind);
    }
    assert_string_equal(http_route_allow(HTTP_EP_EXPORTS), "GET, HEAD, POST");
    assert_string_equal(http_route_allow(HTTP_EP_EXPORT), "GET, HEAD, DELETE");
    assert_string_equal(http_route_allow(HTTP_EP_STREAM), "GET");
}

/* ---- POST /v1/exports bodies ------------------------------------------------------ */

typedef struct bcase {
    const char *name;
    const char *body;
    int status;       /* 0 = accepted */
    const char *code; /* problem code when refused */
} bcase;

static const bcase bodies[] = {
    {"minimal", "{\"kind\":\"user_activity\"}", 0, NULL},
    {"full", "{\"kind\":\"k\",\"params\":{\"since\":\"2024-01-01\",\"n\":3,\"b\":true,\"z\":null},\"email\":\"a.b@ex-ample.co.uk\"}", 0, NULL},
    {"null params and email", "{\"kind\":\"k\",\"params\":null,\"email\":null}", 0, NULL},
    {"empty body", "", 400, "invalid_json"},
    {"truncated JSON", "{\"kind\":", 400, "invalid_json"},
    {"array", "[]", 400, "invalid_json"},
    {"duplicate member", "{\"kind\":\"a\",\"kind\":\"b\"}", 400, "invalid_json"},
    {"unknown member", "{\"kind\":\"k\",\"priority\":5}", 400, "invalid_request"},
    {"kind missing", "{\"params\":{}}", 400, "invalid_kind"},
    {"kind not a string", "{\"kind\":5}", 400, "invalid_kind"},
    {"kind with space", "{\"kind\":\"a b\"}", 400, "invalid_kind"},
    {"kind with quote", "{\"kind\":\"a'b\"}", 400, "invalid_kind"},
    {"params array", "{\"kind\":\"k\",\"params\":[1]}", 400, "invalid_params"},
    {"params string", "{\"kind\":\"k\",\"params\":\"x\"}", 400, "invalid_params"},
    {"nested object", "{\"kind\":\"k\",\"params\":{\"a\":{\"b\":1}}}", 400, "invalid_params"},
    {"nested array", "{\"kind\":\"k\",\"params\":{\"a\":[1]}}", 400, "invalid_params"},
    {"bad param name", "{\"kind\":\"k\",\"params\":{\"a-b\":1}}", 400, "invalid_params"},
    {"NUL in a value (jansson refuses it)", "{\"kind\":\"k\",\"params\":{\"a\":\"x\\u0000y\"}}", 400, "invalid_json"},
    {"email without at", "{\"kind\":\"k\",\"email\":\"nobody\"}", 400, "invalid_email"},
    {"email not a string", "{\"kind\":\"k\",\"email\":1}", 400, "invalid_email"},
    {"email with space", "{\"kind\":\"k\",\"email\":\"a b@c.de\"}", 400, "invalid_email"},
    {"email header injection", "{\"kind\":\"k\",\"email\":\"a@b.de\\r\\nBcc: x@y.z\"}", 400, "invalid_email"},
    {"email single-label domain", "{\"kind\":\"k\",\"email\":\"a@localhost\"}", 400, "invalid_email"},
    {"email two ats", "{\"kind\":\"k\",\"email\":\"a@b@c.de\"}", 400, "invalid_email"},
    {"email double dot", "{\"kind\":\"k\",\"email\":\"a..b@c.de\"}", 400, "invalid_email"},
    {"email label with dash at end", "{\"kind\":\"k\",\"email\":\"a@b-.de\"}", 400, "invalid_email"},
};

static void test_bodies(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        const bcase *c = &bodies[i];
        http_export_req req;
        http_problem p = {0};
        int rc = http_export_req_parse(c->body, strlen(c->body), &req, &p);
        if (c->status == 0) {
            if (rc != 0)
                fail_msg("body case '%s' refused: %s %s", c->name, p.code, p.message);
            assert_true(json_is_object(req.params));
        } else if (rc == 0 || p.status != c->status || strcmp(p.code, c->code) != 0) {
            fail_msg("body case '%s': rc %d status %d code '%s' (want %d '%s')", c->name, rc, p.status, p.code,
                     c->status, c->code);
        }
        http_export_req_cleanup(&req);
    }
}

static void test_body_fields_and_owner(void **state)
{
    const char *b = "{\"kind\":\"user_activity\",\"params\":{\"owner\":\"someone-else\",\"x\":\"1\"},"
                    "\"email\":\"u@example.com\"}";
    http_export_req req;
    http_problem p;
    char *s;
    (void)state;
    assert_int_equal(http_export_req_parse(b, strlen(b), &req, &p), 0);
    assert_string_equal(req.kind, "user_activity");
    assert_string_equal(req.email, "u@example.com");
    assert_int_equal(http_params_bind_owner(req.params, "u1", &p), 0);
    s = json_dumps(req.params, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(s, "{\"owner\":\"u1\",\"x\":\"1\"}");
    free(s);
    http_export_req_cleanup(&req);
    http_export_req_cleanup(&req); /* twice is fine */
}

static void test_body_too_large(void **state)
{
    size_t n = HTTP_BODY_MAX + 1;
    char *big = malloc(n);
    http_export_req req;
    http_problem p;
    (void)state;
    assert_non_null(big);
    memset(big, ' ', n);
    assert_int_equal(http_export_req_parse(big, n, &req, &p), -1);
    assert_int_equal(p.status, 413);
    free(big);
}

/* ---- headers ---------------------------------------------------------------------- */

static void test_bearer(void **state)
{
    char tok[HTTP_TOKEN_MAX + 1];
    (void)state;
    assert_int_equal(http_bearer_token("Bearer eqt_abc", tok, sizeof tok), 0);
    assert_string_equal(tok, "eqt_abc");
    assert_int_equal(http_bearer_token("bearer  eqt_abc  ", tok, sizeof tok), 0);
    assert_string_equal(tok, "eqt_abc");
    assert_int_equal(http_bearer_token(NULL, tok, sizeof tok), -1);
    assert_int_equal(http_bearer_token("Basic dXNlcjpwYXNz", tok, sizeof tok), -1);
    assert_int_equal(http_bearer_token("Bearer ", tok, sizeof tok), -1);
    assert_int_equal(http_bearer_token("Bearer a b", tok, sizeof tok), -1);
    assert_int_equal(http_bearer_token("Bearer a\"b", tok, sizeof tok), -1);
    assert_int_equal(http_bearer_token("Bearer abcdef", tok, 4), -1); /* does not fit */
}

typedef struct gzcase {
    const char *ae;
    bool gzip;
} gzcase;

static void test_accepts_gzip(void **state)
{
    static const gzcase cases[] = {
        {NULL, false},
        {"", false},
        {"gzip", true},
        {"GZIP", true},
        {"x-gzip", true},
        {"gzip, deflate, br", true},
        {"deflate, gzip;q=0.5", true},
        {"br;q=1.0, gzip; q=0.8", true},
        {"gzip;q=0", false},
        {"gzip;q=0.0, *;q=1", false},
        {"*", true},
        {"*;q=0", false},
        {"identity", false},
        {"deflate", false},
        {"gzipx", false},
        {"notgzip", false},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (http_accepts_gzip(cases[i].ae) != cases[i].gzip)
            fail_msg("Accept-Encoding '%s': want %d", cases[i].ae ? cases[i].ae : "(null)", cases[i].gzip);
}

static void test_prefers_async(void **state)
{
    (void)state;
    assert_true(http_prefers_async("respond-async"));
    assert_true(http_prefers_async("Respond-Async"));
    assert_true(http_prefers_async("wait=10, respond-async"));
    assert_true(http_prefers_async("respond-async, wait=10"));
    assert_true(http_prefers_async("  respond-async ; foo=bar"));
    assert_true(http_prefers_async("return=minimal,respond-async"));
    assert_true(http_prefers_async("x=\"a,b\", respond-async"));
    assert_false(http_prefers_async(NULL));
    assert_false(http_prefers_async(""));
    assert_false(http_prefers_async("respond-asynchronously"));
    assert_false(http_prefers_async("no-respond-async"));
    assert_false(http_prefers_async("return=respond-async"));
    assert_false(http_prefers_async("x=\"respond-async\""));
    assert_false(http_prefers_async("x=\", respond-async\""));
    assert_false(http_prefers_async("wait=5"));
}

static void test_list_args(void **state)
{
    int limit;
    int64_t cursor;
    http_problem p;
    (void)state;
    assert_int_equal(http_list_args_parse(NULL, NULL, &limit, &cursor, &p), 0);
    assert_int_equal(limit, HTTP_LIST_DEFAULT);
    assert_int_equal(cursor, 0);
    assert_int_equal(http_list_args_parse("100", "12345", &limit, &cursor, &p), 0);
    assert_int_equal(limit, 100);
    assert_int_equal(cursor, 12345);
    assert_int_equal(http_list_args_parse("0", NULL, &limit, &cursor, &p), -1);
    assert_int_equal(p.status, 400);
    assert_int_equal(http_list_args_parse("101", NULL, &limit, &cursor, &p), -1);
    assert_int_equal(http_list_args_parse("-1", NULL, &limit, &cursor, &p), -1);
    assert_int_equal(http_list_args_parse("", NULL, &limit, &cursor, &p), -1);
    assert_int_equal(http_list_args_parse(NULL, "abc", &limit, &cursor, &p), -1);
    assert_string_equal(p.code, "invalid_cursor");
    assert_int_equal(http_list_args_parse(NULL, "0", &limit, &cursor, &p), -1);
    assert_int_equal(http_list_args_parse(NULL, "1234567890123456789", &limit, &cursor, &p), -1);
}

static void test_problem_json(void **state)
{
    http_problem p;
    char *s;
    (void)state;
    http_problem_set(&p, 400, "invalid_json", "bad \"thing\" at %d", 3);
    s = http_problem_json(&p);
    assert_string_equal(s, "{\"error\":{\"code\":\"invalid_json\",\"message\":\"bad \\\"thing\\\" at 3\"}}");
    free(s);
    /* a message cut inside a UTF-8 sequence still gives valid JSON */
    http_problem_set(&p, 400, "x", "%s", "caf\xc3");
    s = http_problem_json(&p);
    assert_non_null(s);
    {
        json_t *doc = json_loads(s, 0, NULL);
        assert_non_null(doc);
        json_decref(doc);
    }
    free(s);
}

static void test_content_disposition(void **state)
{
    /* the adapter gives exactly the common rule (common/disposition.h) */
    char out[512];
    (void)state;
    assert_int_equal(http_content_disposition("activity.csv", out, sizeof out), 0);
    assert_string_equal(out, "attachment; filename=\"activity.csv\"");
    assert_int_equal(http_content_disposition("a \"b\"\r\n/\xc3\xa9.csv", out, sizeof out), 0);
    assert_string_equal(out, "attachment; filename=\"a _b___.csv\"; filename*=UTF-8''a%20%22b%22%2F%C3%A9.csv");
    assert_int_equal(http_content_disposition(NULL, out, sizeof out), 0);
    assert_string_equal(out, "attachment; filename=\"export.csv\"");
    assert_int_equal(http_content_disposition("activity.csv", out, 20), -1);
    assert_string_equal(out, "");
}

static void test_idempotency_key(void **state)
{
    char long_key[300];
    (void)state;
    assert_true(http_idempotency_key_valid("order-77"));
    assert_true(http_idempotency_key_valid("550e8400-e29b-41d4-a716-446655440000"));
    assert_false(http_idempotency_key_valid(""));
    assert_false(http_idempotency_key_valid(NULL));
    assert_false(http_idempotency_key_valid("a b"));
    assert_false(http_idempotency_key_valid("a\x01"));
    memset(long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    assert_false(http_idempotency_key_valid(long_key));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes),           cmocka_unit_test(test_bodies),
        cmocka_unit_test(test_body_fields_and_owner), cmocka_unit_test(test_body_too_large),
        cmocka_unit_test(test_bearer),           cmocka_unit_test(test_accepts_gzip), cmocka_unit_test(test_prefers_async),
        cmocka_unit_test(test_list_args),        cmocka_unit_test(test_problem_json),
        cmocka_unit_test(test_content_disposition), cmocka_unit_test(test_idempotency_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
