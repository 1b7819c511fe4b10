/* worker_metrics.c - see worker_metrics.h */
#include "worker/worker_metrics.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/listen.h"

#define EXPORT_SECONDS_BUCKETS 9
static const double export_seconds_bounds[EXPORT_SECONDS_BUCKETS - 1] = {1, 5, 15, 30, 60, 300, 900, 3600};
static const char *const outcome_names[WM_OUTCOMES] = {"succeeded", "failed", "cancelled", "lost", "released"};

static struct {
    pthread_mutex_t mu;
    uint64_t exports[WM_OUTCOMES];
    uint64_t rows, bytes;
    uint64_t export_seconds[EXPORT_SECONDS_BUCKETS];
    double export_seconds_sum;
    uint64_t parts, part_retries, part_bytes;
    uint64_t part_latency[S3_LATENCY_BUCKETS];
    uint64_t part_latency_ms_sum;
    uint64_t mails_sent, mails_failed, rescued;
    int64_t running;
} m = {.mu = PTHREAD_MUTEX_INITIALIZER};

void worker_metrics_export(worker_outcome_m outcome, uint64_t rows, uint64_t bytes, long long ms,
                           const s3_upload_stats *up)
{
    double s = (double)ms / 1000.0;
    int b = 0;
    while (b < EXPORT_SECONDS_BUCKETS - 1 && s > export_seconds_bounds[b])
        b++;
    pthread_mutex_lock(&m.mu);
    if (outcome < WM_OUTCOMES)
        m.exports[outcome]++;
    if (outcome == WM_SUCCEEDED) {
        m.rows += rows;
        m.bytes += bytes;
        m.export_seconds[b]++;
        m.export_seconds_sum += s;
    }
    if (up) {
        m.parts += up->parts_done;
        m.part_retries += up->retries;
        m.part_bytes += up->bytes_sent;
        for (int i = 0; i < S3_LATENCY_BUCKETS; i++)
            m.part_latency[i] += up->part_latency[i];
        m.part_latency_ms_sum += up->part_latency_ms_sum;
    }
    pthread_mutex_unlock(&m.mu);
}

void worker_metrics_mail(int sent)
{
    pthread_mutex_lock(&m.mu);
    if (sent)
        m.mails_sent++;
    else
        m.mails_failed++;
    pthread_mutex_unlock(&m.mu);
}

void worker_metrics_rescued(int n)
{
    pthread_mutex_lock(&m.mu);
    m.rescued += (uint64_t)n;
    pthread_mutex_unlock(&m.mu);
}

void worker_metrics_running(int delta)
{
    pthread_mutex_lock(&m.mu);
    m.running += delta;
    pthread_mutex_unlock(&m.mu);
}

#define P(...)                                                                                       \
    do {                                                                                             \
        if (eq_buf_printf(out, err, __VA_ARGS__) < 0)                                                \
            goto fail;                                                                               \
    } while (0)

int worker_metrics_render(eq_buf *out, eq_err *err)
{
    uint64_t cum = 0;
    pthread_mutex_lock(&m.mu);
    P("# HELP exportq_worker_exports_total Export attempts by outcome.\n"
      "# TYPE exportq_worker_exports_total counter\n");
    for (int i = 0; i < WM_OUTCOMES; i++)
        P("exportq_worker_exports_total{outcome=\"%s\"} %llu\n", outcome_names[i], (unsigned long long)m.exports[i]);
    P("# HELP exportq_worker_export_rows_total Rows of succeeded exports.\n"
      "# TYPE exportq_worker_export_rows_total counter\nexportq_worker_export_rows_total %llu\n"
      "# HELP exportq_worker_export_bytes_total Bytes of succeeded exports.\n"
      "# TYPE exportq_worker_export_bytes_total counter\nexportq_worker_export_bytes_total %llu\n",
      (unsigned long long)m.rows, (unsigned long long)m.bytes);
    P("# HELP exportq_worker_export_seconds Wall time of succeeded exports.\n"
      "# TYPE exportq_worker_export_seconds histogram\n");
    for (int i = 0; i < EXPORT_SECONDS_BUCKETS; i++) {
        cum += m.export_seconds[i];
        if (i < EXPORT_SECONDS_BUCKETS - 1)
            P("exportq_worker_export_seconds_bucket{le=\"%g\"} %llu\n", export_seconds_bounds[i],
              (unsigned long long)cum);
        else
            P("exportq_worker_export_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    }
    P("exportq_worker_export_seconds_sum %.3f\nexportq_worker_export_seconds_count %llu\n", m.export_seconds_sum,
      (unsigned long long)cum);
    P("# HELP exportq_worker_part_uploads_total Multipart parts acknowledged by S3.\n"
      "# TYPE exportq_worker_part_uploads_total counter\nexportq_worker_part_uploads_total %llu\n"
      "# HELP exportq_worker_part_retries_total S3 requests retried (parts, create, complete).\n"
      "# TYPE exportq_worker_part_retries_total counter\nexportq_worker_part_retries_total %llu\n"
      "# HELP exportq_worker_uploaded_bytes_total Bytes acknowledged by S3.\n"
      "# TYPE exportq_worker_uploaded_bytes_total counter\nexportq_worker_uploaded_bytes_total %llu\n",
      (unsigned long long)m.parts, (unsigned long long)m.part_retries, (unsigned long long)m.part_bytes);
    P("# HELP exportq_worker_part_upload_seconds Latency of successful UploadPart requests.\n"
      "# TYPE exportq_worker_part_upload_seconds histogram\n");
    cum = 0;
    for (int i = 0; i < S3_LATENCY_BUCKETS; i++) {
        cum += m.part_latency[i];
        if (i < S3_LATENCY_BUCKETS - 1)
            P("exportq_worker_part_upload_seconds_bucket{le=\"%g\"} %llu\n", S3_LATENCY_BOUNDS_MS[i] / 1000.0,
              (unsigned long long)cum);
        else
            P("exportq_worker_part_upload_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    }
    P("exportq_worker_part_upload_seconds_sum %.3f\nexportq_worker_part_upload_seconds_count %llu\n",
      (double)m.part_latency_ms_sum / 1000.0, (unsigned long long)cum);
    P("# HELP exportq_worker_mails_total Mail delivery attempts by outcome.\n"
      "# TYPE exportq_worker_mails_total counter\n"
      "exportq_worker_mails_total{outcome=\"sent\"} %llu\nexportq_worker_mails_total{outcome=\"failed\"} %llu\n"
      "# HELP exportq_worker_rescued_total Jobs returned to the queue after their lease expired.\n"
      "# TYPE exportq_worker_rescued_total counter\nexportq_worker_rescued_total %llu\n"
      "# HELP exportq_worker_running Exports running in this process.\n"
      "# TYPE exportq_worker_running gauge\nexportq_worker_running %lld\n",
      (unsigned long long)m.mails_sent, (unsigned long long)m.mails_failed, (unsigned long long)m.rescued,
      (long long)m.running);
    pthread_mutex_unlock(&m.mu);
    return 0;
fail:
    pthread_mutex_unlock(&m.mu);
    return -1;
}

struct worker_metrics_server {
    struct MHD_Daemon *d;
};

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **state)
{
    struct MHD_Response *r;
    enum MHD_Result ret;
    unsigned status = MHD_HTTP_OK;
    eq_buf body;
    eq_err err;
    eq_buf_init(&body, 64 * 1024);
    if (strcmp(method, "GET") != 0) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        if (eq_buf_puts(&body, "only GET\n", &err) < 0)
            status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    } else if (strcmp(url, "/metrics") == 0) {
        if (worker_metrics_render(&body, &err) < 0)
            status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    } else if (strcmp(url, "/healthz") == 0) {
        if (eq_buf_puts(&body, "ok\n", &err) < 0)
            status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    } else {
        status = MHD_HTTP_NOT_FOUND;
    }
    r = MHD_create_response_from_buffer(body.len, body.len ? body.data : (void *)"", MHD_RESPMEM_MUST_COPY);
    eq_buf_cleanup(&body);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

int worker_metrics_serve(const char *listen, worker_metrics_server **out, eq_err *err)
{
    struct sockaddr_storage sa;
    socklen_t salen;
    worker_metrics_server *s;

    *out = NULL;
    if (eq_listen_parse("EXPORTQ_METRICS_LISTEN", listen, &sa, &salen, err) < 0)
        return -1;
    if (!(s = calloc(1, sizeof *s)))
        return eq_fail(err, EQ_ERR_NOMEM, "out of memory");
    s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                                (sa.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0), 0, NULL, NULL, answer, NULL,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT, 16,
                            MHD_OPTION_CONNECTION_TIMEOUT, 10, MHD_OPTION_END);
    if (!s->d) {
        free(s);
        return eq_fail(err, EQ_ERR_IO, "EXPORTQ_METRICS_LISTEN: cannot listen on %s", listen);
    }
    *out = s;
    return 0;
}

void worker_metrics_stop(worker_metrics_server *s)
{
    if (!s)
        return;
    if (s->d)
        MHD_stop_daemon(s->d);
    free(s);
}
