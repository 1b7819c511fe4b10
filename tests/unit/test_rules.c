/* test_rules.c - the rules that exist once (issue 12): job id parsing, hex
 * encoding, the monotonic clock, Content-Disposition (stream and presigned
 * link alike), the key basename, the kind name and the owner binding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "cli/cli.h"
#include "common/clock.h"
#include "common/disposition.h"
#include "common/hex.h"
#include "common/id.h"
#include "common/listen.h"
#include "export/export_kind.h"
#include "export/object_key.h"
#include "http/http_request.h"
#include "http/http_route.h"

static void test_id_parse(void **state)
{
    static const struct {
        const char *in;
        int rc;
        long long v;
    } cases[] = {
        {"1", 0, 1},
        {"42", 0, 42},
        {"999999999999999999", 0, 999999999999999999LL},
        {"1234567890123456789", -1, 0}, /* 19 digits */
        {"9223372036854775808", -1, 0}, /* past bigint */
        {"99999999999999999999", -1, 0},
        {"0", -1, 0},
        {"007", -1, 0},
        {"-1", -1, 0},
        {"+1", -1, 0},
        {" 1", -1, 0},
        {"1 ", -1, 0},
        {"1x", -1, 0},
        {"", -1, 0},
        {"0x10", -1, 0},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long long v = -7;
        print_message("id: '%s'\n", cases[i].in);
        assert_int_equal(eq_id_parse_str(cases[i].in, &v), cases[i].rc);
        assert_true(cases[i].rc == 0 ? v == cases[i].v : v == -7);
    }
    assert_int_equal(eq_id_parse_str(NULL, &(long long){0}), -1);
    {
        long long v = 0;
        assert_int_equal(eq_id_parse("123/download", 3, &v), 0);
        assert_int_equal(v, 123);
    }
}

/* Every front end parses ids with the same rule: the URL route and the list
 * cursor agree with eq_id_parse on the cases where the old parsers differed. */
static void test_id_front_ends_agree(void **state)
{
    static const char *const ids[] = {"1", "999999999999999999", "1234567890123456789", "0", "01", "+5", " 5",
                                      "9223372036854775808"};
    (void)state;
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char path[64];
        http_route r;
        http_problem p;
        int lim;
        int64_t cur;
        long long v = 0;
        int want = eq_id_parse_str(ids[i], &v);
        print_message("id front ends: '%s'\n", ids[i]);
        snprintf(path, sizeof path, "/v1/exports/%s", ids[i]);
        assert_int_equal(http_route_match("GET", path, &r) == 200, want == 0);
        if (want == 0)
            assert_int_equal(r.job_id, v);
        assert_int_equal(http_list_args_parse(NULL, ids[i], &lim, &cur, &p) == 0, want == 0);
        if (want == 0)
            assert_int_equal(cur, v);
    }
}

static void test_hex(void **state)
{
    char out[9], esc[3];
    (void)state;
    eq_hex_encode("\x00\x7f\xab\xff", 4, out);
    assert_string_equal(out, "007fabff");
    /* base64url digits: the whole alphabet in order, nothing else */
    static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (int i = 0; i < 64; i++)
        assert_int_equal(eq_b64url_value(b64url[i]), i);
    for (int c = 1; c < 256; c++)
        if (!strchr(b64url, c))
            assert_int_equal(eq_b64url_value((char)c), -1);
    eq_hex_encode("", 0, out);
    assert_string_equal(out, "");
    eq_hex_escape(0xC3, '%', esc);
    assert_memory_equal(esc, "%C3", 3);
    eq_hex_escape(0x0a, '=', esc);
    assert_memory_equal(esc, "=0A", 3);
}

static void test_clock(void **state)
{
    long long a, b;
    (void)state;
    a = eq_now_ms();
    b = eq_now_ms();
    assert_true(a > 0);
    assert_true(b >= a);
    assert_true(eq_now_s() * 1000.0 >= (double)a - 1.0);
}

typedef struct disp_case {
    const char *name;
    const char *in;
    const char *want;
} disp_case;

static void test_content_disposition(void **state)
{
    static const disp_case cases[] = {
        {"plain ascii", "activity-2026.csv", "attachment; filename=\"activity-2026.csv\""},
        {"quotes, backslash, slash, semicolon, percent", "a\"b\\c/d;e%f.csv",
         "attachment; filename=\"a_b_c_d_e_f.csv\""},
        {"accents", "r\xc3\xa9sum\xc3\xa9.csv",
         "attachment; filename=\"r_sum_.csv\"; filename*=UTF-8''r%C3%A9sum%C3%A9.csv"},
        /* issue 12: the stream said r__sum__;x%.csv, the link r_sum__x_.csv */
        {"accents, semicolon, percent", "r\xc3\xa9sum\xc3\xa9;x%.csv",
         "attachment; filename=\"r_sum__x_.csv\"; filename*=UTF-8''r%C3%A9sum%C3%A9%3Bx%25.csv"},
        {"cjk and space", "\xe6\x97\xa5\xe6\x9c\xac 1.csv",
         "attachment; filename=\"__ 1.csv\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC%201.csv"},
        {"control characters dropped", "a\r\nb\t.csv", "attachment; filename=\"ab.csv\""},
        {"empty", "", "attachment; filename=\"export.csv\""},
        {"only dots", "..", "attachment; filename=\"export.csv\""},
        {"invalid utf-8: fallback only", "a\xff\xfe.csv", "attachment; filename=\"a__.csv\""},
        {"NULL", NULL, "attachment; filename=\"export.csv\""},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        eq_buf b;
        eq_err err;
        char fixed[1024];
        eq_buf_init(&b, 4096);
        print_message("case: %s\n", cases[i].name);
        assert_int_equal(eq_content_disposition(cases[i].in, &b, &err), 0);
        assert_string_equal(b.data, cases[i].want);
        /* the stream's header is the same rule, byte for byte */
        assert_int_equal(http_content_disposition(cases[i].in, fixed, sizeof fixed), 0);
        assert_string_equal(fixed, cases[i].want);
        eq_buf_cleanup(&b);
    }
    {
        char longname[600];
        eq_buf b;
        eq_err err;
        memset(longname, 'x', sizeof longname - 1);
        longname[sizeof longname - 1] = '\0';
        eq_buf_init(&b, 4096);
        assert_int_equal(eq_content_disposition(longname, &b, &err), 0);
        assert_int_equal(b.len, strlen("attachment; filename=\"\"") + EQ_DISPOSITION_NAME_MAX);
        eq_buf_cleanup(&b);
    }
}

static void test_key_basename(void **state)
{
    (void)state;
    assert_string_equal(object_key_basename("exports/u1/42-abc/activity.csv"), "activity.csv");
    assert_string_equal(object_key_basename("activity.csv"), "activity.csv");
    assert_string_equal(object_key_basename("exports/u1/"), "");
    assert_string_equal(object_key_basename(NULL), "");
}

/* The kind name: the SQL rule (^[a-z0-9_]{1,64}$), and the HTTP front ends
 * take every name it takes (a 64-byte name was cut to 63 by POST and a 404
 * on the stream route). */
static void test_kind_name(void **state)
{
    char k64[EXPORT_KIND_NAME_MAX + 2], path[128];
    http_route r;
    http_export_req req;
    http_problem p;
    char body[256];
    (void)state;
    memset(k64, 'k', EXPORT_KIND_NAME_MAX);
    k64[EXPORT_KIND_NAME_MAX] = '\0';
    assert_true(export_kind_name_valid(k64));
    assert_true(export_kind_name_valid("_x"));
    assert_false(export_kind_name_valid("Upper"));
    assert_false(export_kind_name_valid("a.b"));

    snprintf(path, sizeof path, "/v1/stream/%s", k64);
    assert_int_equal(http_route_match("GET", path, &r), 200);
    assert_string_equal(r.kind, k64);

    snprintf(body, sizeof body, "{\"kind\":\"%s\"}", k64);
    assert_int_equal(http_export_req_parse(body, strlen(body), &req, &p), 0);
    assert_string_equal(req.kind, k64);
    http_export_req_cleanup(&req);

    k64[EXPORT_KIND_NAME_MAX] = 'k';
    k64[EXPORT_KIND_NAME_MAX + 1] = '\0';
    assert_false(export_kind_name_valid(k64));
    snprintf(body, sizeof body, "{\"kind\":\"%s\"}", k64);
    assert_int_equal(http_export_req_parse(body, strlen(body), &req, &p), -1);
    http_export_req_cleanup(&req);
}

/* Parameter names: one rule for the HTTP API and --param. */
static void test_param_name(void **state)
{
    static const struct {
        const char *name;
        bool ok;
    } cases[] = {{"since", true}, {"A_1", true}, {"a-b", false}, {"", false}, {"a b", false}, {"é", false}};
    char p64[EXPORT_PARAM_NAME_MAX + 2], arg[128];
    (void)state;
    memset(p64, 'p', sizeof p64 - 1);
    p64[sizeof p64 - 1] = '\0';
    for (size_t i = 0; i <= sizeof cases / sizeof cases[0] + 1; i++) {
        const char *name = i < sizeof cases / sizeof cases[0] ? cases[i].name : p64;
        bool want = i < sizeof cases / sizeof cases[0] ? cases[i].ok : strlen(p64) <= EXPORT_PARAM_NAME_MAX;
        json_t *o = json_object();
        eq_err err;
        print_message("param name: '%s'\n", name);
        assert_int_equal(export_param_name_valid(name, strlen(name)), want);
        assert_int_equal(http_param_name_valid(name), want);
        snprintf(arg, sizeof arg, "%s=v", name);
        assert_int_equal(cli_param_add(o, arg, &err) == 0, want);
        json_decref(o);
        if (i == sizeof cases / sizeof cases[0])
            p64[EXPORT_PARAM_NAME_MAX] = '\0'; /* next round: exactly the limit */
    }
}

/* The owner binding: the server's owner replaces whatever the caller put
 * under "owner"; NULL or "" means no owner (the caller's value stays). */
static void test_owner_binding(void **state)
{
    char *out = NULL;
    eq_err err;
    (void)state;
    assert_int_equal(export_params_build("{\"owner\":\"mallory\",\"a\":1}", "alice", &out, &err), 0);
    assert_string_equal(out, "{\"a\":1,\"owner\":\"alice\"}");
    free(out);
    assert_int_equal(export_params_build("{\"owner\":\"x\"}", NULL, &out, &err), 0);
    assert_string_equal(out, "{\"owner\":\"x\"}");
    free(out);
    assert_int_equal(export_params_build("{\"owner\":\"x\"}", "", &out, &err), 0);
    assert_string_equal(out, "{\"owner\":\"x\"}");
    free(out);
    assert_int_equal(export_params_build(NULL, "Jane Doe kind=forged", &out, &err), 0);
    assert_string_equal(out, "{\"owner\":\"Jane Doe kind=forged\"}");
    free(out);
}

/* One listen-address parser for serve and the worker's /metrics. */
static void test_listen_address(void **state)
{
    struct sockaddr_storage ss;
    socklen_t len;
    eq_err err;
    (void)state;
    assert_int_equal(eq_listen_parse("V", "127.0.0.1:9100", &ss, &len, &err), 0);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9100);
    assert_int_equal(eq_listen_parse("V", "[::1]:9100", &ss, &len, &err), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 9100);
    assert_int_equal(eq_listen_parse("V", "0.0.0.0:0", &ss, &len, &err), 0);
    static const char *const bad[] = {"", "9100", "127.0.0.1", "127.0.0.1:", "::1:9100", "[::1:9100",
                                      "[]:9100", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:91a",
                                      "127.0.0.1:123456", "no host.invalid:80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(eq_listen_parse("EXPORTQ_METRICS_LISTEN", bad[i], &ss, &len, &err), -1);
        assert_non_null(strstr(err.msg, "EXPORTQ_METRICS_LISTEN"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_parse),      cmocka_unit_test(test_id_front_ends_agree),
        cmocka_unit_test(test_hex),           cmocka_unit_test(test_clock),
        cmocka_unit_test(test_content_disposition), cmocka_unit_test(test_key_basename),
        cmocka_unit_test(test_kind_name),     cmocka_unit_test(test_owner_binding), cmocka_unit_test(test_param_name),
        cmocka_unit_test(test_listen_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
