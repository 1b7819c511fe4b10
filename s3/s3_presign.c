/* s3_presign.c - see s3_presign.h */
#include "s3/s3_presign.h"

#include <stdlib.h>
#include <time.h>

#include "common/buf.h"
#include "s3/aws_creds.h"
#include "s3/s3_request.h"
#include "s3/sigv4.h"

long s3_client_link_ttl(s3_client *c, long want)
{
    time_t until = aws_credentials_expiry(c->creds), now = time(NULL);
    if (until && until - now < want)
        want = (long)(until - now);
    return want < 1 ? 1 : want;
}

int s3_presign_get(s3_client *c, const char *key, long expires, const char *filename, char **url_out,
                   eq_err *err)
{
    return s3_presign_link(c, key, expires, filename, url_out, NULL, err);
}

int s3_presign_link(s3_client *c, const char *key, long expires, const char *filename, char **url_out,
                    time_t *expires_at, eq_err *err)
{
    aws_creds *cr = NULL;
    sigv4_creds creds;
    char host[512], date[17];
    eq_buf uri, disp, url;
    sigv4_kv q[1], hs[1];
    size_t nq = 0;
    time_t now = time(NULL);
    int rc = -1;

    *url_out = NULL;
    eq_buf_init(&uri, 16 * 1024);
    eq_buf_init(&disp, 4096);
    eq_buf_init(&url, 64 * 1024);
    if (!key || !*key) {
        eq_fail(err, EQ_ERR_INVALID, "presign: empty object key");
        goto fail;
    }
    if (s3_request_target(c, key, host, sizeof host, &uri, err) < 0)
        goto fail;
    if (filename) {
        if (eq_content_disposition(filename, &disp, err) < 0)
            goto fail;
        q[nq++] = (sigv4_kv){"response-content-disposition", disp.data};
    }
    if (expires < 1 || expires > SIGV4_MAX_EXPIRES) {
        eq_fail(err, EQ_ERR_INVALID, "presign: expiry %ld is not 1..%d seconds", expires, SIGV4_MAX_EXPIRES);
        goto fail;
    }
    if (s3_creds_take(c, &cr, &creds, err) < 0)
        goto fail;
    /* a link signed with temporary credentials dies with them */
    if (cr->expires_at && cr->expires_at - now < expires) {
        expires = (long)(cr->expires_at - now);
        if (expires < 1) {
            eq_fail_retry(err, EQ_ERR_S3, "presign: the AWS credentials are expiring");
            goto fail;
        }
    }
    hs[0] = (sigv4_kv){"host", host};
    sigv4_format_date(now, date);
    {
        sigv4_request sr = {.method = "GET", .uri = uri.data, .query = q, .nquery = nq, .headers = hs,
                            .nheaders = 1, .payload_hash = SIGV4_UNSIGNED_PAYLOAD, .region = c->region,
                            .service = "s3", .amz_date = date};
        if (eq_buf_printf(&url, err, "%s://%s%s?", c->scheme, host, uri.data) < 0 ||
            sigv4_presign_query(&sr, &creds, expires, &url, NULL, err) < 0)
            goto fail;
    }
    *url_out = url.data;
    url.data = NULL;
    if (expires_at)
        *expires_at = now + expires;
    rc = 0;
fail:
    s3_creds_drop(cr);
    eq_buf_cleanup(&uri);
    eq_buf_cleanup(&disp);
    eq_buf_cleanup(&url);
    return rc;
}
