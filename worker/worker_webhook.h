/* worker_webhook.h - the worker's webhook delivery loop (DESIGN.md
 * "Notifications").
 *
 * One thread per worker process, with its own queue connection and S3 client
 * (for download_url), so a slow or dead receiver never delays exports or
 * mail. It claims due events (exportq.webhooks, SKIP LOCKED, leased longer
 * than one attempt can take: many workers never send one event at the same
 * time), POSTs each signed (webhook/webhook.h) to the kind's webhook_url or
 * EXPORTQ_WEBHOOK_URL, and records the outcome for that attempt only: a 2xx
 * is delivered; anything else is retried with backoff and jitter for up to
 * 24 h with the same event id; a URL refused before any connection (or no
 * EXPORTQ_WEBHOOK_SECRET to sign with) fails at once. Without
 * EXPORTQ_WEBHOOK_URL, events that have no URL of their own are marked
 * skipped.
 *
 * The body: {"id","type","created","data"} where data is the job as the
 * HTTP API shows it (queue_status_json) as it was at the event, plus
 * download_url (presigned at each attempt) for a succeeded job whose object
 * is still there.
 */
#ifndef EXPORTQ_WORKER_WORKER_WEBHOOK_H
#define EXPORTQ_WORKER_WORKER_WEBHOOK_H

#include <jansson.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "common/config.h"
#include "queue/queue.h"
#include "s3/s3_client.h"
#include "s3/s3_presign.h"

typedef struct worker_webhooks {
    const eq_config *cfg;
    atomic_int *stop;            /* JOB_RUN / JOB_DRAIN / JOB_STOP_NOW (job_run.h) */
    atomic_int *threads_alive;   /* the worker's threads still looping, this one included */
    bool drain;                  /* --drain: return once the other threads are done and no event is due */
} worker_webhooks;

/* The delivery loop: returns when told to stop now, or (draining, or with
 * drain) once the other threads (jobs, housekeeping: they make events) are
 * done and no event is due. */
void worker_webhooks_run(const worker_webhooks *ww);

/* The event's data: the job as the API shows it, with download_url (s3 may be
 * NULL: none). A new reference (json_decref), NULL when out of memory. */
json_t *worker_webhook_data(const queue_webhook *ev, s3_client *s3, eq_err *err);

#endif
