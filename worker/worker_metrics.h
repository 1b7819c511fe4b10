/* worker_metrics.h - what one worker process has done, in Prometheus text format.
 *
 * Process-wide counters (one static instance, mutex-protected: updates happen
 * a few times per job, never per row). job_run() records each attempt's
 * outcome and its upload statistics; the housekeeper records mails and rescues.
 * worker_metrics_serve() exposes them on EXPORTQ_METRICS_LISTEN (GET /metrics,
 * GET /healthz) with libmicrohttpd; the returned handle is owned by the caller
 * and stopped with worker_metrics_stop().
 */
#ifndef EXPORTQ_WORKER_WORKER_METRICS_H
#define EXPORTQ_WORKER_WORKER_METRICS_H

#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "s3/s3_upload.h"

typedef enum worker_outcome_m {
    WM_SUCCEEDED = 0,
    WM_FAILED,
    WM_CANCELLED,
    WM_LOST,
    WM_RELEASED,
    WM_OUTCOMES
} worker_outcome_m;

/* One export attempt ended: outcome, rows, bytes, wall time, the uploader's stats (may be NULL). */
void worker_metrics_export(worker_outcome_m outcome, uint64_t rows, uint64_t bytes, long long ms,
                           const s3_upload_stats *up);
void worker_metrics_mail(int sent); /* 1 sent, 0 failed attempt */
void worker_metrics_rescued(int n);
void worker_metrics_running(int delta); /* exports running now */

/* Appends the Prometheus text exposition of every metric to out. */
int worker_metrics_render(eq_buf *out, eq_err *err) EQ_MUST;

typedef struct worker_metrics_server worker_metrics_server;
/* listen: "host:port". */
int worker_metrics_serve(const char *listen, worker_metrics_server **out, eq_err *err) EQ_MUST;
void worker_metrics_stop(worker_metrics_server *s);

#endif
