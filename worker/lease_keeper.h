/* lease_keeper.h - renews a running job's lease from a thread of its own
 * while the job thread sits in one long blocking call that has no place to
 * heartbeat from: libxlsxwriter's workbook_close() zips the whole workbook in
 * one call (tens of seconds at a million rows), longer than a lease.
 *
 * The keeper has its own database connection (libpq connections are not
 * shared between threads) and records the progress the job thread last
 * published. What a heartbeat answers (cancelled, lease lost) is the job
 * thread's to act on at its next tick: the keeper only stops renewing.
 * The job (and the strings passed) must outlive lease_keeper_stop(). */
#ifndef EXPORTQ_WORKER_LEASE_KEEPER_H
#define EXPORTQ_WORKER_LEASE_KEEPER_H

#include "common/error.h"
#include "queue/queue.h"

typedef struct lease_keeper lease_keeper;

/* Starts the thread (it connects on its own, so the job thread never waits).
 * Returns 0, or -1 with err (out of memory, no thread). */
int lease_keeper_start(const char *database_url, const queue_job *job, int lease_seconds, const char *logctx,
                       lease_keeper **out, eq_err *err) EQ_MUST;

/* The progress the next renewal records. */
void lease_keeper_progress(lease_keeper *k, long long rows, long long bytes);

/* Stops and joins the thread, closes its connection, frees k (NULL is fine). */
void lease_keeper_stop(lease_keeper *k);

#endif
