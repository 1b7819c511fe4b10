/* test_sigv4.c - SigV4 against known answers: the worked examples of the AWS S3
 * documentation ("Signature Calculations for the Authorization Header" and
 * "Authenticating Requests: Using Query Parameters"), plus canonicalisation
 * cases (header trimming, repeated headers, query sorting, empty values). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "s3/s3_uri.h"
#include "s3/sigv4.h"

#define AK "AKIAIOSFODNN7EXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define HOST "examplebucket.s3.amazonaws.com"
#define DATE "20130524T000000Z"

typedef struct header_case {
    const char *name;
    const char *method;
    const char *uri;
    sigv4_kv query[4];
    size_t nquery;
    sigv4_kv headers[6];
    size_t nheaders;
    const char *payload_hash;
    const char *want_canonical; /* NULL: not checked */
    const char *want_auth;
} header_case;

static const header_case header_cases[] = {
    {.name = "aws doc: GET object with Range",
     .method = "GET", .uri = "/test.txt",
     .headers = {{"Host", HOST}, {"Range", "bytes=0-9"}, {"x-amz-content-sha256", SIGV4_EMPTY_SHA256},
                 {"x-amz-date", DATE}},
     .nheaders = 4, .payload_hash = SIGV4_EMPTY_SHA256,
     .want_canonical = "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
                       "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
                       "x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n"
                       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     .want_auth = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                  "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                  "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"},
    {.name = "aws doc: PUT object",
     .method = "PUT", .uri = "/test%24file.text",
     .headers = {{"Host", HOST}, {"Date", "Fri, 24 May 2013 00:00:00 GMT"}, {"x-amz-date", DATE},
                 {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
                 {"x-amz-content-sha256", "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"}},
     .nheaders = 5, .payload_hash = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
     .want_auth = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                  "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, "
                  "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"},
    {.name = "aws doc: GET bucket lifecycle",
     .method = "GET", .uri = "/", .query = {{"lifecycle", NULL}}, .nquery = 1,
     .headers = {{"Host", HOST}, {"x-amz-date", DATE}, {"x-amz-content-sha256", SIGV4_EMPTY_SHA256}},
     .nheaders = 3, .payload_hash = SIGV4_EMPTY_SHA256,
     .want_auth = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                  "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
                  "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"},
    {.name = "aws doc: list objects (query given unsorted)",
     .method = "GET", .uri = "/", .query = {{"prefix", "J"}, {"max-keys", "2"}}, .nquery = 2,
     .headers = {{"Host", HOST}, {"x-amz-date", DATE}, {"x-amz-content-sha256", SIGV4_EMPTY_SHA256}},
     .nheaders = 3, .payload_hash = SIGV4_EMPTY_SHA256,
     .want_auth = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                  "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
                  "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"},
    {.name = "canonical: trimmed values, collapsed spaces, repeated header joined, mixed case",
     .method = "POST", .uri = "/b/a%20b", .query = {{"uploads", ""}, {"b", "x y"}, {"a", "2"}, {"a", "1"}},
     .nquery = 4,
     .headers = {{"HOST", "h:9000"}, {"X-Amz-Meta-A", "  one   two  "}, {"x-amz-meta-a", "three"},
                 {"x-amz-date", DATE}},
     .nheaders = 4, .payload_hash = SIGV4_UNSIGNED_PAYLOAD,
     .want_canonical = "POST\n/b/a%20b\na=1&a=2&b=x%20y&uploads=\nhost:h:9000\nx-amz-date:20130524T000000Z\n"
                       "x-amz-meta-a:one two,three\n\nhost;x-amz-date;x-amz-meta-a\nUNSIGNED-PAYLOAD"},
};

static void test_header_cases(void **state)
{
    (void)state;
    sigv4_creds creds = {AK, SK, NULL};
    for (size_t i = 0; i < sizeof header_cases / sizeof header_cases[0]; i++) {
        const header_case *c = &header_cases[i];
        sigv4_request r = {.method = c->method, .uri = c->uri, .query = c->query, .nquery = c->nquery,
                           .headers = c->headers, .nheaders = c->nheaders, .payload_hash = c->payload_hash,
                           .region = "us-east-1", .service = "s3", .amz_date = DATE};
        char auth[1024];
        eq_buf canon;
        eq_err err;
        eq_buf_init(&canon, 65536);
        print_message("case: %s\n", c->name);
        assert_int_equal(sigv4_authorization(&r, &creds, auth, sizeof auth, &canon, &err), 0);
        if (c->want_canonical)
            assert_string_equal(canon.data, c->want_canonical);
        if (c->want_auth)
            assert_string_equal(auth, c->want_auth);
        eq_buf_cleanup(&canon);
    }
}

static void test_presign_doc_example(void **state)
{
    (void)state;
    sigv4_creds creds = {AK, SK, NULL};
    sigv4_kv headers[] = {{"host", HOST}};
    sigv4_request r = {.method = "GET", .uri = "/test.txt", .headers = headers, .nheaders = 1,
                       .payload_hash = SIGV4_UNSIGNED_PAYLOAD, .region = "us-east-1", .service = "s3",
                       .amz_date = DATE};
    eq_buf q;
    eq_err err;
    eq_buf_init(&q, 65536);
    assert_int_equal(sigv4_presign_query(&r, &creds, 86400, &q, NULL, &err), 0);
    assert_string_equal(q.data, "X-Amz-Algorithm=AWS4-HMAC-SHA256"
                                "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
                                "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
                                "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
    eq_buf_cleanup(&q);
}

static void test_presign_limits(void **state)
{
    (void)state;
    sigv4_creds creds = {AK, SK, "token/with+chars="};
    sigv4_kv headers[] = {{"host", HOST}};
    sigv4_request r = {.method = "GET", .uri = "/k", .headers = headers, .nheaders = 1,
                       .payload_hash = SIGV4_UNSIGNED_PAYLOAD, .region = "us-east-1", .service = "s3",
                       .amz_date = DATE};
    eq_buf q;
    eq_err err;
    eq_buf_init(&q, 65536);
    assert_int_equal(sigv4_presign_query(&r, &creds, 604801, &q, NULL, &err), -1);
    assert_int_equal(err.code, EQ_ERR_INVALID);
    assert_int_equal(sigv4_presign_query(&r, &creds, 0, &q, NULL, &err), -1);
    assert_int_equal(sigv4_presign_query(&r, &creds, 604800, &q, NULL, &err), 0);
    assert_non_null(strstr(q.data, "&X-Amz-Expires=604800&"));
    assert_non_null(strstr(q.data, "&X-Amz-Security-Token=token%2Fwith%2Bchars%3D&"));
    eq_buf_cleanup(&q);
}

static void test_bad_date(void **state)
{
    (void)state;
    sigv4_creds creds = {AK, SK, NULL};
    sigv4_request r = {.method = "GET", .uri = "/", .payload_hash = SIGV4_EMPTY_SHA256, .region = "us-east-1",
                       .service = "s3", .amz_date = "2013-05-24"};
    char auth[512];
    eq_err err;
    assert_int_equal(sigv4_authorization(&r, &creds, auth, sizeof auth, NULL, &err), -1);
    assert_int_equal(err.code, EQ_ERR_INVALID);
}

static void test_format_date(void **state)
{
    (void)state;
    char d[17];
    sigv4_format_date((time_t)1369353600, d); /* 2013-05-24 00:00:00 UTC */
    assert_string_equal(d, DATE);
}

typedef struct enc_case {
    const char *in;
    bool keep_slash;
    const char *want;
} enc_case;

static void test_uri_encode(void **state)
{
    (void)state;
    static const enc_case cases[] = {
        {"a b+c~d.e_f-g", true, "a%20b%2Bc~d.e_f-g"},
        {"dir/sub dir/x=y&z", true, "dir/sub%20dir/x%3Dy%26z"},
        {"dir/x", false, "dir%2Fx"},
        {"100%", true, "100%25"},
        {"\xc3\xa9t\xc3\xa9.csv", true, "%C3%A9t%C3%A9.csv"},
        {"//double//", true, "//double//"},
        {"./../x", true, "./../x"},
        {"", true, ""},
        {"*'()!$", false, "%2A%27%28%29%21%24"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        eq_buf b;
        eq_err err;
        eq_buf_init(&b, 1024);
        assert_int_equal(eq_buf_reserve(&b, 1, &err), 0);
        assert_int_equal(s3_uri_encode(&b, cases[i].in, strlen(cases[i].in), cases[i].keep_slash, &err), 0);
        assert_string_equal(b.data, cases[i].want);
        eq_buf_cleanup(&b);
    }
    {
        eq_buf b;
        eq_err err;
        eq_buf_init(&b, 8);
        assert_int_equal(s3_uri_encode(&b, "   ", 3, true, &err), -1); /* 9 bytes > max 8 */
        assert_int_equal(err.code, EQ_ERR_LIMIT);
        eq_buf_cleanup(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_cases),  cmocka_unit_test(test_presign_doc_example),
        cmocka_unit_test(test_presign_limits), cmocka_unit_test(test_bad_date),
        cmocka_unit_test(test_format_date),   cmocka_unit_test(test_uri_encode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
