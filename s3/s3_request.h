/* s3_request.h - one signed S3 HTTP request on a libcurl easy handle, shared
 * by the synchronous operations (s3_client.c) and the pipelined uploader
 * (s3_upload.c). Internal to the S3 client: other modules use s3_client.h and
 * s3_upload.h.
 *
 * s3_request_prepare() (re)builds the easy handle for one attempt: a fresh
 * x-amz-date and signature each time, so a retry is just prepare + perform.
 * s3_request_result() turns the outcome into 0 or an eq_err naming the
 * operation, HTTP status, S3 error code and request id, with `retryable` set
 * per s3_retryable(). The request owns its easy handle, header list, URL and
 * reply buffer (bounded); s3_request_cleanup() frees them (zeroed or
 * half-built requests too). The body is borrowed: it must outlive the request.
 */
#ifndef EXPORTQ_WORKER_S3_REQUEST_H
#define EXPORTQ_WORKER_S3_REQUEST_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "s3/aws_creds.h"
#include "s3/s3_client.h"
#include "s3/sigv4.h"

#define S3_REPLY_MAX (1024 * 1024) /* XML replies kept in memory */

/* The client's fields (s3_client.h keeps the type opaque to other modules). */
struct s3_client {
    char scheme[8];      /* "http" or "https" */
    char *authority;     /* host[:port] of the endpoint */
    char *region;
    char *bucket;
    aws_credentials *creds; /* shared provider (s3/aws_creds.h); a reference */
    char *ca_file;       /* EXPORTQ_S3_CA_FILE, NULL: the system's CAs */
    bool path_style;
    int max_attempts;
    int base_delay_ms;
    int max_delay_ms;
    int connect_ms;
    int stall_seconds;
    unsigned int seed;   /* jitter */
    s3_tick_fn tick;     /* s3_client_set_tick(): for calls whose spec has none */
    void *tick_ud;
};

typedef struct s3_req_spec {
    const char *op;            /* "UploadPart": names the operation in errors */
    const char *method;        /* "PUT" */
    const char *key;           /* raw object key; NULL for the bucket itself */
    const sigv4_kv *query;     /* raw query parameters */
    size_t nquery;
    const sigv4_kv *headers;   /* extra headers, all signed (Content-MD5, Content-Type, ...) */
    size_t nheaders;
    const void *body;          /* borrowed; NULL/0 for none */
    size_t body_len;
    const char *payload_hash;  /* hex SHA-256 of body; NULL: computed here */
    int out_fd;                /* GET: write the body here; -1: keep it in `reply` */
    bool head;                 /* HEAD: no body expected */
    int max_attempts;          /* s3_request_perform: 0 = the client's */
    s3_tick_fn tick;           /* NULL, or called every ~S3_TICK_MS while the request blocks
                                * (transfer, backoff); -1 stops it with tick's error */
    void *tick_ud;
} s3_req_spec;

#define S3_TICK_MS 200 /* backoff sleeps are cut into slices this long */

typedef struct s3_request {
    CURL *easy;
    struct curl_slist *hlist;
    eq_buf url;
    eq_buf reply;              /* reply body (bounded), when out_fd < 0 */
    const s3_req_spec *spec;   /* borrowed, for the current attempt */
    size_t body_pos;           /* upload read position */
    int out_fd;
    bool write_failed;
    bool stopped;              /* the spec's tick stopped this attempt (stop_err says why) */
    eq_err stop_err;
    long status;
    char etag[128];
    char request_id[128];
    uint64_t content_length;
    char errbuf[CURL_ERROR_SIZE];
    void *owner;               /* free for the caller (the uploader's part) */
} s3_request;

void s3_request_init(s3_request *r);
void s3_request_cleanup(s3_request *r);

/* The Host of a request to the client's bucket, and the canonical URI of
 * `key` appended to `uri` (NULL or "": the bucket): path-style "/bucket/key"
 * or virtual-hosted "/key", each key byte URI-encoded once, '/' kept, the
 * path never normalised. Shared by signed requests and presigned links. */
int s3_request_target(const s3_client *c, const char *key, char *host, size_t hostsz, eq_buf *uri,
                      eq_err *err) EQ_MUST;

/* A copy of the client's current credentials for one signature: *held (on
 * the heap; give it to s3_creds_drop, which cleanses and frees it) and its
 * sigv4 view *view (pointing into *held). */
int s3_creds_take(s3_client *c, aws_creds **held, sigv4_creds *view, eq_err *err) EQ_MUST;
void s3_creds_drop(aws_creds *held);

/* Builds the easy handle for one attempt of `spec` (spec must outlive it). */
int s3_request_prepare(s3_client *c, s3_request *r, const s3_req_spec *spec, eq_err *err) EQ_MUST;

/* Classifies the outcome of an attempt that ended with `cc`. */
int s3_request_result(s3_request *r, CURLcode cc, eq_err *err) EQ_MUST;

/* Synchronous: prepare + perform + retry with backoff (spec->max_attempts,
 * else the client's), calling spec->tick while it blocks. */
int s3_request_perform(s3_client *c, s3_request *r, const s3_req_spec *spec, eq_err *err) EQ_MUST;

/* Is a failure worth retrying? cc: transport; status: HTTP (0 if none);
 * code: S3 error code ("" if none). Pure, for tests. */
bool s3_retryable(CURLcode cc, long status, const char *code);

/* Backoff before attempt `attempt` (2, 3, ...): full jitter over
 * min(max, base * 2^(attempt-2)) milliseconds. */
long s3_client_backoff_ms(s3_client *c, int attempt);
int s3_client_max_attempts(const s3_client *c);

/* SHA-256 (hex) and MD5 (base64) of a buffer in one call; -1 when OpenSSL fails. */
int s3_digest(const void *p, size_t n, char sha_hex[65], char md5_b64[25]) EQ_MUST;

#endif
