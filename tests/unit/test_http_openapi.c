/* test_http_openapi.c - the OpenAPI document served at /v1/openapi.json
 * (docs/openapi.json, embedded) against the route table (http/http_route.c)
 * and the error codes: every endpoint and method of the table is in the
 * document and every path and operation of the document routes there with
 * that method; its Error code enum is exactly docs/api.md's error table
 * (which tests/integration/http_errors.sh provokes, both ways) plus any code
 * a file of http/ answers with. Also the CORS origin matcher. */
#include <ctype.h>
#include <dirent.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cmocka.h>

#include "http/http_cors.h"
#include "http/http_openapi.h"
#include "http/http_route.h"

static json_t *doc;

static int setup(void **state)
{
    json_error_t e;
    (void)state;
    doc = json_loadb(http_openapi_json, http_openapi_json_len, JSON_REJECT_DUPLICATES, &e);
    if (!doc)
        fprintf(stderr, "docs/openapi.json: %s (line %d)\n", e.text, e.line);
    return doc ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    json_decref(doc);
    return 0;
}

static void test_document(void **state)
{
    (void)state;
    assert_string_equal(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
    assert_true(json_is_object(json_object_get(doc, "paths")));
    assert_int_equal(strlen(http_openapi_json), http_openapi_json_len);
}

/* A concrete path for a template: {id} -> 7, {kind} -> k, {action} -> retry. */
static void concrete(const char *tmpl, char *out, size_t outsz)
{
    size_t o = 0;
    for (const char *p = tmpl; *p && o + 8 < outsz;) {
        if (*p == '{') {
            const char *end = strchr(p, '}');
            const char *v = strncmp(p, "{id}", 4) == 0 ? "7" : strncmp(p, "{kind}", 6) == 0 ? "k" : "retry";
            assert_non_null(end);
            o += (size_t)snprintf(out + o, outsz - o, "%s", v);
            p = end + 1;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
}

static bool allowed(const char *allow, const char *method)
{
    char m[16];
    for (const char *p = allow; *p;) {
        size_t n = strcspn(p, ", ");
        snprintf(m, sizeof m, "%.*s", (int)n, p);
        if (n && strcasecmp(m, method) == 0)
            return true;
        p += n;
        p += strspn(p, ", ");
    }
    return false;
}

static void test_routes_in_document(void **state)
{
    json_t *paths = json_object_get(doc, "paths");
    (void)state;
    for (int ep = HTTP_EP_NONE + 1; ep < HTTP_EP_COUNT; ep++) {
        const char *name = http_endpoint_name((http_endpoint)ep), *allow = http_route_allow((http_endpoint)ep);
        json_t *item = json_object_get(paths, name);
        if (!item)
            fail_msg("route %s is not in docs/openapi.json", name);
        for (const char *p = allow; *p;) {
            char lower[16];
            size_t n = strcspn(p, ", ");
            for (size_t i = 0; i < n && i < sizeof lower - 1; i++)
                lower[i] = (char)tolower((unsigned char)p[i]);
            lower[n < sizeof lower - 1 ? n : sizeof lower - 1] = '\0';
            if (!json_object_get(item, lower))
                fail_msg("%s %s is routed but not in docs/openapi.json", lower, name);
            p += n;
            p += strspn(p, ", ");
        }
    }
}

static void test_document_in_routes(void **state)
{
    json_t *paths = json_object_get(doc, "paths"), *item, *opv;
    const char *path, *method;
    (void)state;
    json_object_foreach(paths, path, item) {
        char url[256], upper[16];
        http_route r;
        int st = http_route_match("GET", (concrete(path, url, sizeof url), url), &r);
        if (st == 404 || r.endpoint == HTTP_EP_NONE)
            fail_msg("docs/openapi.json has %s, which no route matches", path);
        if (strcmp(http_endpoint_name(r.endpoint), path) != 0)
            fail_msg("docs/openapi.json's %s routes to %s", path, http_endpoint_name(r.endpoint));
        json_object_foreach(item, method, opv) {
            if (strcmp(method, "parameters") == 0 || strcmp(method, "summary") == 0)
                continue;
            snprintf(upper, sizeof upper, "%s", method);
            for (char *c = upper; *c; c++)
                *c = (char)toupper((unsigned char)*c);
            if (!allowed(http_route_allow(r.endpoint), upper))
                fail_msg("docs/openapi.json has %s %s; the route allows only %s", upper, path,
                         http_route_allow(r.endpoint));
            assert_non_null(json_object_get(opv, "responses"));
        }
    }
}

/* Adds every `code` of docs/api.md's "### Error codes" table to set. */
static void api_md_codes(json_t *set)
{
    char path[512], line[1024];
    const char *src = getenv("EXPORTQ_SOURCE_DIR");
    bool in = false;
    FILE *f;
    snprintf(path, sizeof path, "%s/docs/api.md", src ? src : ".");
    assert_non_null(f = fopen(path, "r"));
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "### Error codes", 15) == 0) {
            in = true;
            continue;
        }
        if (in && strncmp(line, "#", 1) == 0)
            break;
        if (!in || line[0] != '|' || !isdigit((unsigned char)line[2]))
            continue;
        /* | 400 | `a`, `b` | when | : the codes are in the second cell */
        char *cell = strchr(line + 1, '|'), *end = cell ? strchr(cell + 1, '|') : NULL;
        for (char *p = cell; p && p < end && (p = strchr(p, '`')) && p < end;) {
            char *q = strchr(p + 1, '`');
            json_object_set_new(set, (*q = '\0', p + 1), json_true());
            p = q + 1;
        }
    }
    fclose(f);
    assert_true(json_object_size(set) >= 20);
}

/* Adds every code a file of http/ answers with: `4xx, "code"` / `5xx, "code"`. */
static void source_codes(json_t *set)
{
    char dir[512], path[1024], buf[4096];
    const char *src = getenv("EXPORTQ_SOURCE_DIR");
    DIR *d;
    struct dirent *e;
    snprintf(dir, sizeof dir, "%s/http", src ? src : ".");
    assert_non_null(d = opendir(dir));
    while ((e = readdir(d))) {
        FILE *f;
        size_t n = strlen(e->d_name);
        if (n < 3 || strcmp(e->d_name + n - 2, ".c") != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        assert_non_null(f = fopen(path, "r"));
        while (fgets(buf, sizeof buf, f)) {
            for (char *p = buf; (p = strstr(p, ", \""));) {
                char *q = p + 3, *end = strchr(q, '"');
                if (p - buf >= 3 && (p[-3] == '4' || p[-3] == '5') && isdigit((unsigned char)p[-2]) &&
                    isdigit((unsigned char)p[-1]) && end && end > q && strspn(q, "abcdefghijklmnopqrstuvwxyz_") == (size_t)(end - q)) {
                    *end = '\0';
                    json_object_set_new(set, q, json_true());
                    p = end + 1;
                } else {
                    p += 3;
                }
            }
        }
        fclose(f);
    }
    closedir(d);
}

static void test_error_codes(void **state)
{
    json_t *want = json_object(), *enumv, *v;
    const char *code;
    size_t i;
    (void)state;
    enumv = json_object_get(json_object_get(json_object_get(json_object_get(json_object_get(json_object_get(
                                json_object_get(json_object_get(doc, "components"), "schemas"), "Error"),
                                "properties"), "error"), "properties"), "code"), "enum");
    assert_true(json_is_array(enumv));
    api_md_codes(want);
    source_codes(want);
    json_array_foreach(enumv, i, v) {
        if (!json_object_get(want, json_string_value(v)))
            fail_msg("docs/openapi.json lists the error code %s, which neither docs/api.md nor http/ has",
                     json_string_value(v));
    }
    json_object_foreach(want, code, v) {
        bool found = false;
        json_t *x;
        json_array_foreach(enumv, i, x) found |= strcmp(json_string_value(x), code) == 0;
        if (!found)
            fail_msg("error code %s (docs/api.md or http/) is not in docs/openapi.json", code);
    }
    json_decref(want);
}

static void test_cors_origins(void **state)
{
    const char *list = "https://app.example, http://localhost:3000";
    (void)state;
    assert_true(http_cors_origin_allowed(list, "https://app.example"));
    assert_true(http_cors_origin_allowed(list, "http://localhost:3000"));
    assert_false(http_cors_origin_allowed(list, "https://app.example.evil"));
    assert_false(http_cors_origin_allowed(list, "https://app.exampl"));
    assert_false(http_cors_origin_allowed(list, "http://localhost"));
    assert_false(http_cors_origin_allowed(list, "null"));
    assert_false(http_cors_origin_allowed(list, ""));
    assert_false(http_cors_origin_allowed(list, NULL));
    assert_false(http_cors_origin_allowed(NULL, "https://app.example"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_document),        cmocka_unit_test(test_routes_in_document),
        cmocka_unit_test(test_document_in_routes), cmocka_unit_test(test_error_codes),
        cmocka_unit_test(test_cors_origins),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
