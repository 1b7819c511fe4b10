/* aws_fetch.c - the HTTP client and parsers shared by the credential
 * endpoint sources; see aws_source.h */
#include "s3/aws_source.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
    eq_buf *b = ud;
    eq_err e;
    if (eq_buf_append(b, p, size * n, &e) < 0)
        return 0; /* too large: abort */
    return size * n;
}

int aws_fetch(const aws_fetch_req *rq, long *status, eq_buf *reply, eq_err *err)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hl = NULL, *l;
    char errbuf[CURL_ERROR_SIZE] = "";
    CURLcode cc;
    int rc = -1;

    *status = 0;
    eq_buf_reset(reply);
    if (!h)
        return eq_fail(err, EQ_ERR_NOMEM, "%s: cannot create a curl handle", rq->what);
    for (size_t i = 0; i < rq->nheaders; i++) {
        if (!(l = curl_slist_append(hl, rq->headers[i]))) {
            eq_fail(err, EQ_ERR_NOMEM, "%s: out of memory", rq->what);
            goto out;
        }
        hl = l;
    }
    if (!(l = curl_slist_append(hl, "Expect:"))) {
        eq_fail(err, EQ_ERR_NOMEM, "%s: out of memory", rq->what);
        goto out;
    }
    hl = l;
    curl_easy_setopt(h, CURLOPT_CURLU, rq->url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*"); /* metadata endpoints are never proxied */
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, reply);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, rq->timeout_ms < 1000 ? rq->timeout_ms : 1000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, rq->timeout_ms);
    if (rq->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, rq->ca_file);
    if (strcmp(rq->method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
    } else if (strcmp(rq->method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
    }
    cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        int (*f)(eq_err *, eq_code, const char *, ...) =
            cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ? eq_fail : eq_fail_retry;
        f(err, EQ_ERR_S3, "%s: %s (%s)", rq->what, curl_easy_strerror(cc), errbuf[0] ? errbuf : "no detail");
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    rc = 0;
out:
    curl_slist_free_all(hl); /* header values may be tokens: libcurl copied them */
    curl_easy_cleanup(h);
    return rc;
}

int aws_fetch_parse_time(const char *iso, time_t *out)
{
    struct tm tm;
    const char *p;
    long off = 0;

    memset(&tm, 0, sizeof tm);
    if (!iso || !(p = strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm)))
        return -1;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++) {
        }
    if (*p == 'Z' || *p == 'z')
        p++;
    else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int hh = (p[1] - '0') * 10 + (p[2] - '0'), mm = (p[4] - '0') * 10 + (p[5] - '0');
        if (hh < 0 || hh > 23 || mm < 0 || mm > 59)
            return -1;
        off = (hh * 3600L + mm * 60L) * (*p == '+' ? 1 : -1);
        p += 6;
    } else
        return -1;
    if (*p)
        return -1;
    *out = timegm(&tm) - off;
    return *out > 0 ? 0 : -1;
}

static int copy_field(json_t *doc, const char *name, char *dst, size_t dstsz, bool required, const char *what,
                      eq_err *err)
{
    json_t *v = json_object_get(doc, name);
    const char *s;
    if (!v && !required) {
        dst[0] = '\0';
        return 0;
    }
    if (!json_is_string(v) || !*(s = json_string_value(v)))
        return eq_fail(err, EQ_ERR_S3, "%s: the reply has no %s", what, name);
    if (strlen(s) >= dstsz)
        return eq_fail(err, EQ_ERR_S3, "%s: %s is longer than %zu bytes", what, name, dstsz - 1);
    for (const char *c = s; *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f)
            return eq_fail(err, EQ_ERR_S3, "%s: %s holds a space or control character", what, name);
    memcpy(dst, s, strlen(s) + 1);
    return 0;
}

int aws_fetch_parse_json(const char *what, const char *body, size_t len, aws_creds *out, eq_err *err)
{
    json_error_t je;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je), *code, *exp;
    int rc = -1;

    if (!json_is_object(doc)) {
        eq_fail(err, EQ_ERR_S3, "%s: the reply is not a JSON object", what);
        goto out;
    }
    code = json_object_get(doc, "Code");
    if (code && (!json_is_string(code) || strcmp(json_string_value(code), "Success") != 0)) {
        eq_fail_retry(err, EQ_ERR_S3, "%s: the reply's Code is not Success", what);
        goto out;
    }
    if (copy_field(doc, "AccessKeyId", out->access_key, sizeof out->access_key, true, what, err) < 0 ||
        copy_field(doc, "SecretAccessKey", out->secret_key, sizeof out->secret_key, true, what, err) < 0 ||
        copy_field(doc, "Token", out->session_token, sizeof out->session_token, false, what, err) < 0)
        goto out;
    out->expires_at = 0;
    exp = json_object_get(doc, "Expiration");
    if (exp && (!json_is_string(exp) || aws_fetch_parse_time(json_string_value(exp), &out->expires_at) < 0)) {
        eq_fail(err, EQ_ERR_S3, "%s: Expiration is not an ISO 8601 time", what);
        goto out;
    }
    rc = 0;
out:
    if (rc < 0)
        aws_creds_cleanse(out);
    if (doc) {
        /* the document held the secret: jansson frees without wiping; the
         * copies in its strings die with the process heap like libcurl's */
        json_decref(doc);
    }
    return rc;
}

int aws_fetch_read_file(const char *what, const char *path, eq_buf *buf, eq_err *err)
{
    char chunk[4096];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;
    int rc = 0;

    eq_buf_reset(buf);
    if (fd < 0)
        return eq_fail(err, errno == ENOENT ? EQ_ERR_NOT_FOUND : EQ_ERR_CONFIG, "%s %s: %s", what, path,
                       strerror(errno));
    while ((n = read(fd, chunk, sizeof chunk)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = eq_fail(err, EQ_ERR_CONFIG, "%s %s: %s", what, path, strerror(errno));
            break;
        }
        if (eq_buf_append(buf, chunk, (size_t)n, err) < 0) {
            rc = eq_fail(err, EQ_ERR_CONFIG, "%s %s: larger than %zu bytes", what, path, buf->max);
            break;
        }
    }
    OPENSSL_cleanse(chunk, sizeof chunk);
    close(fd);
    if (rc == 0 && eq_buf_reserve(buf, buf->len + 1, err) < 0)
        rc = -1;
    if (rc == 0)
        buf->data[buf->len] = '\0';
    return rc;
}
