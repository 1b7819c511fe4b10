/* job_parallel.h - one export job split into ranges that run on several source
 * connections at once and are stitched into one S3 object (DESIGN.md
 * "Parallel export"; export_split.h for the ranges, s3_upload.h "lanes" for
 * the stitching).
 *
 *   job_parallel_plan(cfg, coord, job, opts, &jp, &err);   // NULL jp: run serially
 *   s3_upload_new(...); s3_upload_set_memory(...);
 *   job_parallel_run(jp, up, tick, ud, &err);                 // every range into up
 *   s3_upload_finish(up, &err);
 *   job_parallel_free(jp);
 *
 * The plan runs the kind's split function in a snapshot exported by `coord`
 * (the job's source connection), which keeps that transaction open until
 * every range has started. Ranges run on up to min(EXPORTQ_EXPORT_PARALLEL,
 * what EXPORTQ_UPLOAD_MEMORY allows) connections of their own, in order;
 * range i uses the job's params || p_i with the owner bound after that; only
 * range 1 has the header and the BOM. xlsx, a kind without "split",
 * EXPORTQ_EXPORT_PARALLEL=1 and a split of zero or one range run serially.
 * gzip: each range is one gzip member; their concatenation is a valid gzip
 * file (RFC 1952 2.2) that every gunzip reads whole.
 *
 * Ownership: jp borrows cfg, coord, job and up (they outlive it); it owns the
 * range connections and closes them in job_parallel_free (accepts NULL), which
 * also ends the coordinating transaction.
 */
#ifndef EXPORTQ_WORKER_JOB_PARALLEL_H
#define EXPORTQ_WORKER_JOB_PARALLEL_H

#include <libpq-fe.h>
#include <stdint.h>

#include "common/config.h"
#include "common/error.h"
#include "export/export_kind.h"
#include "queue/queue.h"
#include "s3/s3_upload.h"

typedef struct job_parallel job_parallel;

/* The ranges, or *out NULL when the job runs serially. */
int job_parallel_plan(const eq_config *cfg, PGconn *coord, const queue_job *job, const export_options *opts,
                      job_parallel **out, eq_err *err) EQ_MUST;

/* The number of ranges (>= 2) and how many run at once. */
unsigned job_parallel_ranges(const job_parallel *jp);
unsigned job_parallel_active(const job_parallel *jp);

/* Runs every range into `up` (lanes set here). `tick` is the job's heartbeat
 * (called between turns and while a range waits for a part buffer); a tick
 * that fails stops the run with its error. */
int job_parallel_run(job_parallel *jp, s3_upload *up, int (*tick)(void *ud, eq_err *err), void *ud,
                     eq_err *err) EQ_MUST;

/* Progress over all ranges. */
uint64_t job_parallel_rows(const job_parallel *jp);
uint64_t job_parallel_bytes(const job_parallel *jp);

/* Asks the server to stop every running range's query. */
void job_parallel_cancel(job_parallel *jp);

void job_parallel_free(job_parallel *jp);

#endif
