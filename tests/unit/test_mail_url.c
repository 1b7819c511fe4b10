/* test_mail_url.c - EXPORTQ_SMTP_URL parsing and the start-up mail check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "mail/mail_send.h"

static void test_parse_good(void **state)
{
    static const struct {
        const char *url;
        int tls;
        const char *host, *user, *pass;
        int port;
        bool auth;
    } cases[] = {
        {"smtp://mail.example.com", EQ_SMTP_TLS_STARTTLS, "mail.example.com", "", "", 587, false},
        {"smtp://mail.example.com", EQ_SMTP_TLS_OPTIONAL, "mail.example.com", "", "", 587, false},
        {"smtp://mail.example.com", EQ_SMTP_TLS_NONE, "mail.example.com", "", "", 25, false},
        {"smtp://mail.example.com:2525/", EQ_SMTP_TLS_NONE, "mail.example.com", "", "", 2525, false},
        {"smtp://u:p@127.0.0.1:1025", EQ_SMTP_TLS_STARTTLS, "127.0.0.1", "u", "p", 1025, true},
        /* percent-decoding of user and password; ':' '@' '/' inside them */
        {"smtp://me%40example.com:p%3Aa%40s%2Fs%25@smtp.example.com", EQ_SMTP_TLS_STARTTLS, "smtp.example.com",
         "me@example.com", "p:a@s/s%", 587, true},
        /* a raw '@' in the password: the last '@' ends the userinfo */
        {"smtp://user:p@ss@h.example:587", EQ_SMTP_TLS_STARTTLS, "h.example", "user", "p@ss", 587, true},
        {"smtp://apikey@h.example", EQ_SMTP_TLS_STARTTLS, "h.example", "apikey", "", 587, true},
        {"smtp://[::1]:25", EQ_SMTP_TLS_NONE, "[::1]", "", "", 25, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mail_url u;
        eq_err err;
        if (mail_url_parse(cases[i].url, cases[i].tls, &u, &err) < 0)
            fail_msg("%s: %s", cases[i].url, err.msg);
        assert_string_equal(u.host, cases[i].host);
        assert_string_equal(u.user, cases[i].user);
        assert_string_equal(u.pass, cases[i].pass);
        assert_int_equal(u.port, cases[i].port);
        assert_int_equal(u.has_auth, cases[i].auth);
    }
}

static void test_parse_bad(void **state)
{
    static const char *const bad[] = {
        "",
        "mail.example.com",
        "http://mail.example.com",
        "smtp://",
        "smtp://:25",
        "smtp://h.example:0",
        "smtp://h.example:65536",
        "smtp://h.example:25x",
        "smtp://h.example:",
        "smtp://h.example/path",
        "smtp://h.example?x=1",
        "smtp://h_ex ample",
        "smtp://u:p%0D%0AX@h.example", /* CR LF hidden in the password */
        "smtp://u%00:p@h.example",
        "smtp://u:p%zz@h.example",
        "smtp://:secret@h.example",
        "smtp://[::1",
        "smtp://[zz::1]:25",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mail_url u;
        eq_err err;
        if (mail_url_parse(bad[i], EQ_SMTP_TLS_STARTTLS, &u, &err) == 0)
            fail_msg("accepted '%s'", bad[i]);
        assert_int_equal(err.code, EQ_ERR_CONFIG);
        assert_non_null(strstr(err.msg, "EXPORTQ_SMTP_URL"));
    }
}

static void test_errors_hide_password(void **state)
{
    mail_url u;
    eq_err err;
    assert_int_equal(mail_url_parse("smtp://user:TopSecret9@h.example:99999", EQ_SMTP_TLS_STARTTLS, &u, &err), -1);
    assert_null(strstr(err.msg, "TopSecret9"));
    assert_int_equal(mail_url_parse("smtp://user:TopSecret9@bad_host!", EQ_SMTP_TLS_STARTTLS, &u, &err), -1);
    assert_null(strstr(err.msg, "TopSecret9"));
    assert_int_equal(mail_url_parse("smtp://user:TopSecret9%@h.example", EQ_SMTP_TLS_STARTTLS, &u, &err), -1);
    assert_null(strstr(err.msg, "TopSecret9"));
}

static void test_smtps_rejected(void **state)
{
    mail_url u;
    eq_err err;
    assert_int_equal(mail_url_parse("smtps://u:p@smtp.example.com:465", EQ_SMTP_TLS_STARTTLS, &u, &err), -1);
    assert_int_equal(err.code, EQ_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "smtps://"));
    assert_non_null(strstr(err.msg, "STARTTLS"));
    assert_null(strstr(err.msg, "u:p"));
}

static void test_config_check(void **state)
{
    eq_config cfg;
    eq_err err;
    memset(&cfg, 0, sizeof cfg);
    cfg.smtp_url = "smtp://u:p@smtp.example.com";
    cfg.smtp_from = "exports@example.com";
    cfg.smtp_tls = EQ_SMTP_TLS_STARTTLS;
    assert_int_equal(mail_config_check(&cfg, &err), 0);
    cfg.smtp_from = "Exports <exports@example.com>";
    assert_int_equal(mail_config_check(&cfg, &err), -1);
    assert_non_null(strstr(err.msg, "EXPORTQ_SMTP_FROM"));
    cfg.smtp_from = "exports@example.com";
    cfg.smtp_url = "smtps://smtp.example.com";
    assert_int_equal(mail_config_check(&cfg, &err), -1);
    assert_non_null(strstr(err.msg, "EXPORTQ_SMTP_URL"));
    cfg.smtp_url = "smtp://smtp.example.com";
    cfg.smtp_ca_file = "/nonexistent/ca.pem";
    assert_int_equal(mail_config_check(&cfg, &err), -1);
    assert_non_null(strstr(err.msg, "EXPORTQ_SMTP_CA_FILE"));
    cfg.smtp_ca_file = NULL;
    cfg.smtp_url = NULL;
    assert_int_equal(mail_config_check(&cfg, &err), -1);
    assert_non_null(strstr(err.msg, "EXPORTQ_SMTP_URL"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good),
        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_errors_hide_password),
        cmocka_unit_test(test_smtps_rejected),
        cmocka_unit_test(test_config_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
