/* s3_client.h - the S3 client: credentials, endpoint, addressing, and the
 * synchronous operations (PutObject, GetObject, HeadObject, DeleteObject,
 * AbortMultipartUpload, ListMultipartUploads); presigned links are s3_presign.h's.
 *
 * Every request is signed with SigV4 (s3/sigv4.h) by this code, never by
 * libcurl's CURLOPT_AWS_SIGV4. Retryable failures (timeouts, connection errors,
 * 5xx, 429, SlowDown, a 200 whose body is an <Error>) are retried with
 * exponential backoff and full jitter; other 4xx fail at once. Errors name the
 * operation, the key, the HTTP status, the S3 error code and the request id;
 * they never contain the secret key, the signature or a presigned query.
 *
 * Ownership: s3_client_new() copies what it needs from the config (the config
 * may be freed afterwards); s3_client_free() releases it and accepts NULL.
 * A client is thread-compatible, not thread-safe: use one per thread.
 * Multipart uploads of one object are driven by s3/s3_upload.h.
 */
#ifndef EXPORTQ_WORKER_S3_CLIENT_H
#define EXPORTQ_WORKER_S3_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/config.h"
#include "common/error.h"

typedef struct s3_client s3_client;

/* Needs cfg->s3_endpoint, s3_region and s3_bucket (s3_path_style and
 * s3_ca_file honoured). Credentials: the static keys of cfg, else the chain
 * of s3/aws_creds.h, shared by every client of the process and refreshed in
 * the background (temporary credentials sign with X-Amz-Security-Token). */
int s3_client_new(const eq_config *cfg, s3_client **out, eq_err *err) EQ_MUST;
void s3_client_free(s3_client *c);

/* Retry policy (defaults: 6 attempts, 200 ms base, 10 s cap) and timeouts
 * (defaults: connect 10 s; a transfer that moves no byte for 60 s is a timeout).
 * For tests and tuning; values <= 0 keep the current setting. */
void s3_client_set_retry(s3_client *c, int max_attempts, int base_delay_ms, int max_delay_ms);
void s3_client_set_timeouts(s3_client *c, int connect_ms, int stall_seconds);

/* A caller's heartbeat, run while an S3 call blocks (s3_upload_on_tick):
 * return 0 to go on, or -1 with err filled to stop the call with that error
 * (cancelled, lease lost, shutting down). */
typedef int (*s3_tick_fn)(void *ud, eq_err *err);

/* The tick every synchronous call of this client runs while it blocks
 * (listing, abort, head, ...; an upload has its own, s3_upload_on_tick).
 * NULL: none (the default). A client is used by one thread at a time. */
void s3_client_set_tick(s3_client *c, s3_tick_fn tick, void *ud);

/* Object metadata for PutObject and multipart uploads. content_type NULL means
 * "text/csv; charset=utf-8"; content_encoding NULL means none ("gzip" for
 * gzipped exports). */
typedef struct s3_object_meta {
    const char *content_type;
    const char *content_encoding;
} s3_object_meta;

/* PutObject of a body held in memory (Content-MD5 and signed SHA-256). */
int s3_put_object(s3_client *c, const char *key, const void *body, size_t len,
                  const s3_object_meta *meta, eq_err *err) EQ_MUST;

/* GetObject, writing the body to `fd` (tests, tools). On a retry the fd is
 * rewound and truncated when it is a regular file. */
int s3_get_object_to_fd(s3_client *c, const char *key, int fd, eq_err *err) EQ_MUST;

/* HeadObject: fills *size (may be NULL) and etag (may be NULL; etagsz bytes,
 * quotes removed). A missing object fails with EQ_ERR_NOT_FOUND. */
int s3_head_object(s3_client *c, const char *key, uint64_t *size, char *etag, size_t etagsz,
                   eq_err *err) EQ_MUST;

/* DeleteObject; deleting a missing object succeeds (as in S3). */
int s3_delete_object(s3_client *c, const char *key, eq_err *err) EQ_MUST;

/* AbortMultipartUpload; an unknown upload (already aborted or completed)
 * fails with EQ_ERR_NOT_FOUND so callers can tell it apart. */
int s3_abort_upload(s3_client *c, const char *key, const char *upload_id, eq_err *err) EQ_MUST;

/* ListMultipartUploads under `prefix` (may be NULL): calls `cb` once per
 * in-progress upload; follows pagination. */
typedef void (*s3_upload_cb)(void *ud, const char *key, const char *upload_id);
int s3_list_uploads(s3_client *c, const char *prefix, s3_upload_cb cb, void *ud, eq_err *err) EQ_MUST;

#endif
