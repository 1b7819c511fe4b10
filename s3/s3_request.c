/* s3_request.c - see s3_request.h */
#include "s3/s3_request.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "s3/s3_uri.h"
#include "s3/s3_xml.h"

#define S3_URL_MAX (16 * 1024)

int s3_digest(const void *p, size_t n, char sha_hex[65], char md5_b64[25])
{
    unsigned char md5[16];
    unsigned int len = 0;
    if (sigv4_sha256_hex(p, n, sha_hex) < 0 || !EVP_Digest(p, n, md5, &len, EVP_md5(), NULL) || len != 16)
        return -1;
    EVP_EncodeBlock((unsigned char *)md5_b64, md5, 16);
    return 0;
}

void s3_request_init(s3_request *r)
{
    memset(r, 0, sizeof *r);
    eq_buf_init(&r->url, S3_URL_MAX);
    eq_buf_init(&r->reply, S3_REPLY_MAX);
    r->out_fd = -1;
}

void s3_request_cleanup(s3_request *r)
{
    if (!r)
        return;
    if (r->easy)
        curl_easy_cleanup(r->easy);
    r->easy = NULL;
    curl_slist_free_all(r->hlist);
    r->hlist = NULL;
    eq_buf_cleanup(&r->url);
    eq_buf_cleanup(&r->reply);
}

bool s3_retryable(CURLcode cc, long status, const char *code)
{
    if (cc != CURLE_OK) {
        switch (cc) {
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_CONNECT:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_WEIRD_SERVER_REPLY:
            return true;
        default:
            return false;
        }
    }
    if (code && (strcmp(code, "SlowDown") == 0 || strcmp(code, "InternalError") == 0 ||
                 strcmp(code, "RequestTimeout") == 0 || strcmp(code, "ServiceUnavailable") == 0 ||
                 strcmp(code, "RequestTimeTooSkewed") == 0))
        return true;
    if (status >= 500 || status == 429 || status == 408)
        return true;
    if (status >= 200 && status < 300)
        return true; /* a 2xx whose body is an <Error>: retry as S3 advises */
    return false;
}

long s3_client_backoff_ms(s3_client *c, int attempt)
{
    long cap = c->base_delay_ms;
    for (int i = 2; i < attempt && cap < c->max_delay_ms; i++)
        cap *= 2;
    if (cap > c->max_delay_ms)
        cap = c->max_delay_ms;
    if (cap < 1)
        return 0;
    return (long)(rand_r(&c->seed) % (unsigned long)(cap + 1)); /* full jitter */
}

int s3_client_max_attempts(const s3_client *c)
{
    return c->max_attempts;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    s3_request *r = ud;
    size_t len = size * n, vlen;
    const char *colon = memchr(p, ':', len);
    char *dst = NULL;
    size_t dstsz = 0;
    if (!colon)
        return len;
    if ((size_t)(colon - p) == 4 && strncasecmp(p, "etag", 4) == 0)
        dst = r->etag, dstsz = sizeof r->etag;
    else if ((size_t)(colon - p) == 16 && strncasecmp(p, "x-amz-request-id", 16) == 0)
        dst = r->request_id, dstsz = sizeof r->request_id;
    else if ((size_t)(colon - p) == 14 && strncasecmp(p, "content-length", 14) == 0) {
        char tmp[32];
        vlen = len - (size_t)(colon + 1 - p);
        if (vlen >= sizeof tmp)
            vlen = sizeof tmp - 1;
        memcpy(tmp, colon + 1, vlen);
        tmp[vlen] = '\0';
        r->content_length = strtoull(tmp, NULL, 10);
        return len;
    } else
        return len;
    colon++;
    vlen = len - (size_t)(colon - p);
    while (vlen && (*colon == ' ' || *colon == '\t'))
        colon++, vlen--;
    while (vlen && (colon[vlen - 1] == '\r' || colon[vlen - 1] == '\n' || colon[vlen - 1] == ' '))
        vlen--;
    if (dst == r->etag && vlen >= 2 && colon[0] == '"' && colon[vlen - 1] == '"')
        colon++, vlen -= 2; /* keep it unquoted */
    if (vlen >= dstsz)
        vlen = dstsz - 1;
    memcpy(dst, colon, vlen);
    dst[vlen] = '\0';
    return len;
}

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
    s3_request *r = ud;
    size_t len = size * n;
    eq_err err;
    if (r->out_fd >= 0 && r->status == 0)
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
    if (r->out_fd >= 0 && r->status >= 200 && r->status < 300) {
        size_t off = 0;
        while (off < len) {
            ssize_t w = write(r->out_fd, p + off, len - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                r->write_failed = true;
                return 0;
            }
            off += (size_t)w;
        }
        return len;
    }
    if (eq_buf_append(&r->reply, p, len, &err) < 0)
        return 0; /* too large a reply: abort the transfer */
    return len;
}

static size_t on_read(char *p, size_t size, size_t n, void *ud)
{
    s3_request *r = ud;
    size_t room = size * n, left = r->spec->body_len - r->body_pos;
    if (left < room)
        room = left;
    memcpy(p, (const char *)r->spec->body + r->body_pos, room);
    r->body_pos += room;
    return room;
}

static int on_seek(void *ud, curl_off_t offset, int origin)
{
    s3_request *r = ud;
    if (origin != SEEK_SET || offset < 0 || (size_t)offset > r->spec->body_len)
        return CURL_SEEKFUNC_CANTSEEK;
    r->body_pos = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

/* libcurl calls this often during a transfer and about once a second while
 * nothing moves: the caller's tick runs here, and stops the transfer when it
 * says so. */
static int on_status(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    s3_request *r = ud;
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    if (r->spec && r->spec->tick && !r->stopped && r->spec->tick(r->spec->tick_ud, &r->stop_err) < 0)
        r->stopped = true;
    return r->stopped ? 1 : 0;
}

static int add_header(s3_request *r, const char *name, const char *value, eq_err *err)
{
    char line[4096];
    struct curl_slist *l;
    int w = snprintf(line, sizeof line, "%s: %s", name, value);
    if (w < 0 || (size_t)w >= sizeof line)
        return eq_fail(err, EQ_ERR_LIMIT, "s3: header %s too long", name);
    if (!(l = curl_slist_append(r->hlist, line)))
        return eq_fail(err, EQ_ERR_NOMEM, "s3: out of memory");
    r->hlist = l;
    return 0;
}

int s3_request_target(const s3_client *c, const char *key, char *host, size_t hostsz, eq_buf *uri, eq_err *err)
{
    if (c->path_style)
        snprintf(host, hostsz, "%s", c->authority);
    else
        snprintf(host, hostsz, "%s.%s", c->bucket, c->authority);
    if (eq_buf_reserve(uri, 1, err) < 0 || (c->path_style && eq_buf_printf(uri, err, "/%s", c->bucket) < 0))
        return -1;
    if (key && *key)
        return eq_buf_puts(uri, "/", err) < 0 || s3_uri_encode(uri, key, strlen(key), true, err) < 0 ? -1 : 0;
    if (uri->len == 0 && eq_buf_puts(uri, "/", err) < 0)
        return -1;
    return 0;
}

int s3_creds_take(s3_client *c, aws_creds **held, sigv4_creds *view, eq_err *err)
{
    aws_creds *cr = malloc(sizeof *cr);
    *held = NULL;
    if (!cr)
        return eq_fail(err, EQ_ERR_NOMEM, "s3: out of memory");
    if (aws_credentials_get(c->creds, cr, err) < 0) {
        free(cr);
        return -1;
    }
    *view = (sigv4_creds){cr->access_key, cr->secret_key, cr->session_token[0] ? cr->session_token : NULL};
    *held = cr;
    return 0;
}

void s3_creds_drop(aws_creds *held)
{
    if (held) {
        aws_creds_cleanse(held);
        free(held);
    }
}

int s3_request_prepare(s3_client *c, s3_request *r, const s3_req_spec *spec, eq_err *err)
{
    sigv4_kv hs[SIGV4_MAX_PARAMS];
    aws_creds *cr = NULL;
    sigv4_creds creds;
    char host[512], date[17], hash[65], auth[2048];
    eq_buf uri;
    size_t nh = 0, i;
    int rc = -1;

    eq_buf_init(&uri, S3_URL_MAX);
    r->spec = spec;
    r->body_pos = 0;
    r->status = 0;
    r->etag[0] = r->request_id[0] = '\0';
    r->content_length = 0;
    r->write_failed = false;
    r->stopped = false;
    r->errbuf[0] = '\0';
    r->out_fd = spec->out_fd;
    eq_buf_reset(&r->reply);
    eq_buf_reset(&r->url);
    curl_slist_free_all(r->hlist);
    r->hlist = NULL;
    if (!r->easy && !(r->easy = curl_easy_init())) {
        eq_fail(err, EQ_ERR_NOMEM, "s3: cannot create a curl handle");
        goto fail;
    }
    curl_easy_reset(r->easy);
    if (spec->nheaders + 6 > SIGV4_MAX_PARAMS) {
        eq_fail(err, EQ_ERR_LIMIT, "s3: too many headers");
        goto fail;
    }

    /* host, canonical URI, URL */
    if (s3_request_target(c, spec->key, host, sizeof host, &uri, err) < 0 ||
        eq_buf_printf(&r->url, err, "%s://%s", c->scheme, host) < 0)
        goto fail;
    if (eq_buf_append(&r->url, uri.data, uri.len, err) < 0)
        goto fail;
    if (spec->nquery && (eq_buf_puts(&r->url, "?", err) < 0 ||
                         sigv4_canonical_query(spec->query, spec->nquery, &r->url, err) < 0))
        goto fail;

    /* credentials: a copy of the current ones (refreshed in the background) */
    if (s3_creds_take(c, &cr, &creds, err) < 0) {
        eq_err_context(err, "s3 %s %s", spec->op, spec->key ? spec->key : "");
        goto fail;
    }

    /* headers to sign */
    sigv4_format_date(time(NULL), date);
    if (spec->payload_hash)
        snprintf(hash, sizeof hash, "%s", spec->payload_hash);
    else if (sigv4_sha256_hex(spec->body ? spec->body : "", spec->body_len, hash) < 0) {
        eq_fail(err, EQ_ERR_NOMEM, "s3 %s: SHA-256 of the body failed", spec->op);
        goto fail;
    }
    hs[nh++] = (sigv4_kv){"Host", host};
    hs[nh++] = (sigv4_kv){"x-amz-date", date};
    hs[nh++] = (sigv4_kv){"x-amz-content-sha256", hash};
    if (creds.session_token)
        hs[nh++] = (sigv4_kv){"x-amz-security-token", creds.session_token};
    for (i = 0; i < spec->nheaders; i++)
        hs[nh++] = spec->headers[i];
    {
        sigv4_request sr = {.method = spec->method, .uri = uri.data, .query = spec->query,
                            .nquery = spec->nquery, .headers = hs, .nheaders = nh, .payload_hash = hash,
                            .region = c->region, .service = "s3", .amz_date = date};
        if (sigv4_authorization(&sr, &creds, auth, sizeof auth, NULL, err) < 0)
            goto fail;
    }
    for (i = 0; i < nh; i++)
        if (add_header(r, hs[i].name, hs[i].value, err) < 0)
            goto fail;
    if (add_header(r, "Authorization", auth, err) < 0)
        goto fail;
    /* no "Expect: 100-continue" round trip; no curl default Content-Type on POST */
    if (!(r->hlist = curl_slist_append(r->hlist, "Expect:"))) {
        eq_fail(err, EQ_ERR_NOMEM, "s3: out of memory");
        goto fail;
    }
    OPENSSL_cleanse(auth, sizeof auth);

    curl_easy_setopt(r->easy, CURLOPT_URL, r->url.data);
    curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->hlist);
    curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_ms);
    curl_easy_setopt(r->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(r->easy, CURLOPT_LOW_SPEED_TIME, (long)c->stall_seconds);
    curl_easy_setopt(r->easy, CURLOPT_XFERINFOFUNCTION, on_status);
    curl_easy_setopt(r->easy, CURLOPT_XFERINFODATA, r);
    curl_easy_setopt(r->easy, CURLOPT_NOPROGRESS, spec->tick ? 0L : 1L);
    curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
    if (c->ca_file)
        curl_easy_setopt(r->easy, CURLOPT_CAINFO, c->ca_file); /* verification stays on */
    if (strcmp(spec->method, "PUT") == 0) {
        curl_easy_setopt(r->easy, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(r->easy, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(r->easy, CURLOPT_READDATA, r);
        curl_easy_setopt(r->easy, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(r->easy, CURLOPT_SEEKDATA, r);
        curl_easy_setopt(r->easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)spec->body_len);
    } else if (strcmp(spec->method, "POST") == 0) {
        curl_easy_setopt(r->easy, CURLOPT_POST, 1L);
        curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)spec->body_len);
        curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, spec->body ? spec->body : "");
    } else if (strcmp(spec->method, "HEAD") == 0) {
        curl_easy_setopt(r->easy, CURLOPT_NOBODY, 1L);
    } else if (strcmp(spec->method, "GET") != 0) {
        curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, spec->method);
    }
    rc = 0;
fail:
    s3_creds_drop(cr);
    eq_buf_cleanup(&uri);
    return rc;
}

int s3_request_result(s3_request *r, CURLcode cc, eq_err *err)
{
    const s3_req_spec *s = r->spec;
    s3_xml_reply x;
    eq_err xerr;
    const char *code = "", *reqid = r->request_id;

    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
    if (r->stopped) {
        /* the caller's tick said stop (cancel, lease lost, shutdown) */
        *err = r->stop_err;
        err->retryable = false;
        return -1;
    }
    if (r->write_failed)
        return eq_fail(err, EQ_ERR_IO, "s3 %s %s: writing the body failed: %s", s->op, s->key ? s->key : "",
                       strerror(errno));
    if (cc != CURLE_OK) {
        int (*f)(eq_err *, eq_code, const char *, ...) = s3_retryable(cc, 0, NULL) ? eq_fail_retry : eq_fail;
        return f(err, EQ_ERR_S3, "s3 %s %s: %s (%s)%s", s->op, s->key ? s->key : "", curl_easy_strerror(cc),
                 r->errbuf[0] ? r->errbuf : "no detail",
                 cc == CURLE_PEER_FAILED_VERIFICATION ? "; the server's certificate is not trusted: check "
                                                        "EXPORTQ_S3_CA_FILE and the endpoint's host name"
                                                      : "");
    }
    memset(&x, 0, sizeof x);
    if (r->out_fd < 0 || r->status >= 300) {
        if (s3_xml_parse(r->reply.data ? r->reply.data : "", r->reply.len, &x, &xerr) < 0 && r->status < 300)
            return eq_fail_retry(err, EQ_ERR_S3, "s3 %s %s: HTTP %ld with a reply that is not XML: %s", s->op,
                                 s->key ? s->key : "", r->status, xerr.msg);
    }
    if (r->status >= 200 && r->status < 300 && strcmp(x.root, "Error") != 0)
        return 0;
    if (strcmp(x.root, "Error") == 0)
        code = x.code;
    if (x.request_id[0])
        reqid = x.request_id;
    if (!*code && r->status == 404)
        code = "NotFound"; /* HEAD has no body */
    {
        bool retry = s3_retryable(CURLE_OK, r->status, code);
        eq_code ec = (r->status == 404 || strcmp(code, "NoSuchUpload") == 0 || strcmp(code, "NoSuchKey") == 0)
                         ? EQ_ERR_NOT_FOUND
                         : EQ_ERR_S3;
        int (*f)(eq_err *, eq_code, const char *, ...) = retry ? eq_fail_retry : eq_fail;
        return f(err, ec, "s3 %s %s: HTTP %ld %s%s%s%s(request id %s)", s->op, s->key ? s->key : "", r->status,
                 *code ? code : "error", x.message[0] ? ": " : "", x.message, " ", *reqid ? reqid : "none");
    }
}

/* The backoff before a retry, in slices, with the caller's tick between them. */
static int backoff_sleep(long ms, const s3_req_spec *spec, eq_err *err)
{
    while (ms > 0) {
        long step = spec->tick && ms > S3_TICK_MS ? S3_TICK_MS : ms;
        struct timespec ts = {step / 1000, (step % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
        }
        ms -= step;
        if (spec->tick && spec->tick(spec->tick_ud, err) < 0) {
            err->retryable = false;
            return -1;
        }
    }
    return 0;
}

int s3_request_perform(s3_client *c, s3_request *r, const s3_req_spec *spec, eq_err *err)
{
    int max_attempts = spec->max_attempts > 0 ? spec->max_attempts : c->max_attempts;
    for (int attempt = 1;; attempt++) {
        CURLcode cc;
        if (attempt > 1) {
            if (backoff_sleep(s3_client_backoff_ms(c, attempt), spec, err) < 0)
                return -1;
            if (spec->out_fd >= 0) {
                struct stat st;
                if (fstat(spec->out_fd, &st) == 0 && S_ISREG(st.st_mode) &&
                    (lseek(spec->out_fd, 0, SEEK_SET) < 0 || ftruncate(spec->out_fd, 0) < 0))
                    return eq_fail(err, EQ_ERR_IO, "s3 %s: cannot rewind the output for a retry", spec->op);
            }
        }
        if (s3_request_prepare(c, r, spec, err) < 0)
            return -1;
        cc = curl_easy_perform(r->easy);
        if (s3_request_result(r, cc, err) == 0)
            return 0;
        if (!err->retryable || attempt >= max_attempts) {
            if (attempt > 1 && !r->stopped)
                eq_err_context(err, "after %d attempts", attempt);
            return -1;
        }
        eq_warn(NULL, "retrying (attempt %d of %d): %s", attempt + 1, max_attempts, err->msg);
    }
}
