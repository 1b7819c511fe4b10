/* test_s3.c - the pure parts of the S3 client: reply parsing (expat),
 * Content-Disposition of presigned links, retry classification, backoff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <limits.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "s3/s3_presign.h"
#include "s3/s3_request.h"
#include "s3/s3_xml.h"

static void parse_ok(const char *xml, s3_xml_reply *x)
{
    eq_err err;
    assert_int_equal(s3_xml_parse(xml, strlen(xml), x, &err), 0);
}

static void test_xml_error(void **state)
{
    s3_xml_reply x = {0};
    (void)state;
    parse_ok("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SignatureDoesNotMatch</Code><Message></Message>"
             "<RequestId>tx0001</RequestId><HostId>h</HostId></Error>", &x);
    assert_string_equal(x.root, "Error");
    assert_string_equal(x.code, "SignatureDoesNotMatch");
    assert_string_equal(x.message, "");
    assert_string_equal(x.request_id, "tx0001");
}

static void test_xml_initiate_and_complete(void **state)
{
    s3_xml_reply x = {0};
    (void)state;
    parse_ok("<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>b</Bucket>"
             "<Key>k</Key><UploadId>2~abc&amp;def</UploadId></InitiateMultipartUploadResult>", &x);
    assert_string_equal(x.root, "InitiateMultipartUploadResult");
    assert_string_equal(x.upload_id, "2~abc&def");
    /* radosgw: empty ETag in the Complete reply */
    parse_ok("<CompleteMultipartUploadResult><Location>l</Location><Bucket>b</Bucket><Key>k</Key><ETag></ETag>"
             "</CompleteMultipartUploadResult>", &x);
    assert_string_equal(x.root, "CompleteMultipartUploadResult");
    assert_string_equal(x.etag, "");
    /* a 200 whose body is an error: seen by its root */
    parse_ok("\n\n<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>", &x);
    assert_string_equal(x.root, "Error");
    assert_string_equal(x.code, "InternalError");
}

typedef struct seen {
    int n;
    char keys[4][64];
    char ids[4][64];
} seen;

static void on_upload(void *ud, const char *key, const char *id)
{
    seen *s = ud;
    if (s->n < 4) {
        strncpy(s->keys[s->n], key, 63);
        strncpy(s->ids[s->n], id, 63);
    }
    s->n++;
}

static void test_xml_list_uploads(void **state)
{
    seen s = {0};
    s3_xml_reply x = {.on_upload = on_upload, .ud = &s};
    (void)state;
    parse_ok("<ListMultipartUploadsResult><Bucket>b</Bucket><NextKeyMarker>k2</NextKeyMarker>"
             "<NextUploadIdMarker>u2</NextUploadIdMarker><IsTruncated>true</IsTruncated>"
             "<Upload><Key>a/1.csv</Key><UploadId>u1</UploadId><Owner><ID>o</ID></Owner></Upload>"
             "<Upload><Key>k2</Key><UploadId>u2</UploadId></Upload></ListMultipartUploadsResult>", &x);
    assert_int_equal(s.n, 2);
    assert_int_equal(x.uploads, 2);
    assert_string_equal(s.keys[0], "a/1.csv");
    assert_string_equal(s.ids[1], "u2");
    assert_true(x.truncated);
    assert_string_equal(x.next_key_marker, "k2");
    assert_string_equal(x.next_upload_id_marker, "u2");
    /* UploadId of an Upload is not the root's UploadId */
    assert_string_equal(x.upload_id, "");
}

static void test_xml_refused(void **state)
{
    s3_xml_reply x = {0};
    eq_err err;
    const char *bomb = "<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;\">]>"
                       "<Error><Code>&b;</Code></Error>";
    (void)state;
    assert_int_equal(s3_xml_parse(bomb, strlen(bomb), &x, &err), -1);
    assert_int_equal(err.code, EQ_ERR_S3);
    assert_int_equal(s3_xml_parse("<Error><Code>x</Code>", 21, &x, &err), -1);
    assert_int_equal(s3_xml_parse("not xml", 7, &x, &err), -1);
    assert_int_equal(s3_xml_parse("", 0, &x, &err), 0);
    assert_string_equal(x.root, "");
    {
        /* overlong text is cut, not overflowed */
        char big[8192];
        size_t n = (size_t)snprintf(big, sizeof big, "<Error><Code>");
        memset(big + n, 'C', 5000);
        n += 5000;
        n += (size_t)snprintf(big + n, sizeof big - n, "</Code></Error>");
        assert_int_equal(s3_xml_parse(big, n, &x, &err), 0);
        assert_int_equal(strlen(x.code), sizeof x.code - 1);
    }
}

static void test_retryable(void **state)
{
    (void)state;
    assert_true(s3_retryable(CURLE_OPERATION_TIMEDOUT, 0, NULL));
    assert_true(s3_retryable(CURLE_COULDNT_CONNECT, 0, NULL));
    assert_true(s3_retryable(CURLE_GOT_NOTHING, 0, NULL));
    assert_true(s3_retryable(CURLE_SEND_ERROR, 0, NULL));
    assert_false(s3_retryable(CURLE_URL_MALFORMAT, 0, NULL));
    assert_true(s3_retryable(CURLE_OK, 500, "InternalError"));
    assert_true(s3_retryable(CURLE_OK, 503, "SlowDown"));
    assert_true(s3_retryable(CURLE_OK, 503, ""));
    assert_true(s3_retryable(CURLE_OK, 429, ""));
    assert_true(s3_retryable(CURLE_OK, 400, "RequestTimeout"));
    assert_true(s3_retryable(CURLE_OK, 200, "InternalError")); /* 200 with <Error> */
    assert_false(s3_retryable(CURLE_OK, 403, "SignatureDoesNotMatch"));
    assert_false(s3_retryable(CURLE_OK, 403, "InvalidAccessKeyId"));
    assert_false(s3_retryable(CURLE_OK, 400, "BadDigest"));
    assert_false(s3_retryable(CURLE_OK, 400, "XAmzContentSHA256Mismatch"));
    assert_false(s3_retryable(CURLE_OK, 404, "NoSuchUpload"));
    assert_false(s3_retryable(CURLE_OK, 400, "EntityTooSmall"));
}

/* Full jitter: attempt k waits uniformly in [0, min(max, base * 2^(k-2))] ms.
 * Over 400 draws the largest wait comes close to the cap and the smallest
 * close to 0, so a constant (0, or the cap), a delay that does not grow, or a
 * delay past the cap all fail. */
static void test_backoff_bounds(void **state)
{
    struct s3_client c = {.base_delay_ms = 100, .max_delay_ms = 1000, .seed = 7};
    long prev_max = -1;
    (void)state;
    for (int attempt = 2; attempt < 12; attempt++) {
        long cap = 100L << (attempt - 2), lo = LONG_MAX, hi = -1;
        if (cap > 1000)
            cap = 1000;
        for (int i = 0; i < 400; i++) {
            long ms = s3_client_backoff_ms(&c, attempt);
            assert_true(ms >= 0 && ms <= cap);
            lo = ms < lo ? ms : lo;
            hi = ms > hi ? ms : hi;
        }
        assert_true(hi >= cap * 9 / 10); /* jitter reaches the cap */
        assert_true(lo <= cap / 10);     /* ... and down near zero */
        if (cap < 1000)
            assert_true(hi > prev_max); /* the delay grows with the attempt */
        prev_max = hi;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xml_error),          cmocka_unit_test(test_xml_initiate_and_complete),
        cmocka_unit_test(test_xml_list_uploads),   cmocka_unit_test(test_xml_refused),
        cmocka_unit_test(test_retryable),
        cmocka_unit_test(test_backoff_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
