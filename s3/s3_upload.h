/* s3_upload.h - one object's pipelined upload to S3, driven from the caller's
 * thread with libcurl's multi interface (no threads).
 *
 * The uploader owns a pool of at most max_in_flight + 1 part buffers,
 * allocated lazily (mmap, so a freed one leaves RSS at once) and sized to the
 * current part size, all of them together within the upload memory
 * (s3_upload_set_memory(), default S3_DEFAULT_UPLOAD_MEMORY). The part size
 * starts at first_part_size (>= 5 MiB) and doubles every 1,000 parts up to
 * half the upload memory (s3_upload_plan()); as parts grow, fewer buffers fit
 * and fewer parts are in flight, as aws-c-s3's memory limit does. Memory is
 * never a function of the data; the largest object is s3_upload_max_object()
 * (10,000 parts; about 148 GiB with 8 MiB first parts and 32 MiB), beyond it
 * the upload fails with EQ_ERR_LIMIT.
 *
 * Bytes given to s3_upload_write() are copied into the part being filled
 * (SHA-256 and MD5 updated as they arrive, so no second pass); a full part is
 * sent at once (UploadPart with signed SHA-256 and Content-MD5). The first
 * full part creates the multipart upload (CreateMultipartUpload, a short
 * synchronous call); an object smaller than one part becomes a single
 * PutObject in s3_upload_finish(). Every blocking wait (the parts in flight at
 * finish, Create, Complete, PutObject, their backoff sleeps) calls the tick
 * set with s3_upload_on_tick() every ~S3_TICK_MS; a tick that fails stops the
 * upload with its error. Failed parts are retried with backoff, the
 * buffer kept until the part succeeds; a final failure is sticky: every later
 * call fails with that error (then call s3_upload_abort()).
 *
 * The caller's loop (backpressure without blocking):
 *
 *     while (source has data) {
 *         if (!s3_upload_writable(up)) {          // all buffers in flight
 *             if (s3_upload_wait(up, -1, 0, 1000, &err) < 0) goto fail;
 *             continue;                           // stop reading the source
 *         }
 *         ... read a chunk (e.g. one COPY row) ...
 *         if (s3_upload_write(up, chunk, n, &err) < 0) goto fail;
 *     }
 *     if (s3_upload_finish(up, &err) < 0) goto fail;
 *
 * Instead of poll()ing its own socket, the caller may pass it as extra_fd to
 * s3_upload_wait(), which then returns 1 as soon as that fd is ready; call it
 * (with timeout 0 if need be) regularly so transfers and retries progress.
 *
 * Ownership: s3_upload_new() borrows the client (it must outlive the upload)
 * and copies key and content type. s3_upload_free() accepts NULL and frees
 * everything; it does NOT abort a created upload: call s3_upload_abort() on
 * failure (the worker may also record s3_upload_id() and abort later).
 */
#ifndef EXPORTQ_WORKER_S3_UPLOAD_H
#define EXPORTQ_WORKER_S3_UPLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "s3/s3_client.h"

typedef struct s3_upload s3_upload;

#define S3_MIN_PART_SIZE ((size_t)5 * 1024 * 1024)
#define S3_MAX_PART_SIZE ((size_t)5 * 1024 * 1024 * 1024)
#define S3_MAX_PARTS 10000
#define S3_PART_GROWTH_EVERY 1000 /* the part size doubles every this many parts */
#define S3_DEFAULT_UPLOAD_MEMORY ((size_t)32 * 1024 * 1024)

/* The plan for part `number` (1-based): its size, and how many part buffers
 * of that size fit in `memory` (at most max_in_flight + 1, at least 1).
 * Part sizes never shrink, are >= 5 MiB, and at most memory / 2. Pure. */
typedef struct s3_part_plan {
    size_t part_size;
    int buffers;
} s3_part_plan;
s3_part_plan s3_upload_plan(size_t first_part_size, size_t memory, int max_in_flight, unsigned number);

/* The largest object the plan can upload in S3_MAX_PARTS parts. Pure. */
uint64_t s3_upload_max_object(size_t first_part_size, size_t memory);

/* content_type NULL = "text/csv; charset=utf-8"; content_encoding NULL = none.
 * first_part_size >= S3_MIN_PART_SIZE; max_in_flight 1..64. */
int s3_upload_new(s3_client *client, const char *key, const char *content_type,
                  const char *content_encoding, size_t first_part_size, int max_in_flight,
                  s3_upload **out, eq_err *err) EQ_MUST;
void s3_upload_free(s3_upload *up);

/* The budget for every part buffer of this upload (>= 10 MiB); call before
 * the first write. */
int s3_upload_set_memory(s3_upload *up, size_t memory, eq_err *err) EQ_MUST;

/* The caller's heartbeat during blocking waits (see above); NULL for none. */
void s3_upload_on_tick(s3_upload *up, s3_tick_fn cb, void *ud);

/* True once Complete (or the single PutObject) was sent: the object may
 * exist even when s3_upload_finish() failed or was stopped. */
bool s3_upload_object_may_exist(const s3_upload *up);

/* True when s3_upload_write() may be called: a buffer is free or being
 * filled with at least one more buffer in reserve. When false, call
 * s3_upload_wait() until it turns true (and stop reading the source). */
bool s3_upload_writable(const s3_upload *up);

/* Copies `len` bytes into the current part; never blocks. When writable,
 * a write of up to s3_upload_part_size() bytes always succeeds; a larger one
 * may fail with EQ_ERR_LIMIT when it would need more buffers than are free
 * (split big writes). Starts transfers of parts that become full. */
int s3_upload_write(s3_upload *up, const void *data, size_t len, eq_err *err) EQ_MUST;

/* Drives the transfers for up to timeout_ms (0 = do what is ready and
 * return), starting due retries. extra_fd (or -1) is waited on too, for
 * extra_events (POLLIN/POLLOUT). Returns 1 when extra_fd is ready, 0 when not
 * (timeout or transfer progress), -1 on a final failure. */
int s3_upload_wait(s3_upload *up, int extra_fd, short extra_events, int timeout_ms, eq_err *err) EQ_MUST;

/* Sends the last part, waits for every part, completes the upload (or does a
 * single PutObject when everything fit in one part). Blocking, with the tick. */
int s3_upload_finish(s3_upload *up, eq_err *err) EQ_MUST;

/* Stops every transfer and sends AbortMultipartUpload (best effort, a short
 * retry) when an upload was created. Safe to call at any point, twice, or
 * after a failure. Returns 0 when nothing is left behind, -1 (err filled,
 * err may be NULL) when the abort itself failed. */
int s3_upload_abort(s3_upload *up, eq_err *err);

/* ---- parallel ranges ("lanes"): one object from several ordered streams ----
 *
 * An export split into k ranges writes each range into its own lane, all of
 * them at once, and the object is their concatenation in range order. Each
 * lane has its own block of S3_MAX_PARTS / k part numbers (S3 accepts gaps),
 * so lanes upload their parts independently. Every part but the last must be
 * >= 5 MiB: a range's first part (its head, 5 MiB) is HELD until the range
 * before it has ended; then the previous range's short last part (the carry,
 * < 5 MiB; it may span several small ranges) is put in front of it and the
 * result is sent under the head's number. The last carry is the object's last
 * part (or, when nothing else was sent, one PutObject).
 *
 * Memory: every lane's buffers (head, the part filling, its parts in flight,
 * its held last part) stay within upload memory / active lanes, and lane i may
 * open only while fewer than `active` lanes from the oldest unsettled one on
 * hold buffers: whatever k, all buffers stay within the upload memory.
 *
 *   s3_upload_set_lanes(up, k, active, &err);       // before any write
 *   s3_upload_lane_open(up, i, &err) when s3_upload_lane_can_open(up, i), in order
 *   s3_upload_lane_write(up, i, data, len, &n, &err)  // takes n <= len bytes; 0 = wait
 *   s3_upload_lane_close(up, i, &err)                // the range ended
 *   s3_upload_finish(up, &err)                       // every lane closed
 *
 * s3_upload_write() must not be used on an upload with lanes. */

/* The most lanes that fit in `memory` (each needs a head and a part: 2 x 5 MiB). */
unsigned s3_upload_max_lanes(size_t memory);
#define S3_MAX_LANES 1000 /* ranges of one upload at most (10 part numbers each) */
int s3_upload_set_lanes(s3_upload *up, unsigned nranges, unsigned active, eq_err *err) EQ_MUST;
bool s3_upload_lane_can_open(const s3_upload *up, unsigned i);
int s3_upload_lane_open(s3_upload *up, unsigned i, eq_err *err) EQ_MUST;
/* Copies up to `len` bytes into lane i without blocking; *taken says how many
 * (0 when every buffer the lane may use is full or in flight: wait). */
int s3_upload_lane_write(s3_upload *up, unsigned i, const void *data, size_t len, size_t *taken,
                         eq_err *err) EQ_MUST;
int s3_upload_lane_close(s3_upload *up, unsigned i, eq_err *err) EQ_MUST;

/* s3_upload_wait() for several descriptors (at most S3_WAIT_FDS_MAX): sets
 * each revents; returns how many are ready, or -1. */
#define S3_WAIT_FDS_MAX 32
struct pollfd;
int s3_upload_wait_fds(s3_upload *up, struct pollfd *fds, int nfds, int timeout_ms, eq_err *err) EQ_MUST;

/* The multipart upload id: NULL until CreateMultipartUpload succeeded (and
 * for an object sent as one PutObject). */
const char *s3_upload_id(const s3_upload *up);

/* Called once, from within s3_upload_write()/s3_upload_wait(), as soon as the
 * multipart upload exists, so the caller can record the id on the job. */
typedef void (*s3_upload_created_cb)(void *ud, const char *key, const char *upload_id);
void s3_upload_on_created(s3_upload *up, s3_upload_created_cb cb, void *ud);

/* The part size that the next part will have. */
size_t s3_upload_part_size(const s3_upload *up);

#define S3_LATENCY_BUCKETS 9
/* upper bounds of the latency buckets in ms; the last is +Inf */
extern const long S3_LATENCY_BOUNDS_MS[S3_LATENCY_BUCKETS - 1];

typedef struct s3_upload_stats {
    uint64_t bytes_written; /* given to s3_upload_write() */
    uint64_t bytes_sent;    /* in parts that S3 acknowledged */
    unsigned parts_done;    /* parts acknowledged */
    unsigned parts_started; /* parts cut (full or last) */
    unsigned retries;       /* requests retried (parts, create, complete) */
    unsigned in_flight;     /* parts on the wire or waiting for a retry */
    size_t buffer_bytes;    /* memory held by part buffers now */
    size_t buffer_bytes_max; /* the most they ever held together */
    /* latency of acknowledged UploadPart requests (the successful attempt):
     * part_latency[i] counts parts that took <= S3_LATENCY_BOUNDS_MS[i]
     * (the last bucket is +Inf); part_latency_ms_sum is their total */
    unsigned part_latency[S3_LATENCY_BUCKETS];
    uint64_t part_latency_ms_sum;
} s3_upload_stats;
void s3_upload_get_stats(const s3_upload *up, s3_upload_stats *out);

#endif
