/* test_link.c - stable link tokens (common/link.h): a minted token verifies
 * with its scope, job id and expiry; every change to it (each character, each
 * bit of the MAC, truncation, another scope, another secret, padding,
 * non-canonical spelling) is refused; URLs are built under PUBLIC_URL; the
 * EXPORTQ_PUBLIC_URL rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/link.h"

static const char secret[] = "0123456789abcdef0123456789abcdef-test";
#define SLEN (sizeof secret - 1)

static void test_roundtrip(void **state)
{
    char t[LINK_TOKEN_MAX];
    int64_t id, exp;
    (void)state;
    assert_int_equal(link_token_mint(secret, SLEN, LINK_SCOPE_DOWNLOAD, 42, 1900000000, t), 0);
    assert_int_equal(strlen(t), LINK_TOKEN_LEN);
    assert_int_equal(strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), LINK_TOKEN_LEN);
    assert_int_equal(link_token_verify(secret, SLEN, t, LINK_SCOPE_DOWNLOAD, &id, &exp), 0);
    assert_int_equal(id, 42);
    assert_int_equal(exp, 1900000000);
    /* the largest values survive */
    assert_int_equal(link_token_mint(secret, SLEN, LINK_SCOPE_STATUS, INT64_MAX, INT64_MAX, t), 0);
    assert_int_equal(link_token_verify(secret, SLEN, t, LINK_SCOPE_STATUS, &id, &exp), 0);
    assert_true(id == INT64_MAX && exp == INT64_MAX);
    /* out of range */
    assert_int_equal(link_token_mint(secret, SLEN, LINK_SCOPE_STATUS, 0, 1, t), -1);
    assert_int_equal(link_token_mint(secret, SLEN, (link_scope)3, 1, 1, t), -1);
}

static void test_scope_and_secret(void **state)
{
    char t[LINK_TOKEN_MAX];
    int64_t id = 7, exp = 7;
    (void)state;
    assert_int_equal(link_token_mint(secret, SLEN, LINK_SCOPE_STATUS, 42, 1900000000, t), 0);
    assert_int_equal(link_token_verify(secret, SLEN, t, LINK_SCOPE_DOWNLOAD, &id, &exp), -1);
    assert_true(id == 0 && exp == 0);
    assert_int_equal(link_token_verify("another secret of at least 32 bytes!", 36, t, LINK_SCOPE_STATUS, &id, &exp), -1);
    assert_int_equal(link_token_verify(secret, SLEN - 1, t, LINK_SCOPE_STATUS, &id, &exp), -1);
}

static void test_tampered(void **state)
{
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char t[LINK_TOKEN_MAX], u[LINK_TOKEN_MAX + 8];
    int64_t id, exp;
    (void)state;
    assert_int_equal(link_token_mint(secret, SLEN, LINK_SCOPE_DOWNLOAD, 1234, 1900000000, t), 0);
    /* every character replaced by every other one */
    for (size_t i = 0; i < LINK_TOKEN_LEN; i++) {
        for (size_t a = 0; a < sizeof alpha - 1; a++) {
            if (alpha[a] == t[i])
                continue;
            memcpy(u, t, sizeof t);
            u[i] = alpha[a];
            assert_int_equal(link_token_verify(secret, SLEN, u, LINK_SCOPE_DOWNLOAD, &id, &exp), -1);
        }
    }
    /* truncated at every length, extended, padded, other alphabets */
    for (size_t n = 0; n < LINK_TOKEN_LEN; n++) {
        memcpy(u, t, n);
        u[n] = '\0';
        assert_int_equal(link_token_verify(secret, SLEN, u, LINK_SCOPE_DOWNLOAD, &id, &exp), -1);
    }
    snprintf(u, sizeof u, "%sA", t);
    assert_int_equal(link_token_verify(secret, SLEN, u, LINK_SCOPE_DOWNLOAD, &id, &exp), -1);
    snprintf(u, sizeof u, "%s=", t);
    assert_int_equal(link_token_verify(secret, SLEN, u, LINK_SCOPE_DOWNLOAD, &id, &exp), -1);
    memcpy(u, t, sizeof t);
    for (size_t i = 0; i < LINK_TOKEN_LEN; i++)
        u[i] = u[i] == '-' ? '+' : u[i] == '_' ? '/' : u[i];
    if (strcmp(u, t) != 0)
        assert_int_equal(link_token_verify(secret, SLEN, u, LINK_SCOPE_DOWNLOAD, &id, &exp), -1);
    assert_int_equal(link_token_verify(secret, SLEN, NULL, LINK_SCOPE_DOWNLOAD, &id, &exp), -1);
    assert_int_equal(link_token_verify(secret, SLEN, "", LINK_SCOPE_DOWNLOAD, &id, &exp), -1);
    /* the last character carries 2 unused bits: a non-canonical spelling of
     * the same bytes is refused too */
    {
        const char *p = strchr(alpha, t[LINK_TOKEN_LEN - 1]);
        size_t v = (size_t)(p - alpha);
        memcpy(u, t, sizeof t);
        u[LINK_TOKEN_LEN - 1] = alpha[v | 1];
        if (u[LINK_TOKEN_LEN - 1] != t[LINK_TOKEN_LEN - 1])
            assert_int_equal(link_token_verify(secret, SLEN, u, LINK_SCOPE_DOWNLOAD, &id, &exp), -1);
    }
    /* the genuine one still verifies */
    assert_int_equal(link_token_verify(secret, SLEN, t, LINK_SCOPE_DOWNLOAD, &id, &exp), 0);
}

static void test_urls(void **state)
{
    eq_config cfg;
    char url[LINK_URL_MAX], t[LINK_TOKEN_MAX];
    int64_t id, exp;
    (void)state;
    memset(&cfg, 0, sizeof cfg);
    cfg.retention_seconds = 604800;
    assert_false(link_configured(&cfg));
    assert_int_equal(link_url(&cfg, LINK_SCOPE_DOWNLOAD, 5, 10, url, sizeof url), -1);
    cfg.public_url = (char *)"https://exports.example.com/base";
    cfg.link_secret = (char *)secret;
    assert_true(link_configured(&cfg));
    assert_int_equal(link_url(&cfg, LINK_SCOPE_DOWNLOAD, 5, 1900000000, url, sizeof url), 0);
    assert_int_equal(strncmp(url, "https://exports.example.com/base/v1/exports/5/download?t=", 57), 0);
    snprintf(t, sizeof t, "%s", url + 57);
    assert_int_equal(link_token_verify(secret, SLEN, t, LINK_SCOPE_DOWNLOAD, &id, &exp), 0);
    assert_true(id == 5 && exp == 1900000000);
    assert_int_equal(link_url(&cfg, LINK_SCOPE_STATUS, 5, 1900000000, url, sizeof url), 0);
    assert_int_equal(strncmp(url, "https://exports.example.com/base/exports/5?t=", 45), 0);
    assert_int_equal(link_token_verify(secret, SLEN, url + 45, LINK_SCOPE_STATUS, &id, &exp), 0);
    assert_int_equal(link_url(&cfg, LINK_SCOPE_STATUS, 5, 1900000000, url, 60), -1);
    assert_string_equal(url, "");
    /* expiry: the job's link_expires_at, else retention from now */
    assert_int_equal(link_expiry(&cfg, 1800000000, 1700000000), 1800000000);
    assert_int_equal(link_expiry(&cfg, 0, 1700000000), 1700000000 + 604800);
}

static void test_public_url_rule(void **state)
{
    static const char *const good[] = {"http://localhost:8080", "https://exports.example.com",
                                       "https://example.com/exportq", "http://127.0.0.1:1/a/b"};
    static const char *const bad[] = {"exports.example.com", "ftp://example.com", "https://", "https:///path",
                                      "https://example.com/?a=b", "https://example.com/#top",
                                      "https://user:pw@example.com", "https://exa mple.com", "https://example.com/\x01",
                                      "javascript:alert(1)", "/v1/exports", ""};
    char why[96];
    (void)state;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_int_equal(link_public_url_check(good[i], why, sizeof why), 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        if (link_public_url_check(bad[i], why, sizeof why) != -1)
            fail_msg("accepted %s", bad[i]);
        assert_true(why[0] != '\0');
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_scope_and_secret),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_public_url_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
