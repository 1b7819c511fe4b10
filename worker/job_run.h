/* job_run.h - runs ONE claimed export job, start to finish, on the calling thread.
 *
 * COPY on the source database -> export_filter (BOM, formula guard, gzip) ->
 * s3_upload (parts in flight while the next fills) -> CompleteMultipartUpload
 * -> queue_complete. About once a second it heartbeats (renews the lease,
 * records rows and bytes) and learns of a cancel or a lost lease; it stops the
 * query and aborts the upload within seconds. Before it starts it aborts any
 * multipart upload a dead attempt left under the job's key folder.
 *
 * Ownership: the context's connections and S3 client are borrowed from the
 * worker thread; job_run() never frees them. *sconn may be replaced (reconnect)
 * when the source connection was broken.
 */
#ifndef EXPORTQ_WORKER_JOB_RUN_H
#define EXPORTQ_WORKER_JOB_RUN_H

#include <libpq-fe.h>
#include <stdatomic.h>

#include "common/config.h"
#include "common/error.h"
#include "queue/queue.h"
#include "s3/s3_client.h"

/* Same order as worker_metrics.h's worker_outcome_m. */
typedef enum job_outcome {
    JOB_SUCCEEDED = 0, /* object complete, job recorded succeeded */
    JOB_FAILED,        /* attempt failed: err says why; recorded with queue_fail */
    JOB_CANCELLED,     /* the user cancelled: query stopped, upload aborted */
    JOB_LOST,          /* the lease was lost (rescued elsewhere): stopped, nothing recorded */
    JOB_RELEASED,      /* shutdown: upload aborted, job back in the queue */
} job_outcome;

/* Shutdown levels read by the running job (set by the worker's signal loop). */
enum { JOB_RUN = 0, JOB_DRAIN = 1, JOB_STOP_NOW = 2 };

typedef struct job_run_ctx {
    const eq_config *cfg;
    PGconn *qconn;              /* queue database: heartbeat, complete */
    PGconn **sconn;             /* source database: COPY (may be reconnected) */
    s3_client *s3;
    atomic_int *stop; /* JOB_RUN / JOB_DRAIN / JOB_STOP_NOW; JOB_STOP_NOW past the drain deadline */
} job_run_ctx;

/* Runs the job and records its outcome in the queue (complete, fail, release).
 * Returns the outcome; `err` holds the reason for JOB_FAILED. */
job_outcome job_run(job_run_ctx *ctx, queue_job *job, eq_err *err);

/* Aborts every multipart upload in progress under the key folder `dir` (see
 * object_key_dir()): what a dead or cancelled attempt left behind, including
 * an upload created just before a crash, before its id could be recorded. */
int job_abort_uploads(s3_client *s3, const char *dir, const char *logctx, eq_err *err) EQ_MUST;

#endif
