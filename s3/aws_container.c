/* aws_container.c - container credentials (ECS task roles, EKS Pod
 * Identity): GET the relative URI on 169.254.170.2, or a full URI limited
 * to loopback and the ECS/EKS link-local addresses, with the authorization
 * token (read afresh from its file on every fetch: it rotates); see
 * aws_source.h */
#include "s3/aws_source.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ECS_HOST "169.254.170.2"
#define CONTAINER_TIMEOUT_MS 5000

/* Is `host` (as curl parsed it, IPv6 in brackets) one we may ask? */
static bool host_allowed(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6, eks6;
    char v6[64];
    size_t n = strlen(host);

    if (strcasecmp(host, "localhost") == 0)
        return true; /* libcurl resolves it to loopback itself, without DNS */
    if (inet_pton(AF_INET, host, &a4) == 1) {
        uint32_t ip = ntohl(a4.s_addr);
        return (ip >> 24) == 127 || strcmp(host, ECS_HOST) == 0 || strcmp(host, "169.254.170.23") == 0;
    }
    if (n > 2 && n < sizeof v6 + 2 && host[0] == '[' && host[n - 1] == ']') {
        memcpy(v6, host + 1, n - 2);
        v6[n - 2] = '\0';
        if (strchr(v6, '%') || inet_pton(AF_INET6, v6, &a6) != 1)
            return false;
        if (inet_pton(AF_INET6, "fd00:ec2::23", &eks6) != 1)
            return false;
        return IN6_IS_ADDR_LOOPBACK(&a6) || memcmp(&a6, &eks6, sizeof a6) == 0;
    }
    return false;
}

int aws_container_url(const char *relative, const char *full, CURLU **url, eq_err *err)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *user = NULL;
    int rc = -1;

    *url = NULL;
    if (!u)
        return eq_fail(err, EQ_ERR_NOMEM, "container credentials: out of memory");
    if (relative) {
        char buf[2048];
        if (relative[0] != '/' || strpbrk(relative, "@#\\ ") ||
            snprintf(buf, sizeof buf, "http://%s%s", ECS_HOST, relative) >= (int)sizeof buf) {
            eq_fail(err, EQ_ERR_CONFIG,
                    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: must be a path starting with '/' (at most 2000 bytes)");
            goto out;
        }
        if (curl_url_set(u, CURLUPART_URL, buf, 0) != CURLUE_OK) {
            eq_fail(err, EQ_ERR_CONFIG, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: not a valid URL path");
            goto out;
        }
    } else if (curl_url_set(u, CURLUPART_URL, full, 0) != CURLUE_OK) {
        eq_fail(err, EQ_ERR_CONFIG, "AWS_CONTAINER_CREDENTIALS_FULL_URI: not a valid URL");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        eq_fail(err, EQ_ERR_CONFIG, "AWS_CONTAINER_CREDENTIALS_FULL_URI: not a valid URL");
        goto out;
    }
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        eq_fail(err, EQ_ERR_CONFIG, "AWS_CONTAINER_CREDENTIALS_FULL_URI: scheme '%s' refused (http or https)", scheme);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
        eq_fail(err, EQ_ERR_CONFIG, "AWS_CONTAINER_CREDENTIALS_FULL_URI: user information refused");
        goto out;
    }
    if (!relative && !host_allowed(host)) {
        eq_fail(err, EQ_ERR_CONFIG,
                "AWS_CONTAINER_CREDENTIALS_FULL_URI: host '%s' refused: only loopback, " ECS_HOST
                ", 169.254.170.23 and [fd00:ec2::23] are allowed",
                host);
        goto out;
    }
    *url = u;
    u = NULL;
    rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_url_cleanup(u);
    return rc;
}

/* The Authorization header line, from the token file or the variable. */
static int auth_header(const aws_settings *s, char *line, size_t linesz, eq_err *err)
{
    const char *tok = s->container_token, *what = "AWS_CONTAINER_AUTHORIZATION_TOKEN";
    eq_buf buf;
    int rc = -1;
    size_t n;

    line[0] = '\0';
    eq_buf_init(&buf, AWS_TOKEN_MAX);
    if (s->container_token_file) {
        what = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE";
        if (aws_fetch_read_file(what, s->container_token_file, &buf, err) < 0) {
            err->code = EQ_ERR_CONFIG;
            err->retryable = true; /* the file may be being rotated */
            goto out;
        }
        tok = buf.data ? buf.data : "";
    }
    if (!tok) {
        rc = 0;
        goto out;
    }
    n = strlen(tok);
    while (n && (tok[n - 1] == '\n' || tok[n - 1] == '\r' || tok[n - 1] == ' '))
        n--;
    if (n == 0 || memchr(tok, '\n', n) || memchr(tok, '\r', n)) {
        eq_fail(err, EQ_ERR_CONFIG, "%s: the token is empty or spans lines", what);
        goto out;
    }
    if (snprintf(line, linesz, "Authorization: %.*s", (int)n, tok) >= (int)linesz) {
        eq_fail(err, EQ_ERR_CONFIG, "%s: the token is too long", what);
        goto out;
    }
    rc = 0;
out:
    if (buf.data)
        OPENSSL_cleanse(buf.data, buf.cap);
    eq_buf_cleanup(&buf);
    return rc;
}

int aws_source_container(const aws_settings *s, aws_creds *out, char *why, size_t whysz, eq_err *err)
{
    const char *what = s->container_relative_uri ? "container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI)"
                                                 : "container credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI)";
    char *auth = NULL;
    const char *hdrs[1];
    CURLU *url = NULL;
    eq_buf reply;
    long status = 0;
    int rc = -1;

    if (!s->container_relative_uri && !s->container_full_uri) {
        snprintf(why, whysz, "container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI/FULL_URI not set");
        return 0;
    }
    eq_buf_init(&reply, AWS_REPLY_MAX);
    if (aws_container_url(s->container_relative_uri, s->container_full_uri, &url, err) < 0)
        goto out;
    if (!(auth = malloc(AWS_TOKEN_MAX + 32))) {
        eq_fail(err, EQ_ERR_NOMEM, "%s: out of memory", what);
        goto out;
    }
    if (auth_header(s, auth, AWS_TOKEN_MAX + 32, err) < 0)
        goto out;
    hdrs[0] = auth;
    {
        aws_fetch_req rq = {.what = what, .method = "GET", .url = url, .headers = hdrs, .nheaders = auth[0] ? 1 : 0,
                            .ca_file = s->ca_file, .timeout_ms = CONTAINER_TIMEOUT_MS};
        if (aws_fetch(&rq, &status, &reply, err) < 0)
            goto out;
    }
    if (status != 200) {
        int (*f)(eq_err *, eq_code, const char *, ...) = status >= 500 || status == 429 ? eq_fail_retry : eq_fail;
        f(err, EQ_ERR_S3, "%s: HTTP %ld", what, status);
        goto out;
    }
    memset(out, 0, sizeof *out);
    if (aws_fetch_parse_json(what, reply.data ? reply.data : "", reply.len, out, err) < 0)
        goto out;
    snprintf(out->source, sizeof out->source, "container");
    rc = 1;
out:
    if (auth) {
        OPENSSL_cleanse(auth, AWS_TOKEN_MAX + 32);
        free(auth);
    }
    if (reply.data)
        OPENSSL_cleanse(reply.data, reply.cap);
    eq_buf_cleanup(&reply);
    curl_url_cleanup(url);
    return rc;
}
