/* http_metrics.c - see http_metrics.h */
#include "http/http_metrics.h"

#include <string.h>

static const char *const outcome_names[HTTP_STREAM_NOUTCOMES] = {"ok", "error", "cancelled"};
static const char *const job_states[] = {"queued", "running", "succeeded", "failed", "cancelled", "expired"};

void http_metrics_init(http_metrics *m)
{
    for (size_t i = 0; i < HTTP_METRICS_STATUSES; i++) {
        atomic_init(&m->status_code[i], 0);
        atomic_init(&m->status_count[i], 0);
    }
    atomic_init(&m->streams_active, 0);
    atomic_init(&m->streams_rejected, 0);
    for (size_t i = 0; i < HTTP_STREAM_NOUTCOMES; i++) {
        atomic_init(&m->stream_exports[i], 0);
        atomic_init(&m->stream_bytes[i], 0);
    }
}

void http_metrics_request(http_metrics *m, int status)
{
    /* find the code's slot or claim a free one; codes beyond the table are
     * counted as 0 ("other") in the last slot */
    for (size_t i = 0; i < HTTP_METRICS_STATUSES - 1; i++) {
        int cur = atomic_load(&m->status_code[i]);
        if (cur == 0) {
            int expected = 0;
            if (atomic_compare_exchange_strong(&m->status_code[i], &expected, status) || expected == status) {
                atomic_fetch_add(&m->status_count[i], 1);
                return;
            }
            continue;
        }
        if (cur == status) {
            atomic_fetch_add(&m->status_count[i], 1);
            return;
        }
    }
    atomic_fetch_add(&m->status_count[HTTP_METRICS_STATUSES - 1], 1);
}

void http_metrics_stream_done(http_metrics *m, http_stream_outcome outcome, unsigned long long bytes)
{
    if ((int)outcome < 0 || outcome >= HTTP_STREAM_NOUTCOMES)
        outcome = HTTP_STREAM_ERROR;
    atomic_fetch_add(&m->stream_exports[outcome], 1);
    atomic_fetch_add(&m->stream_bytes[outcome], bytes);
}

const char *http_stream_outcome_name(http_stream_outcome o)
{
    return (int)o >= 0 && o < HTTP_STREAM_NOUTCOMES ? outcome_names[o] : "error";
}

static const queue_state_count *find_state(const queue_state_count *jobs, size_t n, const char *state)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(jobs[i].state, state) == 0)
            return &jobs[i];
    return NULL;
}

int http_metrics_render(http_metrics *m, const queue_state_count *jobs, size_t njobs, eq_buf *out, eq_err *err)
{
    size_t nstates = sizeof job_states / sizeof job_states[0];
#define P(...)                                                                                                 \
    do {                                                                                                       \
        if (eq_buf_printf(out, err, __VA_ARGS__) < 0)                                                          \
            return -1;                                                                                         \
    } while (0)

    P("# HELP exportq_jobs Export jobs in the queue by state.\n# TYPE exportq_jobs gauge\n");
    for (size_t i = 0; i < nstates; i++) {
        const queue_state_count *c = find_state(jobs, njobs, job_states[i]);
        P("exportq_jobs{state=\"%s\"} %lld\n", job_states[i], c ? c->jobs : 0);
    }
    P("# HELP exportq_job_bytes Bytes exported by the jobs in the queue, by state.\n"
      "# TYPE exportq_job_bytes gauge\n");
    for (size_t i = 0; i < nstates; i++) {
        const queue_state_count *c = find_state(jobs, njobs, job_states[i]);
        P("exportq_job_bytes{state=\"%s\"} %lld\n", job_states[i], c ? c->bytes : 0);
    }
    P("# HELP exportq_queue_up Whether the queue database answered this scrape.\n"
      "# TYPE exportq_queue_up gauge\nexportq_queue_up %d\n",
      jobs ? 1 : 0);
    P("# HELP exportq_stream_exports_total Streamed exports by outcome.\n"
      "# TYPE exportq_stream_exports_total counter\n");
    for (size_t i = 0; i < HTTP_STREAM_NOUTCOMES; i++)
        P("exportq_stream_exports_total{outcome=\"%s\"} %llu\n", outcome_names[i],
          (unsigned long long)atomic_load(&m->stream_exports[i]));
    P("# HELP exportq_stream_bytes_total Bytes sent by streamed exports, by outcome.\n"
      "# TYPE exportq_stream_bytes_total counter\n");
    for (size_t i = 0; i < HTTP_STREAM_NOUTCOMES; i++)
        P("exportq_stream_bytes_total{outcome=\"%s\"} %llu\n", outcome_names[i],
          (unsigned long long)atomic_load(&m->stream_bytes[i]));
    P("# HELP exportq_streams_active Streams being sent now.\n# TYPE exportq_streams_active gauge\n"
      "exportq_streams_active %d\n",
      atomic_load(&m->streams_active));
    P("# HELP exportq_streams_rejected_total Streams refused at the concurrency cap.\n"
      "# TYPE exportq_streams_rejected_total counter\nexportq_streams_rejected_total %llu\n",
      (unsigned long long)atomic_load(&m->streams_rejected));
    P("# HELP exportq_http_requests_total HTTP requests by status code.\n"
      "# TYPE exportq_http_requests_total counter\n");
    for (size_t i = 0; i < HTTP_METRICS_STATUSES; i++) {
        int code = atomic_load(&m->status_code[i]);
        unsigned long long n = atomic_load(&m->status_count[i]);
        if (i == HTTP_METRICS_STATUSES - 1 && n)
            P("exportq_http_requests_total{code=\"other\"} %llu\n", n);
        else if (code)
            P("exportq_http_requests_total{code=\"%d\"} %llu\n", code, n);
    }
#undef P
    return 0;
}
