/* worker.h - the `exportq worker` process.
 *
 * N job threads, each with its own queue and source connections and S3 client,
 * claim jobs (woken by NOTIFY exportq_jobs, polling as a fallback) and run them
 * with job_run(). One housekeeping thread rescues jobs whose lease expired,
 * sends pending mails (with their own retry schedule), and applies retention
 * (deletes expired objects). The main thread only waits for signals (they are
 * blocked in every thread and taken with sigtimedwait: no handler runs any
 * code), pings the systemd watchdog and joins the threads.
 *
 * SIGTERM/SIGINT once: stop claiming (STOPPING=1), let running jobs finish for
 * EXPORTQ_DRAIN_SECONDS, then release them to the queue. Twice: release now.
 */
#ifndef EXPORTQ_WORKER_WORKER_H
#define EXPORTQ_WORKER_WORKER_H

#include <stdbool.h>
#include "common/config.h"

typedef struct worker_opts {
    int concurrency; /* job threads, >= 1 */
    bool drain;      /* exit once nothing is ready (jobs and mails) */
} worker_opts;

/* Runs the worker until it is told to stop (or, with drain, until the queue
 * is empty). Returns the process exit status. */
int worker_main(const eq_config *cfg, const worker_opts *opts);

#endif
