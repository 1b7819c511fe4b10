/* it_s3.c - the S3 client and uploader against the harness's real radosgw
 * (servers.env exported): multipart 60 MB round trip (sha256), one small
 * PutObject, the single-PutObject path of the uploader, presigned GET fetched
 * by plain curl (bytes and Content-Disposition), a tampered link refused, a
 * wrong secret refused with a clear error, abort leaving no upload behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "s3/s3_client.h"
#include "s3/s3_presign.h"
#include "s3/s3_upload.h"

#define MiB (1024 * 1024)

static eq_config cfg;
static s3_client *client;
static char prefix[128];

static int setup(void **state)
{
    eq_err err;
    (void)state;
    if (eq_config_load(&cfg, NULL, &err) < 0 || s3_client_new(&cfg, &client, &err) < 0) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    snprintf(prefix, sizeof prefix, "it-s3/%ld-%d/", (long)time(NULL), (int)getpid());
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    s3_client_free(client);
    eq_config_cleanup(&cfg);
    return 0;
}

/* deterministic pseudo-random bytes (xorshift), so data is not compressible or repetitive */
static void fill(unsigned char *p, size_t n, uint64_t *s)
{
    for (size_t i = 0; i < n; i++) {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        p[i] = (unsigned char)(*s >> 24);
    }
}

static void sha_fd(int fd, char hex[65], size_t *size)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned char buf[65536], md[32];
    unsigned int n = 0;
    ssize_t r;
    *size = 0;
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    lseek(fd, 0, SEEK_SET);
    while ((r = read(fd, buf, sizeof buf)) > 0) {
        EVP_DigestUpdate(c, buf, (size_t)r);
        *size += (size_t)r;
    }
    EVP_DigestFinal_ex(c, md, &n);
    EVP_MD_CTX_free(c);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static void download_sha(const char *key, char hex[65], size_t *size)
{
    char path[] = "/tmp/it_s3_XXXXXX";
    int fd = mkstemp(path);
    eq_err err;
    assert_true(fd >= 0);
    unlink(path);
    if (s3_get_object_to_fd(client, key, fd, &err) < 0)
        fail_msg("GetObject %s: %s", key, err.msg);
    sha_fd(fd, hex, size);
    close(fd);
}

typedef struct found {
    const char *key;
    int n;
} found;

static void count_uploads(void *ud, const char *key, const char *upload_id)
{
    found *f = ud;
    (void)upload_id;
    if (strcmp(key, f->key) == 0)
        f->n++;
}

static int uploads_of(const char *key)
{
    found f = {key, 0};
    eq_err err;
    if (s3_list_uploads(client, prefix, count_uploads, &f, &err) < 0)
        fail_msg("ListMultipartUploads: %s", err.msg);
    return f.n;
}

/* streams `total` bytes through an uploader the way the worker does; returns sha256 of what was sent */
static void stream_upload(s3_upload *up, size_t total, size_t chunk, char hex[65])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned char *buf = malloc(chunk), md[32];
    unsigned int n = 0;
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    size_t done = 0;
    eq_err err;
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    while (done < total) {
        size_t k = total - done < chunk ? total - done : chunk;
        if (!s3_upload_writable(up)) {
            if (s3_upload_wait(up, -1, 0, 1000, &err) < 0)
                fail_msg("wait: %s", err.msg);
            continue;
        }
        fill(buf, k, &seed);
        EVP_DigestUpdate(c, buf, k);
        if (s3_upload_write(up, buf, k, &err) < 0)
            fail_msg("write: %s", err.msg);
        done += k;
    }
    EVP_DigestFinal_ex(c, md, &n);
    EVP_MD_CTX_free(c);
    free(buf);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static char created_id[512];
static void on_created(void *ud, const char *key, const char *upload_id)
{
    (void)ud, (void)key;
    snprintf(created_id, sizeof created_id, "%s", upload_id);
}

static void test_multipart_60mb(void **state)
{
    char key[256], want[65], got[65];
    size_t size = 0;
    s3_upload *up = NULL;
    s3_upload_stats st;
    eq_err err;
    (void)state;
    snprintf(key, sizeof key, "%sbig file (60 MB).csv", prefix);
    created_id[0] = '\0';
    assert_int_equal(s3_upload_new(client, key, NULL, NULL, 8 * MiB, 4, &up, &err), 0);
    s3_upload_on_created(up, on_created, NULL);
    stream_upload(up, 60 * MiB, 64 * 1024 + 7, want);
    assert_non_null(s3_upload_id(up));
    assert_string_equal(created_id, s3_upload_id(up));
    if (s3_upload_finish(up, &err) < 0)
        fail_msg("finish: %s", err.msg);
    s3_upload_get_stats(up, &st);
    assert_int_equal(st.parts_done, 8); /* 7 x 8 MiB + 4 MiB */
    assert_int_equal(st.bytes_sent, 60 * MiB);
    assert_true(st.buffer_bytes <= 5 * 8 * MiB); /* (4 in flight + 1) x part size */
    s3_upload_free(up);
    download_sha(key, got, &size);
    assert_int_equal(size, 60 * MiB);
    assert_string_equal(got, want);
    assert_int_equal(uploads_of(key), 0);
}

static void test_small_put_and_single_put_path(void **state)
{
    char key[256], key2[256], want[65], got[65];
    const char *body = "id,name\n1,\"Zoë, \"\"the\"\" user\"\n";
    size_t size = 0;
    uint64_t hsize = 0;
    s3_upload *up = NULL;
    eq_err err;
    (void)state;
    snprintf(key, sizeof key, "%ssmall.csv", prefix);
    assert_int_equal(s3_put_object(client, key, body, strlen(body), NULL, &err), 0);
    assert_int_equal(s3_head_object(client, key, &hsize, NULL, 0, &err), 0);
    assert_int_equal(hsize, strlen(body));
    download_sha(key, got, &size);
    {
        unsigned char md[32];
        EVP_Digest(body, strlen(body), md, NULL, EVP_sha256(), NULL);
        for (int i = 0; i < 32; i++)
            snprintf(want + 2 * i, 3, "%02x", md[i]);
    }
    assert_string_equal(got, want);

    /* an uploader that never fills a part becomes one PutObject */
    snprintf(key2, sizeof key2, "%sone-put.csv", prefix);
    assert_int_equal(s3_upload_new(client, key2, NULL, NULL, 5 * MiB, 2, &up, &err), 0);
    stream_upload(up, 3 * MiB + 11, 100000, want);
    assert_null(s3_upload_id(up));
    assert_int_equal(s3_upload_finish(up, &err), 0);
    assert_null(s3_upload_id(up));
    s3_upload_free(up);
    download_sha(key2, got, &size);
    assert_int_equal(size, 3 * MiB + 11);
    assert_string_equal(got, want);

    assert_int_equal(s3_delete_object(client, key2, &err), 0);
    assert_int_equal(s3_head_object(client, key2, NULL, NULL, 0, &err), -1);
    assert_int_equal(err.code, EQ_ERR_NOT_FOUND);
}

/* runs curl on url; returns HTTP status; headers and body to files */
static int curl_get(const char *url, const char *hdr, const char *out)
{
    char cmd[16384], status[16] = "";
    FILE *p;
    snprintf(cmd, sizeof cmd, "curl -sS -g -D '%s' -o '%s' -w '%%{http_code}' '%s'", hdr, out, url);
    p = popen(cmd, "r");
    assert_non_null(p);
    if (!fgets(status, sizeof status, p))
        status[0] = '\0';
    pclose(p);
    return (int)strtol(status, NULL, 10);
}

static void test_presigned_get(void **state)
{
    char key[256], *url = NULL, hdr[] = "/tmp/it_s3_h_XXXXXX", out[] = "/tmp/it_s3_b_XXXXXX";
    const char *body = "a,b\n1,2\n";
    char buf[4096];
    FILE *f;
    size_t n;
    eq_err err;
    (void)state;
    close(mkstemp(hdr));
    close(mkstemp(out));
    snprintf(key, sizeof key, "%slink/r\xc3\xa9sum\xc3\xa9 + 100%%.csv", prefix);
    assert_int_equal(s3_put_object(client, key, body, strlen(body), NULL, &err), 0);
    assert_int_equal(s3_presign_get(client, key, 300, "r\xc3\xa9sum\xc3\xa9 \"Q1\".csv", &url, &err), 0);
    assert_int_equal(curl_get(url, hdr, out), 200);
    f = fopen(out, "rb");
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_int_equal(n, strlen(body));
    assert_memory_equal(buf, body, n);
    f = fopen(hdr, "rb");
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    assert_non_null(strstr(buf, "Content-Disposition: attachment; filename=\"r_sum_ _Q1_.csv\"; "
                                "filename*=UTF-8''r%C3%A9sum%C3%A9%20%22Q1%22.csv"));
    assert_non_null(strstr(buf, "Content-Type: text/csv; charset=utf-8"));

    /* tampered: one more second of validity, same signature */
    {
        char *e = strstr(url, "X-Amz-Expires=300");
        assert_non_null(e);
        e[strlen("X-Amz-Expires=30")] = '1';
        assert_int_equal(curl_get(url, hdr, out), 403);
    }
    free(url);
    /* out-of-range lifetime refused */
    assert_int_equal(s3_presign_get(client, key, 604801, NULL, &url, &err), -1);
    assert_int_equal(err.code, EQ_ERR_INVALID);
    unlink(hdr);
    unlink(out);
}

static void test_wrong_secret(void **state)
{
    eq_config bad = cfg;
    s3_client *c = NULL;
    char key[256];
    eq_err err;
    (void)state;
    bad.aws_secret_access_key = "wrongSecretKey0123456789abcdefABCDEFGHIJ";
    assert_int_equal(s3_client_new(&bad, &c, &err), 0);
    snprintf(key, sizeof key, "%sdenied.csv", prefix);
    eq_err_clear(&err);
    assert_int_equal(s3_put_object(c, key, "x", 1, NULL, &err), -1);
    assert_int_equal(err.code, EQ_ERR_S3);
    assert_false(err.retryable);
    assert_non_null(strstr(err.msg, "PutObject"));
    assert_non_null(strstr(err.msg, "HTTP 403"));
    assert_non_null(strstr(err.msg, "SignatureDoesNotMatch"));
    assert_non_null(strstr(err.msg, "request id"));
    assert_null(strstr(err.msg, bad.aws_secret_access_key));
    assert_null(strstr(err.msg, cfg.aws_secret_access_key));
    s3_client_free(c);
    assert_int_equal(s3_head_object(client, key, NULL, NULL, 0, &err), -1);
    assert_int_equal(err.code, EQ_ERR_NOT_FOUND);
}

static void test_abort_leaves_nothing(void **state)
{
    char key[256], hex[65];
    s3_upload *up = NULL;
    eq_err err;
    (void)state;
    snprintf(key, sizeof key, "%saborted.csv", prefix);
    assert_int_equal(s3_upload_new(client, key, NULL, "gzip", 5 * MiB, 2, &up, &err), 0);
    stream_upload(up, 12 * MiB, 1 << 20, hex);
    assert_non_null(s3_upload_id(up));
    assert_int_equal(uploads_of(key), 1);
    assert_int_equal(s3_upload_abort(up, &err), 0);
    assert_int_equal(uploads_of(key), 0);
    assert_int_equal(s3_upload_write(up, "x", 1, &err), -1);
    s3_upload_free(up);
    assert_int_equal(s3_head_object(client, key, NULL, NULL, 0, &err), -1);
    assert_int_equal(err.code, EQ_ERR_NOT_FOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_put_and_single_put_path),
        cmocka_unit_test(test_presigned_get),
        cmocka_unit_test(test_wrong_secret),
        cmocka_unit_test(test_abort_leaves_nothing),
        cmocka_unit_test(test_multipart_60mb),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
