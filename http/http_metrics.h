/* http_metrics.h - the API server's counters and their Prometheus text.
 *
 * One http_metrics per server, updated with atomics from MHD's threads:
 * requests by status code, active and rejected streams, streamed exports and
 * bytes by outcome. Job counts by state (and their bytes) come from the queue
 * database at scrape time and are passed to http_metrics_render().
 * Plain value; nothing to free.
 */
#ifndef EXPORTQ_HTTP_METRICS_H
#define EXPORTQ_HTTP_METRICS_H

#include <stdatomic.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/error.h"
#include "queue/queue.h"

typedef enum http_stream_outcome {
    HTTP_STREAM_OK = 0,    /* the whole CSV went out */
    HTTP_STREAM_ERROR,     /* the query or the server failed */
    HTTP_STREAM_CANCELLED, /* the client went away, or the server drained */
    HTTP_STREAM_NOUTCOMES
} http_stream_outcome;

#define HTTP_METRICS_STATUSES 16 /* distinct status codes counted */

typedef struct http_metrics {
    atomic_int status_code[HTTP_METRICS_STATUSES]; /* which code each slot counts (0 = free) */
    atomic_ullong status_count[HTTP_METRICS_STATUSES];
    atomic_int streams_active;
    atomic_ullong streams_rejected;
    atomic_ullong stream_exports[HTTP_STREAM_NOUTCOMES];
    atomic_ullong stream_bytes[HTTP_STREAM_NOUTCOMES];
} http_metrics;

void http_metrics_init(http_metrics *m);
void http_metrics_request(http_metrics *m, int status);
void http_metrics_stream_done(http_metrics *m, http_stream_outcome outcome, unsigned long long bytes);
const char *http_stream_outcome_name(http_stream_outcome o);

/* Appends the Prometheus text exposition (version 0.0.4) to out. `jobs` may be
 * NULL (njobs 0) when the queue could not be read; every known state is
 * written, 0 when absent. */
int http_metrics_render(http_metrics *m, const queue_state_count *jobs, size_t njobs, eq_buf *out,
                        eq_err *err) EQ_MUST;

#endif
