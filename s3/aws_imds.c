/* aws_imds.c - EC2 instance profile credentials through IMDSv2: PUT
 * /latest/api/token, then GET the role name and its credentials with that
 * token. No IMDSv1 fallback: a refused token request is an error. See
 * aws_source.h */
#include "s3/aws_source.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IMDS_DEFAULT "http://169.254.169.254"
#define IMDS_TIMEOUT_MS 2000
#define IMDS_TOKEN_TTL "21600"
#define IMDS_CREDS_PATH "/latest/meta-data/iam/security-credentials/"

/* One IMDS call: path appended to the endpoint; header may be NULL. */
static int imds_call(const aws_settings *s, const char *method, const char *path, const char *header,
                     eq_buf *reply, eq_err *err)
{
    const char *ep = s->imds_endpoint ? s->imds_endpoint : IMDS_DEFAULT;
    char url[1024];
    size_t n = strlen(ep);
    CURLU *u = curl_url();
    long status = 0;
    int rc = -1;

    while (n && ep[n - 1] == '/')
        n--;
    if (!u)
        return eq_fail(err, EQ_ERR_NOMEM, "IMDS: out of memory");
    if (snprintf(url, sizeof url, "%.*s%s", (int)n, ep, path) >= (int)sizeof url ||
        curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        eq_fail(err, EQ_ERR_CONFIG, "AWS_EC2_METADATA_SERVICE_ENDPOINT: '%s' is not a valid http URL", ep);
        goto out;
    }
    {
        const char *hdrs[1] = {header};
        aws_fetch_req rq = {.what = "IMDSv2", .method = method, .url = u, .headers = hdrs,
                            .nheaders = header ? 1 : 0, .timeout_ms = IMDS_TIMEOUT_MS};
        if (aws_fetch(&rq, &status, reply, err) < 0)
            goto out;
    }
    if (status != 200) {
        int (*f)(eq_err *, eq_code, const char *, ...) = status >= 500 || status == 429 ? eq_fail_retry : eq_fail;
        f(err, EQ_ERR_S3, "IMDSv2 %s %s: HTTP %ld%s", method, strcmp(method, "PUT") == 0 ? "token" : "credentials",
          status, strcmp(method, "PUT") == 0 ? " (IMDSv2 token refused; no IMDSv1 fallback)" : "");
        goto out;
    }
    rc = 0;
out:
    curl_url_cleanup(u);
    return rc;
}

int aws_source_imds(const aws_settings *s, aws_creds *out, char *why, size_t whysz, eq_err *err)
{
    char tokhdr[256] = "", role[256], path[512];
    eq_buf reply;
    size_t n;
    int rc = -1;

    if (s->imds_disabled) {
        snprintf(why, whysz, "IMDSv2: disabled by AWS_EC2_METADATA_DISABLED");
        return 0;
    }
    eq_buf_init(&reply, AWS_REPLY_MAX);
    if (imds_call(s, "PUT", "/latest/api/token", "X-aws-ec2-metadata-token-ttl-seconds: " IMDS_TOKEN_TTL, &reply,
                  err) < 0) {
        /* nothing answers at the default address: not on EC2 */
        if (!s->imds_endpoint && err->retryable) {
            snprintf(why, whysz, "IMDSv2: no answer from %s", IMDS_DEFAULT);
            rc = 0;
        }
        goto out;
    }
    n = reply.len;
    while (n && (reply.data[n - 1] == '\n' || reply.data[n - 1] == '\r'))
        n--;
    if (n == 0 || n > 200 || memchr(reply.data, '\n', n) || memchr(reply.data, '\r', n)) {
        eq_fail(err, EQ_ERR_S3, "IMDSv2: the token reply is empty or malformed");
        goto out;
    }
    snprintf(tokhdr, sizeof tokhdr, "X-aws-ec2-metadata-token: %.*s", (int)n, reply.data);
    if (imds_call(s, "GET", IMDS_CREDS_PATH, tokhdr, &reply, err) < 0)
        goto out;
    n = strcspn(reply.data ? reply.data : "", "\r\n");
    if (n == 0 || n >= sizeof role || strspn(reply.data, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                        "0123456789+=,.@_-") < n) {
        eq_fail(err, EQ_ERR_S3, "IMDSv2: no instance role (is an instance profile attached?)");
        goto out;
    }
    memcpy(role, reply.data, n);
    role[n] = '\0';
    snprintf(path, sizeof path, IMDS_CREDS_PATH "%s", role);
    if (imds_call(s, "GET", path, tokhdr, &reply, err) < 0)
        goto out;
    memset(out, 0, sizeof *out);
    if (aws_fetch_parse_json("IMDSv2 credentials", reply.data ? reply.data : "", reply.len, out, err) < 0)
        goto out;
    snprintf(out->source, sizeof out->source, "imds");
    rc = 1;
out:
    OPENSSL_cleanse(tokhdr, sizeof tokhdr);
    if (reply.data)
        OPENSSL_cleanse(reply.data, reply.cap);
    eq_buf_cleanup(&reply);
    return rc;
}
