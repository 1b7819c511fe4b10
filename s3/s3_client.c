/* s3_client.c - see s3_client.h */
#include "s3/s3_client.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "s3/aws_creds.h"
#include "s3/s3_request.h"
#include "s3/s3_uri.h"
#include "s3/s3_xml.h"

#define DEFAULT_CONTENT_TYPE "text/csv; charset=utf-8"

static char *dup_or_null(const char *s, bool *oom)
{
    char *d;
    if (!s)
        return NULL;
    if (!(d = strdup(s)))
        *oom = true;
    return d;
}

void s3_client_free(s3_client *c)
{
    if (!c)
        return;
    free(c->authority);
    free(c->region);
    free(c->bucket);
    free(c->ca_file);
    aws_credentials_release(c->creds);
    free(c);
}

int s3_client_new(const eq_config *cfg, s3_client **out, eq_err *err)
{
    s3_client *c;
    const char *ep = cfg->s3_endpoint, *auth;
    bool oom = false;
    size_t n;

    *out = NULL;
    if (!ep || !cfg->s3_bucket)
        return eq_fail(err, EQ_ERR_CONFIG, "s3: endpoint and bucket are required");
    if (!(c = calloc(1, sizeof *c)))
        return eq_fail(err, EQ_ERR_NOMEM, "s3: out of memory");
    if (strncmp(ep, "https://", 8) == 0) {
        snprintf(c->scheme, sizeof c->scheme, "https");
        auth = ep + 8;
    } else if (strncmp(ep, "http://", 7) == 0) {
        snprintf(c->scheme, sizeof c->scheme, "http");
        auth = ep + 7;
    } else {
        eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_S3_ENDPOINT: '%s' must start with http:// or https://", ep);
        goto fail;
    }
    n = strcspn(auth, "/?#");
    if (n == 0 || auth[n + strspn(auth + n, "/")] != '\0' || memchr(auth, '@', n)) {
        eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_S3_ENDPOINT: '%s' must be scheme://host[:port] without a path", ep);
        goto fail;
    }
    c->authority = strndup(auth, n);
    oom = !c->authority;
    c->region = dup_or_null(cfg->s3_region ? cfg->s3_region : "us-east-1", &oom);
    c->bucket = dup_or_null(cfg->s3_bucket, &oom);
    c->ca_file = dup_or_null(cfg->s3_ca_file, &oom);
    if (oom) {
        eq_fail(err, EQ_ERR_NOMEM, "s3: out of memory");
        goto fail;
    }
    if (c->ca_file && access(c->ca_file, R_OK) < 0) {
        eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_S3_CA_FILE: cannot read %s: %s", c->ca_file, strerror(errno));
        goto fail;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        eq_fail(err, EQ_ERR_S3, "s3: libcurl initialisation failed");
        goto fail;
    }
    if (aws_credentials_acquire(cfg, &c->creds, err) < 0)
        goto fail;
    c->path_style = cfg->s3_path_style;
    c->max_attempts = 6;
    c->base_delay_ms = 200;
    c->max_delay_ms = 10000;
    c->connect_ms = 10000;
    c->stall_seconds = 60;
    c->seed = (unsigned int)time(NULL) ^ (unsigned int)getpid() ^ (unsigned int)(uintptr_t)c;
    *out = c;
    return 0;
fail:
    s3_client_free(c);
    return -1;
}

void s3_client_set_retry(s3_client *c, int max_attempts, int base_delay_ms, int max_delay_ms)
{
    if (max_attempts > 0)
        c->max_attempts = max_attempts;
    if (base_delay_ms > 0)
        c->base_delay_ms = base_delay_ms;
    if (max_delay_ms > 0)
        c->max_delay_ms = max_delay_ms;
}

void s3_client_set_timeouts(s3_client *c, int connect_ms, int stall_seconds)
{
    if (connect_ms > 0)
        c->connect_ms = connect_ms;
    if (stall_seconds > 0)
        c->stall_seconds = stall_seconds;
}

void s3_client_set_tick(s3_client *c, s3_tick_fn tick, void *ud)
{
    c->tick = tick;
    c->tick_ud = tick ? ud : NULL;
}

/* Runs one synchronous request with retries, with the client's tick; the
 * reply stays in *r (r->spec is not used once this returns). */
static int run(s3_client *c, const s3_req_spec *spec, s3_request *r, eq_err *err)
{
    s3_req_spec s = *spec;
    int rc;
    if (!s.tick) {
        s.tick = c->tick;
        s.tick_ud = c->tick_ud;
    }
    s3_request_init(r);
    rc = s3_request_perform(c, r, &s, err);
    r->spec = NULL;
    return rc;
}

int s3_put_object(s3_client *c, const char *key, const void *body, size_t len, const s3_object_meta *meta,
                  eq_err *err)
{
    char sha[65], md5[25];
    sigv4_kv hs[3];
    size_t nh = 0;
    s3_request r;
    int rc;

    if (s3_digest(body ? body : "", len, sha, md5) < 0)
        return eq_fail(err, EQ_ERR_NOMEM, "s3 PutObject %s: digest failed", key);
    hs[nh++] = (sigv4_kv){"Content-MD5", md5};
    hs[nh++] = (sigv4_kv){"Content-Type", meta && meta->content_type ? meta->content_type : DEFAULT_CONTENT_TYPE};
    if (meta && meta->content_encoding)
        hs[nh++] = (sigv4_kv){"Content-Encoding", meta->content_encoding};
    s3_req_spec spec = {.op = "PutObject", .method = "PUT", .key = key, .headers = hs, .nheaders = nh,
                        .body = body, .body_len = len, .payload_hash = sha, .out_fd = -1};
    rc = run(c, &spec, &r, err);
    s3_request_cleanup(&r);
    return rc;
}

int s3_get_object_to_fd(s3_client *c, const char *key, int fd, eq_err *err)
{
    s3_request r;
    s3_req_spec spec = {.op = "GetObject", .method = "GET", .key = key, .out_fd = fd};
    int rc = run(c, &spec, &r, err);
    s3_request_cleanup(&r);
    return rc;
}

int s3_head_object(s3_client *c, const char *key, uint64_t *size, char *etag, size_t etagsz, eq_err *err)
{
    s3_request r;
    s3_req_spec spec = {.op = "HeadObject", .method = "HEAD", .key = key, .out_fd = -1, .head = true};
    int rc = run(c, &spec, &r, err);
    if (rc == 0) {
        if (size)
            *size = r.content_length;
        if (etag && etagsz)
            snprintf(etag, etagsz, "%s", r.etag);
    }
    s3_request_cleanup(&r);
    return rc;
}

int s3_delete_object(s3_client *c, const char *key, eq_err *err)
{
    s3_request r;
    s3_req_spec spec = {.op = "DeleteObject", .method = "DELETE", .key = key, .out_fd = -1};
    int rc = run(c, &spec, &r, err);
    if (rc < 0 && err->code == EQ_ERR_NOT_FOUND)
        rc = 0;
    s3_request_cleanup(&r);
    return rc;
}

int s3_abort_upload(s3_client *c, const char *key, const char *upload_id, eq_err *err)
{
    s3_request r;
    sigv4_kv q[] = {{"uploadId", upload_id}};
    s3_req_spec spec = {.op = "AbortMultipartUpload", .method = "DELETE", .key = key, .query = q, .nquery = 1,
                        .out_fd = -1};
    int rc = run(c, &spec, &r, err);
    s3_request_cleanup(&r);
    return rc;
}

int s3_list_uploads(s3_client *c, const char *prefix, s3_upload_cb cb, void *ud, eq_err *err)
{
    char key_marker[1024] = "", id_marker[512] = "";
    int pages = 0;

    for (;;) {
        sigv4_kv q[4];
        size_t nq = 0;
        s3_request r;
        s3_xml_reply x;
        int rc;

        q[nq++] = (sigv4_kv){"uploads", NULL};
        if (prefix && *prefix)
            q[nq++] = (sigv4_kv){"prefix", prefix};
        if (key_marker[0])
            q[nq++] = (sigv4_kv){"key-marker", key_marker};
        if (id_marker[0])
            q[nq++] = (sigv4_kv){"upload-id-marker", id_marker};
        s3_req_spec spec = {.op = "ListMultipartUploads", .method = "GET", .query = q, .nquery = nq, .out_fd = -1};
        rc = run(c, &spec, &r, err);
        if (rc == 0) {
            memset(&x, 0, sizeof x);
            x.on_upload = cb;
            x.ud = ud;
            rc = s3_xml_parse(r.reply.data ? r.reply.data : "", r.reply.len, &x, err);
        }
        s3_request_cleanup(&r);
        if (rc < 0)
            return -1;
        if (!x.truncated)
            return 0;
        if (++pages > 100000 || !x.next_key_marker[0])
            return eq_fail(err, EQ_ERR_S3, "s3 ListMultipartUploads: truncated listing without a marker");
        snprintf(key_marker, sizeof key_marker, "%s", x.next_key_marker);
        snprintf(id_marker, sizeof id_marker, "%s", x.next_upload_id_marker);
    }
}
