/* test_webhook.c - the pure parts of webhook/webhook.h: the Exportq-Signature
 * (known vectors computed with Python's hmac), its verification as a receiver
 * does it, the event body, the allowed-hosts match and the address rules
 * (link-local/metadata never, loopback and private ranges only when named). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "webhook/webhook.h"

#define SECRET "whsec_test_0123456789"

static void test_signature_vector(void **state)
{
    char out[WEBHOOK_SIG_MAX];
    const char *body = "{\"id\":\"evt_1\"}";
    (void)state;
    /* python3: hmac.new(b"whsec_test_0123456789", b'1700000000.{"id":"evt_1"}', hashlib.sha256).hexdigest() */
    assert_int_equal(webhook_signature(SECRET, strlen(SECRET), 1700000000LL, body, strlen(body), out, sizeof out), 0);
    assert_string_equal(out, "t=1700000000,v1=96a6e4147d41eb58c1480c33f2e6c77496783ed0b5e00ff73e862fbca407ecc6");
    /* an empty body: HMAC("k", "0.") */
    assert_int_equal(webhook_signature("k", 1, 0, "", 0, out, sizeof out), 0);
    assert_string_equal(out, "t=0,v1=6b4a4b8b3c40f1e8f53a3d36682e5f99f7ad2ac1df1c93dfe336f329167641e7");
}

static void test_signature_changes(void **state)
{
    char a[WEBHOOK_SIG_MAX], b[WEBHOOK_SIG_MAX];
    (void)state;
    assert_int_equal(webhook_signature(SECRET, strlen(SECRET), 100, "x", 1, a, sizeof a), 0);
    assert_int_equal(webhook_signature(SECRET, strlen(SECRET), 101, "x", 1, b, sizeof b), 0);
    assert_string_not_equal(strchr(a, ','), strchr(b, ',')); /* t is signed */
    assert_int_equal(webhook_signature(SECRET, strlen(SECRET), 100, "y", 1, b, sizeof b), 0);
    assert_string_not_equal(a, b); /* the body is signed */
    assert_int_equal(webhook_signature("other-secret-0000", 17, 100, "x", 1, b, sizeof b), 0);
    assert_string_not_equal(a, b); /* the secret is used */
    /* lowercase hex only */
    for (const char *p = strstr(a, "v1=") + 3; *p; p++)
        assert_true((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'));
    assert_int_equal(strlen(strstr(a, "v1=") + 3), 64);
    /* too small a buffer: refused, never cut */
    assert_int_equal(webhook_signature(SECRET, strlen(SECRET), 100, "x", 1, b, 20), -1);
    assert_string_equal(b, "");
}

static void test_signature_verify(void **state)
{
    char sig[WEBHOOK_SIG_MAX], two[2 * WEBHOOK_SIG_MAX];
    const char *body = "{\"type\":\"export.succeeded\"}";
    size_t n = strlen(body);
    (void)state;
    assert_int_equal(webhook_signature(SECRET, strlen(SECRET), 1000, body, n, sig, sizeof sig), 0);
    assert_true(webhook_signature_verify(SECRET, strlen(SECRET), sig, body, n, 1000, 300));
    assert_true(webhook_signature_verify(SECRET, strlen(SECRET), sig, body, n, 1299, 300));
    assert_false(webhook_signature_verify(SECRET, strlen(SECRET), sig, body, n, 1301, 300)); /* too old */
    assert_false(webhook_signature_verify("wrong-secret-000000", 19, sig, body, n, 1000, 300));
    assert_false(webhook_signature_verify(SECRET, strlen(SECRET), sig, "{\"type\":\"export.failed\"}", 24, 1000, 300));
    /* another t with the same v1 */
    snprintf(two, sizeof two, "t=1001,%s", strstr(sig, "v1="));
    assert_false(webhook_signature_verify(SECRET, strlen(SECRET), two, body, n, 1000, 0));
    /* a second scheme and a stale v1 next to the right one (key rotation) */
    snprintf(two, sizeof two, "t=1000,v0=abc,v1=%064d,%s", 0, strstr(sig, "v1="));
    assert_true(webhook_signature_verify(SECRET, strlen(SECRET), two, body, n, 1000, 300));
    assert_false(webhook_signature_verify(SECRET, strlen(SECRET), "v1=00", body, n, 1000, 0));
    assert_false(webhook_signature_verify(SECRET, strlen(SECRET), "t=-5,v1=00", body, n, 1000, 0));
    assert_false(webhook_signature_verify(SECRET, strlen(SECRET), NULL, body, n, 1000, 0));
}

static void test_event_body(void **state)
{
    json_t *data = json_pack("{s:I, s:s}", "id", (json_int_t)7, "state", "succeeded");
    char *s;
    (void)state;
    s = webhook_event_body("evt_0123", "export.succeeded", 1700000000LL, data);
    assert_non_null(s);
    assert_string_equal(s, "{\"id\":\"evt_0123\",\"type\":\"export.succeeded\",\"created\":1700000000,"
                           "\"data\":{\"id\":7,\"state\":\"succeeded\"}}");
    free(s);
    assert_int_equal(data->refcount, 1); /* data is borrowed */
    json_decref(data);
}

static void test_host_allowed(void **state)
{
    const char *allowed = "hooks.example.com, *.example.org,10.1.2.3 ,localhost";
    (void)state;
    assert_int_equal(webhook_host_allowed("hooks.example.com", allowed), WEBHOOK_HOST_EXACT);
    assert_int_equal(webhook_host_allowed("HOOKS.Example.COM", allowed), WEBHOOK_HOST_EXACT);
    assert_int_equal(webhook_host_allowed("hooks.example.com.", allowed), WEBHOOK_HOST_EXACT);
    assert_int_equal(webhook_host_allowed("a.b.example.org", allowed), WEBHOOK_HOST_WILDCARD);
    assert_int_equal(webhook_host_allowed("example.org", allowed), WEBHOOK_HOST_NO); /* *.x is a subdomain */
    assert_int_equal(webhook_host_allowed("evilexample.org", allowed), WEBHOOK_HOST_NO);
    assert_int_equal(webhook_host_allowed("example.org.evil.net", allowed), WEBHOOK_HOST_NO);
    assert_int_equal(webhook_host_allowed("hooks.example.com.evil.net", allowed), WEBHOOK_HOST_NO);
    assert_int_equal(webhook_host_allowed("xhooks.example.com", allowed), WEBHOOK_HOST_NO);
    assert_int_equal(webhook_host_allowed("10.1.2.3", allowed), WEBHOOK_HOST_EXACT);
    assert_int_equal(webhook_host_allowed("localhost", allowed), WEBHOOK_HOST_LOOPBACK);
    assert_int_equal(webhook_host_allowed("127.0.0.1", allowed), WEBHOOK_HOST_NO);
    assert_int_equal(webhook_host_allowed("169.254.169.254", allowed), WEBHOOK_HOST_NO);
    assert_int_equal(webhook_host_allowed("hooks.example.com", NULL), WEBHOOK_HOST_NO);
    assert_int_equal(webhook_host_allowed("", allowed), WEBHOOK_HOST_NO);
    assert_int_equal(webhook_host_allowed("x", ""), WEBHOOK_HOST_NO);
    assert_int_equal(webhook_host_allowed("::1", "::1"), WEBHOOK_HOST_LOOPBACK);
}

static bool v4(const char *a, int match)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    assert_int_equal(inet_pton(AF_INET, a, &sa.sin_addr), 1);
    return webhook_address_allowed((const struct sockaddr *)&sa, match);
}

static bool v6(const char *a, int match)
{
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6};
    assert_int_equal(inet_pton(AF_INET6, a, &sa.sin6_addr), 1);
    return webhook_address_allowed((const struct sockaddr *)&sa, match);
}

static void test_address_rules(void **state)
{
    /* never, however the host was allowed */
    static const char *const never4[] = {"169.254.169.254", "169.254.170.2", "169.254.170.23", "169.254.0.1",
                                         "100.100.100.200", "100.64.0.1", "0.0.0.0", "224.0.0.1",
                                         "255.255.255.255", "240.0.0.1", "192.0.0.192"};
    static const char *const never6[] = {"fd00:ec2::254", "fd00:ec2::23", "fe80::1", "::", "ff02::1",
                                         "::ffff:169.254.169.254", "::169.254.169.254", "64:ff9b::a9fe:a9fe",
                                         "2002:a9fe:a9fe::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2"};
    static const int levels[] = {WEBHOOK_HOST_WILDCARD, WEBHOOK_HOST_EXACT, WEBHOOK_HOST_LOOPBACK};
    (void)state;
    for (size_t i = 0; i < sizeof never4 / sizeof never4[0]; i++)
        for (size_t l = 0; l < 3; l++)
            if (v4(never4[i], levels[l]))
                fail_msg("%s allowed at level %d", never4[i], levels[l]);
    for (size_t i = 0; i < sizeof never6 / sizeof never6[0]; i++)
        for (size_t l = 0; l < 3; l++)
            if (v6(never6[i], levels[l]))
                fail_msg("%s allowed at level %d", never6[i], levels[l]);
    /* loopback: only for an entry that is loopback itself */
    assert_false(v4("127.0.0.1", WEBHOOK_HOST_WILDCARD));
    assert_false(v4("127.0.0.1", WEBHOOK_HOST_EXACT));
    assert_true(v4("127.0.0.1", WEBHOOK_HOST_LOOPBACK));
    assert_false(v6("::1", WEBHOOK_HOST_EXACT));
    assert_true(v6("::1", WEBHOOK_HOST_LOOPBACK));
    assert_false(v6("::ffff:127.0.0.1", WEBHOOK_HOST_EXACT));
    /* private ranges: only for a host named exactly */
    static const char *const private4[] = {"10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1", "198.18.0.1"};
    for (size_t i = 0; i < sizeof private4 / sizeof private4[0]; i++) {
        assert_false(v4(private4[i], WEBHOOK_HOST_WILDCARD));
        assert_true(v4(private4[i], WEBHOOK_HOST_EXACT));
    }
    assert_false(v6("fd12:3456::1", WEBHOOK_HOST_WILDCARD));
    assert_true(v6("fd12:3456::1", WEBHOOK_HOST_EXACT));
    assert_false(v6("::ffff:10.0.0.1", WEBHOOK_HOST_WILDCARD));
    /* public addresses: any allowed host */
    assert_true(v4("93.184.216.34", WEBHOOK_HOST_WILDCARD));
    assert_true(v4("172.32.0.1", WEBHOOK_HOST_WILDCARD));
    assert_true(v6("2606:2800:220:1::1", WEBHOOK_HOST_WILDCARD));
    assert_true(v6("::ffff:93.184.216.34", WEBHOOK_HOST_WILDCARD));
    /* a host that matched nothing: nothing */
    assert_false(v4("93.184.216.34", WEBHOOK_HOST_NO));
    assert_false(webhook_address_allowed(NULL, WEBHOOK_HOST_EXACT));
}

/* Refusals that need no network: they fail before any name lookup. */
static void test_post_refusals(void **state)
{
    webhook_result r;
    eq_err err;
    const char *body = "{}";
    (void)state;
    assert_int_equal(webhook_post("http://169.254.169.254/latest/meta-data/", false, "hooks.example.com", SECRET,
                                  body, 2, 2, NULL, &r, &err),
                     -1);
    assert_true(r.refused);
    assert_non_null(strstr(err.msg, "EXPORTQ_WEBHOOK_ALLOWED_HOSTS"));
    /* allowed by name, but the address is the metadata service: refused after the (numeric) lookup */
    assert_int_equal(webhook_post("http://169.254.169.254/", false, "169.254.169.254", SECRET, body, 2, 2, NULL, &r, &err),
                     -1);
    assert_true(r.refused);
    assert_non_null(strstr(err.msg, "169.254.169.254"));
    assert_int_equal(webhook_post("http://[fd00:ec2::254]/", false, "fd00:ec2::254", SECRET, body, 2, 2, NULL, &r, &err),
                     -1);
    assert_true(r.refused);
    assert_int_equal(webhook_post("http://127.0.0.1:9/", false, "127.0.0.2,*.0.0.1", SECRET, body, 2, 2, NULL, &r, &err),
                     -1);
    assert_true(r.refused);
    assert_int_equal(webhook_post("http://hooks.example.com@169.254.169.254/", false, "hooks.example.com", SECRET,
                                  body, 2, 2, NULL, &r, &err),
                     -1);
    assert_true(r.refused);
    assert_int_equal(webhook_post("ftp://hooks.example.com/", false, "hooks.example.com", SECRET, body, 2, 2, NULL, &r, &err),
                     -1);
    assert_true(r.refused);
    assert_int_equal(webhook_post("file:///etc/passwd", true, NULL, SECRET, body, 2, 2, NULL, &r, &err), -1);
    assert_true(r.refused); /* even the operator's URL is http(s) only */
    assert_int_equal(webhook_post("http://127.0.0.1:9/", true, NULL, NULL, body, 2, 2, NULL, &r, &err), -1);
    assert_true(r.refused); /* no secret, no webhook */
    assert_non_null(strstr(err.msg, "EXPORTQ_WEBHOOK_SECRET"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signature_vector), cmocka_unit_test(test_signature_changes),
        cmocka_unit_test(test_signature_verify), cmocka_unit_test(test_event_body),
        cmocka_unit_test(test_host_allowed),     cmocka_unit_test(test_address_rules),
        cmocka_unit_test(test_post_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
