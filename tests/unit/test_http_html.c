/* test_http_html.c - the pure helpers of the HTML pages (escaping, forms,
 * cookies, sizes, CSP hashes, MACs) and the dashboard renderer: hostile
 * values from the database come out escaped, and every action form carries
 * the CSRF token. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "http/http_admin.h"
#include "http/http_html.h"
#include "http/http_pages.h"

static void esc(const char *in, const char *want)
{
    char out[256];
    assert_int_equal(http_html_escape_to(in, out, sizeof out), 0);
    assert_string_equal(out, want);
}

static void test_escape(void **state)
{
    (void)state;
    esc("", "");
    esc("plain text", "plain text");
    esc("<script>alert('x')</script>", "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
    esc("a & b \"c\"", "a &amp; b &quot;c&quot;");
    esc("\" onmouseover=\"x", "&quot; onmouseover=&quot;x");
    esc("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"); /* UTF-8 kept */
    esc("bad \xff byte", "bad \xef\xbf\xbd byte");          /* invalid UTF-8 */
    esc("overlong \xc0\xbc", "overlong \xef\xbf\xbd\xef\xbf\xbd"); /* no '<' smuggled */
    esc("ctl \x01\x1b[31m", "ctl \xef\xbf\xbd\xef\xbf\xbd[31m");
    esc("tab\tnl\n", "tab\tnl\n");
}

static void test_escape_bounded(void **state)
{
    char out[8];
    eq_buf b;
    eq_err err;
    (void)state;
    assert_int_equal(http_html_escape_to("<<<<", out, sizeof out), -1); /* 16 bytes do not fit */
    assert_int_equal(http_html_escape_to("<", out, sizeof out), 0);
    assert_string_equal(out, "&lt;");
    eq_buf_init(&b, 10);
    assert_int_equal(http_html_escape(&b, "&&&", &err), -1);
    assert_int_equal(err.code, EQ_ERR_NOMEM);
    eq_buf_cleanup(&b);
}

static void test_form(void **state)
{
    const char *body = "csrf=ab%2Fcd&token=a+b%21&empty=&flag&csrf=second";
    char out[32];
    (void)state;
    assert_int_equal(http_form_get(body, strlen(body), "csrf", out, sizeof out), 0);
    assert_string_equal(out, "ab/cd"); /* the first wins */
    assert_int_equal(http_form_get(body, strlen(body), "token", out, sizeof out), 0);
    assert_string_equal(out, "a b!");
    assert_int_equal(http_form_get(body, strlen(body), "empty", out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(http_form_get(body, strlen(body), "flag", out, sizeof out), 0);
    assert_int_equal(http_form_get(body, strlen(body), "nope", out, sizeof out), -1);
    assert_int_equal(http_form_get(body, strlen(body), "csr", out, sizeof out), -1); /* no prefix match */
    assert_int_equal(http_form_get("a=%zz", 5, "a", out, sizeof out), -1);
    assert_int_equal(http_form_get("a=%4", 4, "a", out, sizeof out), -1);
    assert_int_equal(http_form_get("a=%00x", 6, "a", out, sizeof out), -1); /* no NUL inside */
    assert_int_equal(http_form_get("a=0123456789", 12, "a", out, 8), -1);   /* too long: refused */
    assert_int_equal(http_form_get("a=1&b=2", 3, "b", out, sizeof out), -1); /* len bounds the body */
    assert_int_equal(http_form_get(NULL, 0, "a", out, sizeof out), -1);
}

static void test_cookie(void **state)
{
    char out[32];
    (void)state;
    assert_int_equal(http_cookie_get("a=1; eq_admin=v.x.y; b=2", "eq_admin", out, sizeof out), 0);
    assert_string_equal(out, "v.x.y");
    assert_int_equal(http_cookie_get("xeq_admin=1", "eq_admin", out, sizeof out), -1);
    assert_int_equal(http_cookie_get("eq_admin=1", "eq_admin", out, sizeof out), 0);
    assert_string_equal(out, "1");
    assert_int_equal(http_cookie_get("eq_admin=0123456789", "eq_admin", out, 4), -1);
    assert_int_equal(http_cookie_get("", "eq_admin", out, sizeof out), -1);
}

static void test_human(void **state)
{
    char out[48];
    (void)state;
    http_human_bytes(0, out, sizeof out);
    assert_string_equal(out, "0 B");
    http_human_bytes(999, out, sizeof out);
    assert_string_equal(out, "999 B");
    http_human_bytes(1500, out, sizeof out);
    assert_string_equal(out, "1.5 KB");
    http_human_bytes(12345678, out, sizeof out);
    assert_string_equal(out, "12.3 MB");
    http_human_bytes(999999, out, sizeof out);
    assert_string_equal(out, "1.0 MB");
    http_human_count(1234567, out, sizeof out);
    assert_string_equal(out, "1,234,567");
    http_human_count(999, out, sizeof out);
    assert_string_equal(out, "999");
    http_human_count(1000, out, sizeof out);
    assert_string_equal(out, "1,000");
    http_human_duration(5, out, sizeof out);
    assert_string_equal(out, "less than a minute");
    http_human_duration(200, out, sizeof out);
    assert_string_equal(out, "about 3 minutes");
    http_human_duration(7200, out, sizeof out);
    assert_string_equal(out, "about 2 hours");
}

static void test_csp_hash_and_mac(void **state)
{
    char h[HTTP_CSP_HASH_MAX], m1[HTTP_MAC_HEX], m2[HTTP_MAC_HEX];
    (void)state;
    /* echo -n 'alert(1)' | openssl dgst -sha256 -binary | base64 */
    http_csp_hash("alert(1)", h);
    assert_string_equal(h, "'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='");
    http_mac_hex("key", 3, "a", "b", m1);
    http_mac_hex("key", 3, "a", "b", m2);
    assert_int_equal(strlen(m1), 64);
    assert_string_equal(m1, m2);
    http_mac_hex("key", 3, "ab", "", m2); /* the separator keeps the fields apart */
    assert_string_not_equal(m1, m2);
    http_mac_hex("kez", 3, "a", "b", m2);
    assert_string_not_equal(m1, m2);
    assert_true(http_secret_equal("s3cret-token", "s3cret-token"));
    assert_false(http_secret_equal("s3cret-token", "s3cret-tokeN"));
    assert_false(http_secret_equal("s3cret-token", "s3cret-token-longer"));
    assert_false(http_secret_equal(NULL, "x"));
}

static void test_dashboard_escapes_and_csrf(void **state)
{
    queue_status_row rows[3];
    queue_kind_count kinds[1];
    queue_state_count states[1];
    queue_minute series[3];
    http_admin_view v;
    eq_buf b;
    eq_err err;
    (void)state;
    memset(rows, 0, sizeof rows);
    memset(&v, 0, sizeof v);
    memset(series, 0, sizeof series);
    rows[0].id = 7;
    snprintf(rows[0].state, sizeof rows[0].state, "failed");
    snprintf(rows[0].kind, sizeof rows[0].kind, "user_activity");
    snprintf(rows[0].owner, sizeof rows[0].owner, "<img src=x onerror=alert(1)>");
    snprintf(rows[0].last_error, sizeof rows[0].last_error, "boom </td><script>x()</script>");
    rows[1].id = 8;
    snprintf(rows[1].state, sizeof rows[1].state, "running");
    snprintf(rows[1].worker, sizeof rows[1].worker, "host\"1");
    rows[1].percent = 42;
    snprintf(kinds[0].kind, sizeof kinds[0].kind, "user_activity");
    snprintf(kinds[0].state, sizeof kinds[0].state, "failed");
    kinds[0].jobs = 3;
    snprintf(states[0].state, sizeof states[0].state, "failed");
    states[0].jobs = 3;
    series[1].succeeded = 4;
    series[2].wait_seconds = 1.5;
    series[0].wait_seconds = -1;
    series[1].wait_seconds = -1;
    v.failed = rows;
    v.nfailed = 1;
    v.running = rows + 1;
    v.nrunning = 1;
    v.kinds = kinds;
    v.nkinds = 1;
    v.states = states;
    v.nstates = 1;
    v.series = series;
    v.nseries = 3;
    v.csrf = "c0ffee";
    v.flash = "Export <7> was queued again.";
    eq_buf_init(&b, HTTP_HTML_MAX);
    assert_int_equal(http_admin_render(&v, &b, &err), 0);
    assert_null(strstr(b.data, "<img"));
    assert_null(strstr(b.data, "<script"));
    assert_non_null(strstr(b.data, "&lt;img src=x onerror=alert(1)&gt;"));
    assert_non_null(strstr(b.data, "boom &lt;/td&gt;&lt;script&gt;"));
    assert_non_null(strstr(b.data, "host&quot;1"));
    assert_non_null(strstr(b.data, "Export &lt;7&gt; was queued again."));
    assert_non_null(strstr(b.data, "action=\"/admin/exports/7/retry\""));
    assert_non_null(strstr(b.data, "action=\"/admin/exports/8/cancel\""));
    assert_non_null(strstr(b.data, "<progress max=\"100\" value=\"42\">"));
    assert_non_null(strstr(b.data, "<svg"));
    /* every form posts, and carries the token */
    {
        int forms = 0, tokens = 0;
        for (const char *p = b.data; (p = strstr(p, "<form")); p++)
            forms++;
        for (const char *p = b.data; (p = strstr(p, "name=\"csrf\" value=\"c0ffee\"")); p++)
            tokens++;
        assert_int_equal(forms, 3); /* log out, retry, cancel */
        assert_int_equal(tokens, forms);
        assert_null(strstr(b.data, "method=\"get\""));
    }
    eq_buf_cleanup(&b);
}

static void test_status_page(void **state)
{
    queue_status_row row;
    http_status_view v;
    eq_buf b;
    eq_err err;
    json_t *doc;
    (void)state;
    memset(&row, 0, sizeof row);
    row.id = 12;
    snprintf(row.state, sizeof row.state, "queued");
    snprintf(row.kind, sizeof row.kind, "k");
    snprintf(row.filename, sizeof row.filename, "<b>report</b>.csv");
    row.position = 3;
    row.percent = 0;
    row.eta_seconds = -1;
    row.rows_estimate = -1;
    memset(&v, 0, sizeof v);
    v.row = &row;
    v.poll_url = "/exports/12/status?t=abc";
    v.cancel_url = "/exports/12/cancel?t=abc";
    v.csrf = "f00d";
    eq_buf_init(&b, HTTP_HTML_MAX);
    assert_int_equal(http_status_render(&v, &b, &err), 0);
    assert_non_null(strstr(b.data, "data-state=\"queued\""));
    assert_non_null(strstr(b.data, "data-position=\"3\""));
    assert_non_null(strstr(b.data, "data-percent=\"0\""));
    assert_null(strstr(b.data, "data-eta=")); /* unknown: absent */
    assert_null(strstr(b.data, "<b>report"));
    assert_non_null(strstr(b.data, "&lt;b&gt;report&lt;/b&gt;.csv"));
    assert_non_null(strstr(b.data, "<a class=\"button\" data-download hidden>"));
    assert_non_null(strstr(b.data, "name=\"csrf\" value=\"f00d\""));
    assert_non_null(strstr(b.data, "<noscript><meta http-equiv=\"refresh\""));
    assert_non_null(strstr(b.data, http_status_js())); /* the script whose hash the CSP names */
    eq_buf_cleanup(&b);

    snprintf(row.state, sizeof row.state, "running");
    row.position = 0;
    row.percent = -1;
    row.eta_seconds = 90;
    eq_buf_init(&b, HTTP_HTML_MAX);
    assert_int_equal(http_status_render(&v, &b, &err), 0);
    assert_null(strstr(b.data, "data-position="));
    assert_null(strstr(b.data, "data-percent="));
    assert_non_null(strstr(b.data, "data-eta=\"90\""));
    eq_buf_cleanup(&b);

    snprintf(row.state, sizeof row.state, "failed");
    snprintf(row.last_error, sizeof row.last_error, "export query: ERROR: secret detail");
    doc = http_status_json(&row, NULL);
    assert_non_null(doc);
    assert_null(strstr(json_string_value(json_object_get(doc, "message")), "secret"));
    assert_int_equal(json_integer_value(json_object_get(doc, "poll_after")), 0);
    assert_true(json_is_false(json_object_get(doc, "cancellable")));
    json_decref(doc);

    eq_buf_init(&b, HTTP_HTML_MAX);
    assert_int_equal(http_status_render_gone(404, &b, &err), 0);
    assert_null(strstr(b.data, "data-state=\""));
    eq_buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),         cmocka_unit_test(test_escape_bounded),
        cmocka_unit_test(test_form),           cmocka_unit_test(test_cookie),
        cmocka_unit_test(test_human),          cmocka_unit_test(test_csp_hash_and_mac),
        cmocka_unit_test(test_dashboard_escapes_and_csrf), cmocka_unit_test(test_status_page),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
