/* sigv4.h - AWS Signature Version 4 for S3, built stage by stage as pure
 * functions: canonical request -> string to sign -> signing key -> signature,
 * for header signing (Authorization) and query signing (presigned URLs).
 *
 * S3's canonical rules: the URI is given already encoded once (each path
 * segment, never normalised); query parameters are given raw and encoded here,
 * sorted by encoded name then value, a parameter without value becomes
 * "name="; header names are lower-cased, values trimmed with inner runs of
 * spaces collapsed, sorted by name, repeated names joined with ','.
 * HMAC and SHA-256 come from OpenSSL. Nothing here allocates beyond the
 * caller's bounded eq_bufs; nothing here logs.
 */
#ifndef EXPORTQ_WORKER_SIGV4_H
#define EXPORTQ_WORKER_SIGV4_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/buf.h"
#include "common/error.h"

#define SIGV4_MAX_PARAMS 64      /* query parameters or headers in one request */
#define SIGV4_MAX_EXPIRES 604800 /* 7 days, S3's limit for presigned URLs */
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

typedef struct sigv4_kv {
    const char *name;
    const char *value; /* NULL = no value ("name=" in the canonical query) */
} sigv4_kv;

typedef struct sigv4_creds {
    const char *access_key;
    const char *secret_key;    /* secret */
    const char *session_token; /* NULL when none; secret */
} sigv4_creds;

typedef struct sigv4_request {
    const char *method;        /* "GET", "PUT", ... */
    const char *uri;           /* canonical URI, already URI-encoded: "/bucket/a%20b.csv" */
    const sigv4_kv *query;     /* raw (unencoded) parameters, any order */
    size_t nquery;
    const sigv4_kv *headers;   /* raw headers to sign (host, x-amz-date, x-amz-content-sha256, ...) */
    size_t nheaders;
    const char *payload_hash;  /* lower-case hex SHA-256 of the body, or SIGV4_UNSIGNED_PAYLOAD */
    const char *region;        /* "us-east-1" */
    const char *service;       /* "s3" */
    const char *amz_date;      /* "20130524T000000Z" */
} sigv4_request;

/* "YYYYMMDDTHHMMSSZ" of t in UTC; out has room for 17 bytes. */
void sigv4_format_date(time_t t, char out[17]);

/* Lower-case hex of SHA-256(p[0..n)); hex has room for 65 bytes. -1 (hex
 * "") when OpenSSL fails. */
int sigv4_sha256_hex(const void *p, size_t n, char hex[65]) EQ_MUST;

/* Appends the canonical query string of q[0..n) to out. */
int sigv4_canonical_query(const sigv4_kv *q, size_t n, eq_buf *out, eq_err *err) EQ_MUST;

/* Appends the canonical request to out; signed_headers (shsz bytes) gets the
 * ';'-joined list of lower-case header names. */
int sigv4_canonical_request(const sigv4_request *r, eq_buf *out, char *signed_headers, size_t shsz,
                            eq_err *err) EQ_MUST;

/* Appends "AWS4-HMAC-SHA256\n<date>\n<scope>\n<hex sha256 of canonical>" to out. */
int sigv4_string_to_sign(const sigv4_request *r, const char *canonical_request, eq_buf *out,
                         eq_err *err) EQ_MUST;

/* HMAC chain "AWS4"+secret -> date -> region -> service -> "aws4_request".
 * Fails (key zeroed, err filled) when memory or HMAC fails: never signs
 * with a made-up key. */
int sigv4_signing_key(const char *secret, const char *date8, const char *region, const char *service,
                      uint8_t key[32], eq_err *err) EQ_MUST;

/* The value of the Authorization header for r:
 * "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request,
 *  SignedHeaders=host;range;x-amz-date, Signature=<64 hex>".
 * canonical_out (may be NULL) receives the canonical request, for tests. */
int sigv4_authorization(const sigv4_request *r, const sigv4_creds *creds, char *auth, size_t authsz,
                        eq_buf *canonical_out, eq_err *err) EQ_MUST;

/* Query signing (presigned URL): r->headers must hold only "host" (and any
 * header the user agent will send and that should be bound); r->query holds
 * the request's own parameters (e.g. response-content-disposition). Appends
 * to query_out the full query string: the canonical query including the
 * X-Amz-Algorithm, -Credential, -Date, -Expires, -SignedHeaders (and
 * -Security-Token) parameters, then "&X-Amz-Signature=<hex>". The payload is
 * UNSIGNED-PAYLOAD. expires must be 1..SIGV4_MAX_EXPIRES. */
int sigv4_presign_query(const sigv4_request *r, const sigv4_creds *creds, long expires, eq_buf *query_out,
                        eq_buf *canonical_out, eq_err *err) EQ_MUST;

#endif
