/* test_aws_creds.c - the pure parts of the credential chain: which container
 * credential URLs are allowed (refused ones never reach the network), the
 * shared-file profile parser, the credentials document and its times, and
 * the "no source" line. No test here opens a socket: every source that could
 * (IMDS) is disabled. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "s3/aws_creds.h"
#include "s3/aws_source.h"

static int url_ok(const char *rel, const char *full)
{
    CURLU *u = NULL;
    eq_err err;
    int rc = aws_container_url(rel, full, &u, &err);
    curl_url_cleanup(u);
    return rc;
}

static void test_container_url(void **state)
{
    CURLU *u = NULL;
    char *s = NULL;
    eq_err err;
    (void)state;
    /* allowed */
    assert_int_equal(url_ok("/v2/credentials/abc", NULL), 0);
    assert_int_equal(url_ok(NULL, "http://127.0.0.1:8080/creds"), 0);
    assert_int_equal(url_ok(NULL, "http://127.10.20.30/creds"), 0);
    assert_int_equal(url_ok(NULL, "http://localhost:9/x"), 0);
    assert_int_equal(url_ok(NULL, "http://[::1]:9/x"), 0);
    assert_int_equal(url_ok(NULL, "http://169.254.170.23/v1/credentials"), 0);
    assert_int_equal(url_ok(NULL, "http://[fd00:ec2::23]/v1/credentials"), 0);
    assert_int_equal(url_ok(NULL, "http://169.254.170.2/v2/credentials"), 0);
    assert_int_equal(url_ok(NULL, "https://127.0.0.1/creds"), 0);
    /* the relative URI always goes to the ECS address */
    assert_int_equal(aws_container_url("/v2/credentials/abc", NULL, &u, &err), 0);
    assert_int_equal(curl_url_get(u, CURLUPART_URL, &s, 0), CURLUE_OK);
    assert_string_equal(s, "http://169.254.170.2/v2/credentials/abc");
    curl_free(s);
    curl_url_cleanup(u);
    /* refused: other hosts, tricks, schemes */
    assert_int_equal(url_ok(NULL, "http://169.254.169.254/latest/meta-data/"), -1);
    assert_int_equal(url_ok(NULL, "http://10.0.0.1/creds"), -1);
    assert_int_equal(url_ok(NULL, "http://0.0.0.0:8080/creds"), -1);
    assert_int_equal(url_ok(NULL, "http://example.com/creds"), -1);
    assert_int_equal(url_ok(NULL, "http://127.0.0.1.example.com/creds"), -1);
    assert_int_equal(url_ok(NULL, "http://127.0.0.1@example.com/creds"), -1);
    assert_int_equal(url_ok(NULL, "http://user:pw@127.0.0.1/creds"), -1);
    assert_int_equal(url_ok(NULL, "http://[::ffff:10.0.0.1]/creds"), -1);
    assert_int_equal(url_ok(NULL, "http://[fe80::1%25eth0]/creds"), -1);
    assert_int_equal(url_ok(NULL, "file:///etc/passwd"), -1);
    assert_int_equal(url_ok(NULL, "ftp://127.0.0.1/creds"), -1);
    assert_int_equal(url_ok(NULL, "not a url"), -1);
    assert_int_equal(url_ok("relative/without/slash", NULL), -1);
    assert_int_equal(url_ok("@example.com/x", NULL), -1);
    assert_int_equal(url_ok("/x@example.com", NULL), -1);
    assert_int_equal(aws_container_url(NULL, "http://169.254.169.254/", &u, &err), -1);
    assert_null(u);
    assert_non_null(strstr(err.msg, "AWS_CONTAINER_CREDENTIALS_FULL_URI"));
    assert_non_null(strstr(err.msg, "refused"));
}

static void test_profile_parse(void **state)
{
    static const char creds[] = "# comment\n"
                                "[default]\n"
                                "aws_access_key_id = AKIDDEFAULT\n"
                                "aws_secret_access_key=secretdefault\n"
                                "\n"
                                "[exports]\r\n"
                                "  aws_access_key_id   =  AKIDEXPORTS  \r\n"
                                "; another comment\n"
                                "aws_secret_access_key = secret/with+chars=\n"
                                "aws_session_token = tok\n"
                                "[profile exports]\n"
                                "aws_access_key_id = WRONG\n";
    static const char config[] = "[default]\nregion = eu-west-1\n"
                                 "[profile exports]\naws_access_key_id = AKIDFROMCONFIG\n"
                                 "[profile sso]\nsso_session = corp\n"
                                 "[exports]\naws_access_key_id = NOTAPROFILE\n";
    aws_creds c;
    char unsup[64];
    (void)state;
    memset(&c, 0, sizeof c);
    assert_int_equal(aws_profile_parse(creds, strlen(creds), "exports", false, &c, unsup, sizeof unsup), 1);
    assert_string_equal(c.access_key, "AKIDEXPORTS");
    assert_string_equal(c.secret_key, "secret/with+chars=");
    assert_string_equal(c.session_token, "tok");
    assert_string_equal(unsup, "");
    memset(&c, 0, sizeof c);
    assert_int_equal(aws_profile_parse(creds, strlen(creds), "default", false, &c, unsup, sizeof unsup), 1);
    assert_string_equal(c.access_key, "AKIDDEFAULT");
    assert_string_equal(c.session_token, "");
    /* the config file spells profiles "[profile name]", "[default]" alone */
    memset(&c, 0, sizeof c);
    assert_int_equal(aws_profile_parse(config, strlen(config), "exports", true, &c, unsup, sizeof unsup), 1);
    assert_string_equal(c.access_key, "AKIDFROMCONFIG");
    assert_int_equal(aws_profile_parse(config, strlen(config), "sso", true, &c, unsup, sizeof unsup), 1);
    assert_string_equal(unsup, "sso_session");
    assert_int_equal(aws_profile_parse(config, strlen(config), "missing", true, &c, unsup, sizeof unsup), 0);
    assert_int_equal(aws_profile_parse("", 0, "default", false, &c, unsup, sizeof unsup), 0);
}

static void test_credentials_document(void **state)
{
    static const char ok[] = "{\"Code\":\"Success\",\"LastUpdated\":\"2026-12-01T14:00:00Z\",\"Type\":\"AWS-HMAC\","
                             "\"AccessKeyId\":\"ASIAEXAMPLE\",\"SecretAccessKey\":\"s3cr3t\",\"Token\":\"tok==\","
                             "\"Expiration\":\"2026-12-01T20:00:00Z\"}";
    aws_creds c;
    eq_err err;
    time_t t;
    (void)state;
    memset(&c, 0, sizeof c);
    assert_int_equal(aws_fetch_parse_json("test", ok, strlen(ok), &c, &err), 0);
    assert_string_equal(c.access_key, "ASIAEXAMPLE");
    assert_string_equal(c.secret_key, "s3cr3t");
    assert_string_equal(c.session_token, "tok==");
    assert_int_equal((long long)c.expires_at, 1796155200LL);
    /* refused: no secret, a failed Code, junk, a header-breaking value */
    assert_int_equal(aws_fetch_parse_json("test", "{\"AccessKeyId\":\"A\"}", 19, &c, &err), -1);
    assert_null(strstr(err.msg, "s3cr3t"));
    assert_int_equal(aws_fetch_parse_json("test", "{\"Code\":\"Failed\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"B\"}",
                                          56, &c, &err),
                     -1);
    assert_int_equal(aws_fetch_parse_json("test", "nope", 4, &c, &err), -1);
    assert_int_equal(aws_fetch_parse_json("test", "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"B\\r\\nX: y\"}", 48,
                                          &c, &err),
                     -1);
    /* times */
    assert_int_equal(aws_fetch_parse_time("2026-12-01T20:00:00Z", &t), 0);
    assert_int_equal((long long)t, 1796155200LL);
    assert_int_equal(aws_fetch_parse_time("2026-12-01T20:00:00.123456Z", &t), 0);
    assert_int_equal((long long)t, 1796155200LL);
    assert_int_equal(aws_fetch_parse_time("2026-12-01T21:00:00+01:00", &t), 0);
    assert_int_equal((long long)t, 1796155200LL);
    assert_int_equal(aws_fetch_parse_time("2026-12-01 20:00:00", &t), -1);
    assert_int_equal(aws_fetch_parse_time("2026-12-01T20:00:00Zjunk", &t), -1);
    assert_int_equal(aws_fetch_parse_time("", &t), -1);
}

static void test_no_source_line(void **state)
{
    eq_config cfg;
    aws_credentials *p = NULL;
    eq_err err;
    (void)state;
    memset(&cfg, 0, sizeof cfg);
    cfg.aws_shared_credentials_file = "/nonexistent/credentials";
    cfg.aws_config_file = "/nonexistent/config";
    cfg.aws_imds_disabled = true; /* never ask 169.254.169.254 from a test */
    assert_int_equal(aws_credentials_acquire(&cfg, &p, &err), -1);
    assert_null(p);
    assert_non_null(strstr(err.msg, "no AWS credentials found"));
    assert_non_null(strstr(err.msg, "environment"));
    assert_non_null(strstr(err.msg, "shared files"));
    assert_non_null(strstr(err.msg, "web identity"));
    assert_non_null(strstr(err.msg, "container"));
    assert_non_null(strstr(err.msg, "IMDSv2: disabled"));
    assert_null(strchr(err.msg, '\n'));
    /* a refused full URI stops the chain with its own error, before any connection */
    cfg.aws_container_full_uri = "http://169.254.169.254/latest/meta-data/iam/security-credentials/x";
    assert_int_equal(aws_credentials_acquire(&cfg, &p, &err), -1);
    assert_non_null(strstr(err.msg, "refused"));
    /* static keys: one provider, never expiring */
    memset(&cfg, 0, sizeof cfg);
    cfg.aws_access_key_id = "AKIDSTATIC";
    cfg.aws_secret_access_key = "secret";
    cfg.aws_imds_disabled = true;
    assert_int_equal(aws_credentials_acquire(&cfg, &p, &err), 0);
    {
        aws_creds c;
        assert_int_equal(aws_credentials_get(p, &c, &err), 0);
        assert_string_equal(c.access_key, "AKIDSTATIC");
        assert_int_equal((long long)c.expires_at, 0);
        aws_creds_cleanse(&c);
    }
    aws_credentials_release(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_container_url),
        cmocka_unit_test(test_profile_parse),
        cmocka_unit_test(test_credentials_document),
        cmocka_unit_test(test_no_source_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
