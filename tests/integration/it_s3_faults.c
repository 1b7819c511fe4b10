/* it_s3_faults.c - the uploader through tests/harness/s3proxy.py, which fails
 * a share of UploadPart requests (500, 503, SlowDown, a 200 with an <Error>
 * body, a dropped connection, a reply held back 30 s, past the 10 s stall timeout):
 * the upload retries and the object is still byte-equal. Then a proxy that
 * fails every part: the upload fails with a clear, sticky error and the
 * abort leaves no upload behind. And a CompleteMultipartUpload applied by S3
 * whose reply is lost: the retry meets NoSuchUpload, and the uploader
 * recognises its own object by size and multipart ETag. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "s3/s3_client.h"
#include "s3/s3_upload.h"

#define MiB (1024 * 1024)

static eq_config cfg;
static char prefix[128], dir[] = "/tmp/it_s3_faults_XXXXXX";

typedef struct proxy {
    pid_t pid;
    int port;
    char stats[256];
} proxy;

static pid_t live_proxy;

/* lose_complete: how many CompleteMultipartUpload replies the proxy drops
 * after forwarding the request ("0": none) */
static void proxy_start(proxy *p, const char *ratio, const char *modes, const char *seed, const char *lose_complete)
{
    char script[1024], portfile[256], upstream[256];
    const char *src = getenv("EXPORTQ_SOURCE_DIR");
    assert_non_null(src);
    assert_true(strncmp(cfg.s3_endpoint, "http://", 7) == 0);
    snprintf(upstream, sizeof upstream, "%s", cfg.s3_endpoint + 7);
    snprintf(script, sizeof script, "%s/tests/harness/s3proxy.py", src);
    snprintf(portfile, sizeof portfile, "%s/port.%s", dir, seed);
    snprintf(p->stats, sizeof p->stats, "%s/stats.%s", dir, seed);
    unlink(portfile);
    p->pid = fork();
    assert_true(p->pid >= 0);
    if (p->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive a crashed test */
        execl("/usr/bin/python3", "python3", script, "--upstream", upstream, "--port-file", portfile, "--stats",
              p->stats, "--ratio", ratio, "--modes", modes, "--seed", seed, "--slow-seconds", "30",
              "--lose-complete-replies", lose_complete, (char *)NULL);
        _exit(127);
    }
    live_proxy = p->pid;
    for (int i = 0; i < 200; i++) { /* up to 10 s for python to bind */
        FILE *f = fopen(portfile, "r");
        if (f) {
            int ok = fscanf(f, "%d", &p->port);
            fclose(f);
            if (ok == 1)
                return;
        }
        usleep(50000);
    }
    fail_msg("s3proxy did not start");
}

static void proxy_stop(proxy *p)
{
    if (p->pid > 0) {
        kill(p->pid, SIGTERM);
        waitpid(p->pid, NULL, 0);
        p->pid = 0;
        live_proxy = 0;
    }
}

static long stat_of(const proxy *p, const char *name)
{
    char buf[4096], pat[64], *at;
    FILE *f = fopen(p->stats, "r");
    size_t n;
    assert_non_null(f);
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    snprintf(pat, sizeof pat, "\"%s\": ", name);
    at = strstr(buf, pat);
    return at ? strtol(at + strlen(pat), NULL, 10) : 0;
}

static s3_client *client_via(const proxy *p)
{
    eq_config c = cfg;
    char ep[64];
    s3_client *cl = NULL;
    eq_err err;
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", p->port);
    c.s3_endpoint = ep;
    assert_int_equal(s3_client_new(&c, &cl, &err), 0);
    s3_client_set_retry(cl, 8, 50, 500);
    /* A reply held back 30 s (`slow`) is a stall; 10 s without progress, far
     * more than the proxy needs to pass on a part it buffered whole (even on
     * a loaded machine), declares it. */
    s3_client_set_timeouts(cl, 2000, 10);
    return cl;
}

static void hex32(const unsigned char *md, char hex[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* writes `total` pseudo-random bytes; returns their sha256; -1 when the upload failed */
static int stream(s3_upload *up, size_t total, char hex[65], eq_err *err)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned char buf[100000], md[32];
    uint64_t s = 42;
    size_t done = 0;
    int rc = 0;
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    while (done < total && rc == 0) {
        size_t k = total - done < sizeof buf ? total - done : sizeof buf;
        if (!s3_upload_writable(up)) {
            rc = s3_upload_wait(up, -1, 0, 500, err) < 0 ? -1 : 0;
            continue;
        }
        for (size_t i = 0; i < k; i++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            buf[i] = (unsigned char)(s >> 29);
        }
        EVP_DigestUpdate(c, buf, k);
        rc = s3_upload_write(up, buf, k, err);
        done += k;
    }
    EVP_DigestFinal_ex(c, md, NULL);
    EVP_MD_CTX_free(c);
    hex32(md, hex);
    return rc;
}

static void download_sha(s3_client *cl, const char *key, char hex[65], size_t *size)
{
    char path[300];
    unsigned char buf[65536], md[32];
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    ssize_t r;
    int fd;
    eq_err err;
    snprintf(path, sizeof path, "%s/download", dir);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    if (s3_get_object_to_fd(cl, key, fd, &err) < 0)
        fail_msg("GetObject: %s", err.msg);
    lseek(fd, 0, SEEK_SET);
    *size = 0;
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    while ((r = read(fd, buf, sizeof buf)) > 0) {
        EVP_DigestUpdate(c, buf, (size_t)r);
        *size += (size_t)r;
    }
    EVP_DigestFinal_ex(c, md, NULL);
    EVP_MD_CTX_free(c);
    close(fd);
    unlink(path);
    hex32(md, hex);
}

typedef struct found {
    const char *key;
    int n;
} found;
static void count(void *ud, const char *key, const char *id)
{
    found *f = ud;
    (void)id;
    f->n += strcmp(key, f->key) == 0;
}

static void test_upload_survives_faults(void **state)
{
    proxy p = {0};
    s3_client *cl;
    s3_upload *up = NULL;
    s3_upload_stats st;
    char key[256], want[65], got[65];
    size_t size;
    eq_err err;
    (void)state;
    proxy_start(&p, "0.45", "500,503,slowdown,error200,drop,slow", "7", "0");
    cl = client_via(&p);
    snprintf(key, sizeof key, "%sfaulty.csv", prefix);
    assert_int_equal(s3_upload_new(cl, key, NULL, NULL, 5 * MiB, 3, &up, &err), 0);
    if (stream(up, 42 * MiB + 5, want, &err) < 0 || s3_upload_finish(up, &err) < 0)
        fail_msg("upload through the faulty proxy: %s", err.msg);
    s3_upload_get_stats(up, &st);
    s3_upload_free(up);
    print_message("parts %u, retries %u; proxy: %ld UploadPart requests, %ld failed\n", st.parts_done,
                  st.retries, stat_of(&p, "upload_part"), stat_of(&p, "failed"));
    assert_int_equal(st.parts_done, 9);
    assert_true(stat_of(&p, "failed") >= 6); /* every mode at least once (the proxy cycles them) */
    /* every injected failure costs a resend: by us (counted in retries) or,
     * for a dropped reused connection, by libcurl itself */
    assert_true(st.retries >= 1 && st.retries <= (unsigned)stat_of(&p, "failed"));
    assert_true(stat_of(&p, "upload_part") > 9);
    download_sha(cl, key, got, &size);
    assert_int_equal(size, 42 * MiB + 5);
    assert_string_equal(got, want);
    s3_client_free(cl);
    proxy_stop(&p);
}

static void test_permanent_failure_is_sticky_and_aborted(void **state)
{
    proxy p = {0};
    s3_client *cl;
    s3_upload *up = NULL;
    char key[256], hex[65];
    found f = {NULL, 0};
    eq_err err, err2;
    (void)state;
    proxy_start(&p, "1.0", "503", "8", "0");
    cl = client_via(&p);
    s3_client_set_retry(cl, 3, 10, 50);
    snprintf(key, sizeof key, "%sdoomed.csv", prefix);
    assert_int_equal(s3_upload_new(cl, key, NULL, NULL, 5 * MiB, 2, &up, &err), 0);
    int rc = stream(up, 12 * MiB, hex, &err);
    if (rc == 0)
        rc = s3_upload_finish(up, &err);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err.msg, "UploadPart"));
    assert_non_null(strstr(err.msg, "HTTP 503 ServiceUnavailable"));
    assert_non_null(strstr(err.msg, "after 3 attempts"));
    assert_int_equal(s3_upload_write(up, "x", 1, &err2), -1); /* sticky */
    assert_string_equal(err2.msg, err.msg);
    assert_int_equal(s3_upload_finish(up, &err2), -1);
    assert_non_null(s3_upload_id(up));
    assert_int_equal(s3_upload_abort(up, &err2), 0);
    s3_upload_free(up);
    f.key = key;
    assert_int_equal(s3_list_uploads(cl, prefix, count, &f, &err), 0);
    assert_int_equal(f.n, 0);
    s3_client_free(cl);
    proxy_stop(&p);
}

/* S3 applies a Complete but its reply is lost: the retry meets NoSuchUpload,
 * and the uploader recognises its own object (size + multipart ETag). */
static void test_lost_complete_reply(void **state)
{
    proxy p = {0};
    s3_client *cl;
    s3_upload *up = NULL;
    char key[256], want[65], got[65];
    size_t size;
    eq_err err;
    (void)state;
    proxy_start(&p, "0", "", "9", "1");
    cl = client_via(&p);
    snprintf(key, sizeof key, "%slost-complete.csv", prefix);
    assert_int_equal(s3_upload_new(cl, key, NULL, NULL, 5 * MiB, 2, &up, &err), 0);
    if (stream(up, 12 * MiB + 3, want, &err) < 0 || s3_upload_finish(up, &err) < 0)
        fail_msg("upload with a lost Complete reply: %s", err.msg);
    s3_upload_free(up);
    assert_int_equal(stat_of(&p, "lost_complete"), 1);
    download_sha(cl, key, got, &size);
    assert_int_equal(size, 12 * MiB + 3);
    assert_string_equal(got, want);
    s3_client_free(cl);
    proxy_stop(&p);
}

static int setup(void **state)
{
    eq_err err;
    (void)state;
    if (eq_config_load(&cfg, NULL, &err) < 0 || !mkdtemp(dir)) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    snprintf(prefix, sizeof prefix, "it-s3-faults/%ld-%d/", (long)time(NULL), (int)getpid());
    return 0;
}

static int teardown(void **state)
{
    char cmd[300];
    (void)state;
    if (live_proxy > 0) { /* a failed test left its proxy running */
        kill(live_proxy, SIGTERM);
        waitpid(live_proxy, NULL, 0);
    }
    eq_config_cleanup(&cfg);
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upload_survives_faults),
        cmocka_unit_test(test_permanent_failure_is_sticky_and_aborted),
        cmocka_unit_test(test_lost_complete_reply),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
