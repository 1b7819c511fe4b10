/* aws_source.h - the sources of the credential chain (internal to s3/; the
 * rest of the program uses aws_creds.h).
 *
 * Each source has the same shape:
 *   int aws_source_X(const aws_settings *s, aws_creds *out, char *why, size_t whysz, eq_err *err)
 * returning 1 with *out filled, 0 when the source is not configured (why: a
 * few words saying so, for the "no credentials" line), or -1 when it is
 * configured but failed (err says why; retryable when a later try may work).
 * Sources never log and never put a secret into why or err.
 *
 * aws_fetch_*: the small HTTP client the endpoint sources share (no proxy, no
 * redirects, bounded reply, short timeouts) and the parsers of what they
 * answer (pure, for tests).
 */
#ifndef EXPORTQ_S3_AWS_SOURCE_H
#define EXPORTQ_S3_AWS_SOURCE_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "common/buf.h"
#include "common/error.h"
#include "s3/aws_creds.h"

#define AWS_REPLY_MAX (64 * 1024) /* a credentials document or STS reply */
#define AWS_FILE_MAX (1024 * 1024) /* a shared credentials/config file or token file */

/* What the chain reads from the configuration (owned copies; NULL = unset). */
typedef struct aws_settings {
    char *access_key, *secret_key, *session_token;
    char *profile, *credentials_file, *config_file;
    char *web_identity_token_file, *role_arn, *role_session_name, *sts_endpoint, *region;
    char *container_relative_uri, *container_full_uri, *container_token, *container_token_file;
    char *imds_endpoint;
    bool imds_disabled;
    char *ca_file; /* EXPORTQ_S3_CA_FILE, also trusted for STS */
} aws_settings;

int aws_source_env(const aws_settings *s, aws_creds *out, char *why, size_t whysz, eq_err *err) EQ_MUST;
int aws_source_profile(const aws_settings *s, aws_creds *out, char *why, size_t whysz, eq_err *err) EQ_MUST;
int aws_source_web_identity(const aws_settings *s, aws_creds *out, char *why, size_t whysz,
                            eq_err *err) EQ_MUST;
int aws_source_container(const aws_settings *s, aws_creds *out, char *why, size_t whysz, eq_err *err) EQ_MUST;
int aws_source_imds(const aws_settings *s, aws_creds *out, char *why, size_t whysz, eq_err *err) EQ_MUST;

/* The container endpoint's URL from the relative or full URI (pure). A full
 * URI must be http(s) to a literal loopback address, "localhost",
 * 169.254.170.2, 169.254.170.23 or [fd00:ec2::23]; anything else is refused
 * here, before any connection. *url is a parsed curl URL the caller frees
 * with curl_url_cleanup(). */
int aws_container_url(const char *relative, const char *full, CURLU **url, eq_err *err) EQ_MUST;

/* Parses a profile from INI text (pure): the credentials file's "[name]" or,
 * when config_style, the config file's "[profile name]" ("[default]" in both).
 * Returns 1 when the section exists (keys found filled in, others left as
 * they are), 0 when it does not; *unsupported names a key of that section
 * exportq does not act on (role_arn, sso_*, credential_process), or "". */
int aws_profile_parse(const char *text, size_t len, const char *profile, bool config_style, aws_creds *out,
                      char *unsupported, size_t unsz) EQ_MUST;

/* One HTTP request to a credentials endpoint. */
typedef struct aws_fetch_req {
    const char *what;           /* "container credentials": names it in errors */
    const char *method;         /* "GET", "PUT", "POST" */
    CURLU *url;                 /* borrowed */
    const char *const *headers; /* "Name: value" lines (may be secrets; never logged) */
    size_t nheaders;
    const char *body;           /* POST/PUT body, NULL for none */
    size_t body_len;
    const char *ca_file;        /* extra CA bundle for https, NULL for the system's */
    long timeout_ms;            /* whole request */
} aws_fetch_req;

/* Performs rq; *status gets the HTTP status, reply the body (bounded). A
 * transport failure is -1, retryable; any HTTP status is 0 (the caller
 * decides). */
int aws_fetch(const aws_fetch_req *rq, long *status, eq_buf *reply, eq_err *err) EQ_MUST;

/* The JSON credentials document of the container endpoint and IMDS:
 * {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"} (pure). */
int aws_fetch_parse_json(const char *what, const char *body, size_t len, aws_creds *out, eq_err *err) EQ_MUST;

/* "2026-12-01T20:15:00Z" (fraction and offsets accepted) -> time_t (pure). */
int aws_fetch_parse_time(const char *iso, time_t *out) EQ_MUST;

/* Reads a small file (token files, shared files) into buf; ENOENT is
 * EQ_ERR_NOT_FOUND. */
int aws_fetch_read_file(const char *what, const char *path, eq_buf *buf, eq_err *err) EQ_MUST;

#endif
