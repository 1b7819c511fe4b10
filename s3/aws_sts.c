/* aws_sts.c - web identity: the token in AWS_WEB_IDENTITY_TOKEN_FILE (read
 * afresh on every fetch: Kubernetes rotates it) exchanged for the role
 * AWS_ROLE_ARN's temporary credentials with STS AssumeRoleWithWebIdentity
 * (an unsigned POST; AWS_ENDPOINT_URL_STS for a private STS, else the
 * regional AWS endpoint). See aws_source.h */
#include "s3/aws_source.h"

#include <expat.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "s3/s3_uri.h"

#define STS_TIMEOUT_MS 10000
#define STS_BODY_MAX (64 * 1024)
#define STS_DEPTH 8

typedef struct sts_reply {
    XML_Parser parser;
    int depth;              /* elements open */
    char names[STS_DEPTH][64]; /* local names at depth 1..STS_DEPTH */
    char text[AWS_TOKEN_MAX];
    size_t text_len;
    aws_creds *out;
    char expiration[64];
    char code[64];
    bool doctype;
} sts_reply;

static const char *local(const char *n)
{
    const char *s = strrchr(n, '|');
    return s ? s + 1 : n;
}

static void on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    sts_reply *r = ud;
    (void)atts;
    r->depth++;
    if (r->depth <= STS_DEPTH)
        snprintf(r->names[r->depth - 1], sizeof r->names[0], "%s", local(name));
    r->text_len = 0;
    r->text[0] = '\0';
}

static void on_text(void *ud, const XML_Char *t, int len)
{
    sts_reply *r = ud;
    size_t n = len < 0 ? 0 : (size_t)len, room = sizeof r->text - 1 - r->text_len;
    if (n > room)
        n = room;
    memcpy(r->text + r->text_len, t, n);
    r->text_len += n;
    r->text[r->text_len] = '\0';
}

static void keep(char *dst, size_t dstsz, const char *src)
{
    size_t n = strlen(src);
    if (n < dstsz)
        memcpy(dst, src, n + 1);
}

static void on_end(void *ud, const XML_Char *name)
{
    sts_reply *r = ud;
    const char *n = local(name), *parent = r->depth >= 2 && r->depth <= STS_DEPTH ? r->names[r->depth - 2] : "";
    if (strcmp(parent, "Credentials") == 0) {
        if (strcmp(n, "AccessKeyId") == 0)
            keep(r->out->access_key, sizeof r->out->access_key, r->text);
        else if (strcmp(n, "SecretAccessKey") == 0)
            keep(r->out->secret_key, sizeof r->out->secret_key, r->text);
        else if (strcmp(n, "SessionToken") == 0)
            keep(r->out->session_token, sizeof r->out->session_token, r->text);
        else if (strcmp(n, "Expiration") == 0)
            keep(r->expiration, sizeof r->expiration, r->text);
    } else if (strcmp(parent, "Error") == 0 && strcmp(n, "Code") == 0) {
        keep(r->code, sizeof r->code, r->text);
    }
    r->text_len = 0;
    r->text[0] = '\0';
    r->depth--;
}

static void on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid, int internal)
{
    sts_reply *r = ud;
    (void)name, (void)sysid, (void)pubid, (void)internal;
    r->doctype = true;
    XML_StopParser(r->parser, XML_FALSE);
}

/* Parses an AssumeRoleWithWebIdentity reply (or an ErrorResponse). */
static int parse_reply(const char *body, size_t len, long status, aws_creds *out, eq_err *err)
{
    sts_reply *r = calloc(1, sizeof *r);
    int rc = -1;
    if (!r)
        return eq_fail(err, EQ_ERR_NOMEM, "STS: out of memory");
    r->out = out;
    if (!(r->parser = XML_ParserCreateNS(NULL, '|'))) {
        eq_fail(err, EQ_ERR_NOMEM, "STS: out of memory");
        goto out;
    }
    XML_SetUserData(r->parser, r);
    XML_SetElementHandler(r->parser, on_start, on_end);
    XML_SetCharacterDataHandler(r->parser, on_text);
    XML_SetStartDoctypeDeclHandler(r->parser, on_doctype);
    if (XML_Parse(r->parser, body, (int)len, XML_TRUE) != XML_STATUS_OK || r->doctype) {
        (status >= 500 ? eq_fail_retry : eq_fail)(err, EQ_ERR_S3,
                                                  "STS AssumeRoleWithWebIdentity: HTTP %ld with a reply that is not XML",
                                                  status);
        goto out;
    }
    if (status != 200 || r->code[0]) {
        bool retry = status >= 500 || status == 429 || strcmp(r->code, "IDPCommunicationError") == 0 ||
                     strcmp(r->code, "Throttling") == 0;
        (retry ? eq_fail_retry : eq_fail)(err, EQ_ERR_S3, "STS AssumeRoleWithWebIdentity: HTTP %ld %s", status,
                                          r->code[0] ? r->code : "error");
        goto out;
    }
    if (!out->access_key[0] || !out->secret_key[0] || !out->session_token[0] ||
        aws_fetch_parse_time(r->expiration, &out->expires_at) < 0) {
        eq_fail(err, EQ_ERR_S3, "STS AssumeRoleWithWebIdentity: the reply lacks credentials or their expiration");
        goto out;
    }
    rc = 0;
out:
    if (r->parser)
        XML_ParserFree(r->parser);
    OPENSSL_cleanse(r, sizeof *r);
    free(r);
    return rc;
}

static int add_param(eq_buf *b, const char *name, const char *value, eq_err *err)
{
    if ((b->len && eq_buf_puts(b, "&", err) < 0) || eq_buf_puts(b, name, err) < 0 || eq_buf_puts(b, "=", err) < 0)
        return -1;
    return s3_uri_encode(b, value, strlen(value), false, err);
}

int aws_source_web_identity(const aws_settings *s, aws_creds *out, char *why, size_t whysz, eq_err *err)
{
    eq_buf token, body, reply;
    char ep[512], session[128];
    CURLU *u = NULL;
    long status = 0;
    size_t n;
    int rc = -1;

    if (!s->web_identity_token_file) {
        snprintf(why, whysz, "web identity: AWS_WEB_IDENTITY_TOKEN_FILE not set");
        return 0;
    }
    if (!s->role_arn)
        return eq_fail(err, EQ_ERR_CONFIG, "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not");
    eq_buf_init(&token, AWS_FILE_MAX);
    eq_buf_init(&body, STS_BODY_MAX);
    eq_buf_init(&reply, AWS_REPLY_MAX);
    if (aws_fetch_read_file("AWS_WEB_IDENTITY_TOKEN_FILE", s->web_identity_token_file, &token, err) < 0) {
        err->retryable = true; /* being rotated */
        goto out;
    }
    n = token.len;
    while (n && (token.data[n - 1] == '\n' || token.data[n - 1] == '\r' || token.data[n - 1] == ' '))
        token.data[--n] = '\0';
    if (n == 0) {
        eq_fail(err, EQ_ERR_CONFIG, "AWS_WEB_IDENTITY_TOKEN_FILE %s: empty", s->web_identity_token_file);
        goto out;
    }
    if (s->role_session_name)
        snprintf(session, sizeof session, "%.64s", s->role_session_name);
    else
        snprintf(session, sizeof session, "exportq-%ld-%ld", (long)getpid(), (long)time(NULL));
    if (add_param(&body, "Action", "AssumeRoleWithWebIdentity", err) < 0 ||
        add_param(&body, "Version", "2011-06-15", err) < 0 || add_param(&body, "RoleArn", s->role_arn, err) < 0 ||
        add_param(&body, "RoleSessionName", session, err) < 0 ||
        add_param(&body, "WebIdentityToken", token.data, err) < 0)
        goto out;
    if (s->sts_endpoint)
        snprintf(ep, sizeof ep, "%s", s->sts_endpoint);
    else
        snprintf(ep, sizeof ep, "https://sts.%s.amazonaws.com/", s->region ? s->region : "us-east-1");
    if (!(u = curl_url()) || curl_url_set(u, CURLUPART_URL, ep, 0) != CURLUE_OK) {
        eq_fail(err, EQ_ERR_CONFIG, "AWS_ENDPOINT_URL_STS: '%s' is not a valid URL", ep);
        goto out;
    }
    {
        const char *hdrs[2] = {"Content-Type: application/x-www-form-urlencoded", "Accept: application/xml"};
        aws_fetch_req rq = {.what = "STS AssumeRoleWithWebIdentity", .method = "POST", .url = u, .headers = hdrs,
                            .nheaders = 2, .body = body.data, .body_len = body.len, .ca_file = s->ca_file,
                            .timeout_ms = STS_TIMEOUT_MS};
        if (aws_fetch(&rq, &status, &reply, err) < 0)
            goto out;
    }
    memset(out, 0, sizeof *out);
    if (parse_reply(reply.data ? reply.data : "", reply.len, status, out, err) < 0) {
        aws_creds_cleanse(out);
        goto out;
    }
    snprintf(out->source, sizeof out->source, "web-identity");
    rc = 1;
out:
    if (token.data)
        OPENSSL_cleanse(token.data, token.cap);
    if (body.data)
        OPENSSL_cleanse(body.data, body.cap);
    if (reply.data)
        OPENSSL_cleanse(reply.data, reply.cap);
    eq_buf_cleanup(&token);
    eq_buf_cleanup(&body);
    eq_buf_cleanup(&reply);
    curl_url_cleanup(u);
    return rc;
}
