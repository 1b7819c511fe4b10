/* s3_upload_int.h - the inside of s3_upload, shared by s3_upload.c (one
 * ordered stream of parts) and s3_upload_lanes.c (parallel ranges stitched into
 * the same multipart upload). Not for use outside s3/.
 */
#ifndef EXPORTQ_S3_UPLOAD_INT_H
#define EXPORTQ_S3_UPLOAD_INT_H

#include <curl/curl.h>
#include <openssl/evp.h>

#include "s3/s3_request.h"
#include "s3/s3_upload.h"

#define DEFAULT_CONTENT_TYPE "text/csv; charset=utf-8"
#define S3_ABORT_ATTEMPTS 3
#define ETAG_MAX 48

/* HELD: a lane's part whose neighbours are not known yet (a range's first
 * part until the previous range ended, a range's short last part, the carry). */
typedef enum part_state { PART_FREE = 0, PART_FILLING, PART_READY, PART_SENDING, PART_BACKOFF, PART_HELD } part_state;

typedef struct part {
    part_state state;
    unsigned number;     /* 1-based S3 part number */
    unsigned char *data; /* cap bytes, grown lazily to the part size */
    size_t len, cap, target;
    EVP_MD_CTX *sha, *md5;
    char sha_hex[65];
    char md5_b64[25];
    char md5_hex[33];
    int attempts;
    long long retry_at_ms;
    char number_str[16];
    sigv4_kv query[2];
    sigv4_kv headers[1];
    s3_req_spec spec;
    s3_request req;
    bool on_multi;
    int lane; /* the range it belongs to; -1 without lanes */
} part;

struct s3_upload {
    s3_client *client; /* borrowed */
    char *key, *content_type, *content_encoding;
    size_t first_part_size;
    size_t memory; /* every part buffer together stays within this */
    int max_in_flight;
    int npool;
    part *pool;
    part *filling;
    CURLM *multi;
    char upload_id[512];
    bool created, failed, finished, aborted, single_put;
    bool completing; /* Complete (or the single PutObject) was sent: the object may exist */
    eq_err failure;
    char (*etags)[ETAG_MAX];
    unsigned etags_cap;
    unsigned next_number; /* number of the next part to cut */
    unsigned sending;
    s3_upload_created_cb on_created;
    void *on_created_ud;
    s3_tick_fn tick;
    void *tick_ud;
    s3_upload_stats stats;
    char ctx[160]; /* log context */
    struct s3_lanes *lanes; /* parallel ranges (s3_upload_lanes.c); NULL for one stream */
};

/* shared between s3_upload.c and s3_upload_lanes.c */
int s3u_fail_sticky(s3_upload *up, const eq_err *e, eq_err *err);
void s3u_buffer_release(part *p);
int s3u_buffer_get(part *p, size_t size);
void s3u_note_buffers(s3_upload *up);
int s3u_part_begin(s3_upload *up, part *p, unsigned number, size_t target, eq_err *err) EQ_MUST;
int s3u_digest_restart(part *p, eq_err *err) EQ_MUST;
/* Adds n bytes to the part's SHA-256 and MD5. */
int s3u_digest_add(part *p, const void *d, size_t n, eq_err *err) EQ_MUST;
/* Appends to the FILLING part p as much of d[len] as fits before its target
 * (*taken bytes): copied, added to its digests and to the upload's
 * bytes_written. The one append of both the ordered stream and the lanes. */
int s3u_part_append(s3_upload *up, part *p, const void *d, size_t len, size_t *taken, eq_err *err) EQ_MUST;
int s3u_seal(s3_upload *up, part *p, eq_err *err) EQ_MUST;
int s3u_pump(s3_upload *up, eq_err *err) EQ_MUST;
int s3u_put_single(s3_upload *up, part *p, eq_err *err) EQ_MUST;
bool s3u_busy(const s3_upload *up);
/* lanes: see s3_upload_lanes.c */
int s3u_lanes_finish(s3_upload *up, bool *single_put, eq_err *err) EQ_MUST;
void s3u_lanes_free(s3_upload *up);

#endif
