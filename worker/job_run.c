/* job_run.c - one export job: COPY -> filters -> pipelined S3 upload; see job_run.h */
#include "worker/job_run.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log_ctx.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/pg.h"
#include "export/export.h"
#include "common/link.h"
#include "export/export_estimate.h"
#include "export/export_kind.h"
#include "export/object_key.h"
#include "queue/queue_object.h"
#include "s3/s3_presign.h"
#include "s3/s3_upload.h"
#include "worker/job_parallel.h"
#include "worker/lease_keeper.h"
#include "worker/worker_metrics.h"

#define HEARTBEAT_MS 1000        /* progress is recorded at most once a second */
#define SINK_SLICE (1024 * 1024) /* largest single write into the uploader */
#define ROWS_PER_TURN 512        /* rows read before looking at the clock again */
#define MAX_LEFTOVER_UPLOADS 32

typedef enum stop_why { WHY_NONE = 0, WHY_CANCEL, WHY_LOST, WHY_RELEASE } stop_why;

typedef struct run_state {
    job_run_ctx *ctx;
    queue_job *job;
    char logctx[EQ_LOGCTX_MAX];
    export_stream *x;
    job_parallel *par; /* the ranges of a parallel export; NULL = serial (x) */
    lease_keeper *keeper; /* xlsx: renews the lease while the workbook is zipped */
    s3_upload *up;
    long long next_hb_ms;
    long long last_hb_ok_ms;
    stop_why why;
    bool upload_recorded;
} run_state;

static uint64_t rows_so_far(const run_state *rs)
{
    return rs->par ? job_parallel_rows(rs->par) : export_rows(rs->x);
}

static uint64_t bytes_so_far(const run_state *rs)
{
    return rs->par ? job_parallel_bytes(rs->par) : export_bytes_out(rs->x);
}

/* Heartbeat, progress and stop requests; called often, acts at most once a
 * second. Returns -1 (rs->why says why) when the job must stop now. */
static int tick(run_state *rs, eq_err *err)
{
    job_run_ctx *ctx = rs->ctx;
    long long now = eq_now_ms();
    eq_err hb;

    /* the drain deadline is the main thread's: past it, stop is JOB_STOP_NOW */
    if (atomic_load(ctx->stop) >= JOB_STOP_NOW) {
        rs->why = WHY_RELEASE;
        return eq_fail(err, EQ_ERR_CANCELLED, "worker shutting down: job released");
    }
    if (now < rs->next_hb_ms)
        return 0;
    rs->next_hb_ms = now + HEARTBEAT_MS;
    if (PQstatus(ctx->qconn) != CONNECTION_OK)
        PQreset(ctx->qconn);
    if (queue_heartbeat(ctx->qconn, rs->job, ctx->cfg->lease_seconds, (long long)rows_so_far(rs),
                        (long long)bytes_so_far(rs), &hb) == 0) {
        bool notified;
        rs->last_hb_ok_ms = now;
        lease_keeper_progress(rs->keeper, (long long)rows_so_far(rs), (long long)bytes_so_far(rs));
        /* The connection LISTENs for the idle loop: every NOTIFY of every
         * enqueue lands in libpq's list with each result. Drop them here, or
         * a busy worker's memory grows with the traffic of the whole system. */
        if (queue_wait(ctx->qconn, 0, &notified, &hb) < 0)
            eq_debug(rs->logctx, "draining notifications: %s", hb.msg);
        return 0;
    }
    if (hb.code == EQ_ERR_CANCELLED) {
        rs->why = WHY_CANCEL;
        return eq_fail(err, EQ_ERR_CANCELLED, "cancelled by the user");
    }
    if (hb.code == EQ_ERR_CONFLICT) {
        rs->why = WHY_LOST;
        return eq_fail(err, EQ_ERR_CONFLICT, "lease lost: %s", hb.msg);
    }
    /* The queue database is unreachable: keep exporting while the lease may
     * still be ours, then stop (another worker will have rescued the job). */
    eq_warn(rs->logctx, "heartbeat failed: %s", hb.msg);
    if (now - rs->last_hb_ok_ms >= (long long)ctx->cfg->lease_seconds * 1000) {
        rs->why = WHY_LOST;
        return eq_fail(err, EQ_ERR_CONFLICT, "no heartbeat for a whole lease: %s", hb.msg);
    }
    return 0;
}

/* The uploader's heartbeat during its blocking waits (Create, Complete,
 * PutObject, backoff, the parts in flight at finish). */
static int upload_tick(void *ud, eq_err *err)
{
    return tick(ud, err);
}

/* The object may become (or be) readable without this attempt recording the
 * job succeeded: record it, so that a housekeeper deletes it unless the job
 * ends succeeded with it. */
static void record_written(run_state *rs, const char *key)
{
    eq_err e;
    if (queue_object_written(rs->ctx->qconn, rs->job->id, key, &e) < 0)
        eq_warn(rs->logctx, "could not record the object about to be written: %s", e.msg);
}

/* The multipart upload exists: record its id so that a rescuer can abort it. */
static void on_upload_created(void *ud, const char *key, const char *upload_id)
{
    run_state *rs = ud;
    eq_err e;
    if (queue_set_upload(rs->ctx->qconn, rs->job, upload_id, &e) < 0)
        eq_warn(rs->logctx, "could not record upload id: %s", e.msg);
    else
        rs->upload_recorded = true;
    eq_debug(rs->logctx, "multipart upload created");
}

/* The filter chain's sink: bytes go into the uploader, in slices, waiting for
 * a free part buffer when every one is in flight (backpressure). */
static int upload_sink(void *ud, const void *data, size_t len, eq_err *err)
{
    run_state *rs = ud;
    const char *p = data;
    while (len) {
        size_t n = len < SINK_SLICE ? len : SINK_SLICE;
        while (!s3_upload_writable(rs->up)) {
            if (s3_upload_wait(rs->up, -1, 0, 250, err) < 0 || tick(rs, err) < 0)
                return -1;
        }
        if (s3_upload_write(rs->up, p, n, err) < 0)
            return -1;
        p += n;
        len -= n;
    }
    return 0;
}

typedef struct leftovers {
    int n;
    char *ids[MAX_LEFTOVER_UPLOADS];
    char *keys[MAX_LEFTOVER_UPLOADS];
} leftovers;

static void collect_upload(void *ud, const char *key, const char *upload_id)
{
    leftovers *l = ud;
    if (l->n < MAX_LEFTOVER_UPLOADS) {
        l->keys[l->n] = strdup(key);
        l->ids[l->n] = strdup(upload_id);
        l->n++;
    }
}

int job_abort_uploads(s3_client *s3, const char *dir, const char *logctx, eq_err *err)
{
    leftovers l = {0};
    int rc = 0;
    if (s3_list_uploads(s3, dir, collect_upload, &l, err) < 0)
        rc = eq_err_context(err, "listing leftover uploads");
    for (int i = 0; i < l.n; i++) {
        if (rc == 0 && l.keys[i] && l.ids[i]) {
            if (s3_abort_upload(s3, l.keys[i], l.ids[i], err) < 0)
                rc = eq_err_context(err, "aborting a dead attempt's upload");
            else
                eq_info(logctx, "aborted a multipart upload left by an earlier attempt");
        }
        free(l.keys[i]);
        free(l.ids[i]);
    }
    return rc;
}

static int ensure_source(job_run_ctx *ctx, eq_err *err)
{
    if (*ctx->sconn && PQstatus(*ctx->sconn) == CONNECTION_OK)
        return 0;
    if (*ctx->sconn) {
        PQfinish(*ctx->sconn);
        *ctx->sconn = NULL;
    }
    return eq_pg_connect(ctx->cfg->source_database_url, "export", ctx->sconn, err);
}

/* Progress for status: the planner's estimate of the rows (best effort). */
static void record_estimate(run_state *rs)
{
    long long rows = -1;
    eq_err e;
    if (export_estimate_rows(*rs->ctx->sconn, rs->job->function, rs->job->params, rs->job->owner, &rows, &e) < 0 ||
        queue_set_estimate(rs->ctx->qconn, rs->job, rows, &e) < 0)
        eq_debug(rs->logctx, "no row estimate: %s", e.msg);
}

/* The export proper. Returns 0 when the object is complete. */
static int export_to_s3(run_state *rs, const char *key, const export_options *opts, eq_err *err)
{
    job_run_ctx *ctx = rs->ctx;
    export_spec spec = {.function = rs->job->function,
                        .options = *opts,
                        .params_json = rs->job->params,
                        .owner = rs->job->owner,
                        .tmpdir = ctx->cfg->tmpdir};
    const char *ctype = opts->gzip && export_format_has_gzip(opts->format) ? "application/gzip"
                        : opts->format == EXPORT_FORMAT_CSV             ? NULL /* text/csv; charset=utf-8 */
                                                                        : export_format_mime(opts->format);

    if (ensure_source(ctx, err) < 0)
        return -1;
    spec.conn = *ctx->sconn;
    record_estimate(rs);
    if (job_parallel_plan(ctx->cfg, *ctx->sconn, rs->job, opts, &rs->par, err) < 0)
        return -1;
    if (s3_upload_new(ctx->s3, key, ctype, NULL, (size_t)ctx->cfg->part_size, ctx->cfg->upload_concurrency, &rs->up,
                      err) < 0)
        return -1;
    if (s3_upload_set_memory(rs->up, (size_t)ctx->cfg->upload_memory, err) < 0)
        return -1;
    s3_upload_on_created(rs->up, on_upload_created, rs);
    s3_upload_on_tick(rs->up, upload_tick, rs);
    if (rs->par) {
        if (job_parallel_run(rs->par, rs->up, upload_tick, rs, err) < 0)
            return -1;
        goto finish;
    }
    if (export_open(&spec, upload_sink, rs, &rs->x, err) < 0)
        return -1;
    /* xlsx: the last export_next() zips the workbook in one blocking call */
    if (opts->format == EXPORT_FORMAT_XLSX &&
        lease_keeper_start(ctx->cfg->database_url, rs->job, ctx->cfg->lease_seconds, rs->logctx, &rs->keeper, err) < 0)
        return -1;

    for (;;) {
        int r = EXPORT_WOULD_BLOCK;
        if (tick(rs, err) < 0)
            return -1;
        if (!s3_upload_writable(rs->up)) {
            /* every part buffer is in flight: stop reading, PostgreSQL waits */
            if (s3_upload_wait(rs->up, -1, 0, 250, err) < 0)
                return -1;
            continue;
        }
        for (int i = 0; i < ROWS_PER_TURN; i++) {
            r = export_next(rs->x, err);
            if (r < 0)
                return -1;
            if (r != EXPORT_READY || !s3_upload_writable(rs->up))
                break;
        }
        if (r == EXPORT_DONE)
            break;
        if (r == EXPORT_WOULD_BLOCK &&
            s3_upload_wait(rs->up, export_socket(rs->x), export_events(rs->x), 250, err) < 0)
            return -1;
    }
finish:
    lease_keeper_stop(rs->keeper); /* the workbook is zipped and uploaded: ticks renew again */
    rs->keeper = NULL;
    if (tick(rs, err) < 0)
        return -1;
    record_written(rs, key);
    if (s3_upload_finish(rs->up, err) < 0)
        return -1;
    {
        char warning[QUEUE_ERROR_MAX];
        eq_err w;
        export_warning(rs->x, warning, sizeof warning); /* xlsx only: never parallel */
        if (warning[0]) {
            eq_warn(rs->logctx, "%s", warning);
            if (queue_set_warning(ctx->qconn, rs->job, warning, &w) < 0)
                eq_warn(rs->logctx, "could not record the warning: %s", w.msg);
        }
    }
    return 0;
}

static job_outcome record_failure(run_state *rs, eq_err *err)
{
    job_run_ctx *ctx = rs->ctx;
    eq_err e;
    bool requeued = false;
    if (queue_fail(ctx->qconn, rs->job, err->msg, err->retryable, ctx->cfg->max_attempts, &requeued, &e) < 0) {
        if (e.code == EQ_ERR_CANCELLED)
            return JOB_CANCELLED;
        if (e.code == EQ_ERR_CONFLICT)
            return JOB_LOST;
        /* the lease will expire and rescue will count the attempt */
        eq_error(rs->logctx, "could not record the failure: %s", e.msg);
    }
    eq_warn(rs->logctx, "attempt failed (%s): %s", requeued ? "will retry" : "final", err->msg);
    return JOB_FAILED;
}

job_outcome job_run(job_run_ctx *ctx, queue_job *job, eq_err *err)
{
    run_state rs;
    export_kind kind;
    char key[OBJECT_KEY_MAX + 1], dir[OBJECT_KEY_MAX + 1], fname[EXPORT_KIND_FILENAME_MAX + 8];
    job_outcome out = JOB_FAILED;
    long long t0 = eq_now_ms();
    eq_err e;
    int frc, arc;

    memset(&rs, 0, sizeof rs);
    rs.ctx = ctx;
    rs.job = job;
    rs.last_hb_ok_ms = t0;
    rs.next_hb_ms = t0 + HEARTBEAT_MS;
    eq_logctx_format(&(eq_logctx){.job = job->id,
                                  .attempt = job->attempt,
                                  .owner = job->owner,
                                  .kind = job->kind,
                                  .format = job->format[0] ? job->format : "csv"},
                     rs.logctx, sizeof rs.logctx);
    eq_err_clear(err);

    memset(&kind, 0, sizeof kind);
    snprintf(kind.name, sizeof kind.name, "%s", job->kind);
    snprintf(kind.filename, sizeof kind.filename, "%s", job->filename);
    frc = export_options_parse(job->options, &kind.options, err);
    if (frc == 0) { /* the job's format, resolved at enqueue; none: enqueued before formats = csv */
        kind.options.format = EXPORT_FORMAT_CSV;
        if (job->format[0])
            frc = export_format_parse(job->format, &kind.options.format, err);
    }
    if (frc < 0 || export_kind_filename(&kind, fname, sizeof fname, err) < 0 ||
        object_key_build(ctx->cfg->s3_prefix, job->owner, job->id, job->object_token, fname, key, sizeof key, err) < 0 ||
        object_key_dir(ctx->cfg->s3_prefix, job->owner, job->id, job->object_token, dir, sizeof dir, err) < 0) {
        err->retryable = false;
        return record_failure(&rs, err);
    }
    if (!job->function[0]) {
        eq_fail(err, EQ_ERR_INVALID, "the function of kind '%s' no longer exists (drop or define the kind again)",
                job->kind);
        return record_failure(&rs, err);
    }
    eq_info(rs.logctx, "export started");
    /* the leftover listing and aborts heartbeat too: a stalled S3 must not
     * cost the lease before the export even starts */
    s3_client_set_tick(ctx->s3, upload_tick, &rs);
    arc = job_abort_uploads(ctx->s3, dir, rs.logctx, err);
    s3_client_set_tick(ctx->s3, NULL, NULL);
    if (arc < 0 || export_to_s3(&rs, key, &kind.options, err) < 0) {
        /* stop the query at once: the backend must not keep streaming */
        if (rs.x)
            (void)export_cancel(rs.x);
        job_parallel_cancel(rs.par);
        if (rs.up && s3_upload_abort(rs.up, &e) < 0)
            eq_warn(rs.logctx, "abort of the multipart upload failed (the clean-up will retry): %s", e.msg);
        switch (rs.why) {
        case WHY_CANCEL:
            eq_info(rs.logctx, "cancelled: query stopped, upload aborted");
            out = JOB_CANCELLED;
            break;
        case WHY_LOST:
            eq_warn(rs.logctx, "stopped: %s", err->msg);
            /* a housekeeper may have settled the record meanwhile: again */
            if (rs.up && s3_upload_object_may_exist(rs.up))
                record_written(&rs, key);
            out = JOB_LOST;
            break;
        case WHY_RELEASE:
            if (queue_release(ctx->qconn, job, &e) < 0)
                eq_warn(rs.logctx, "release failed (the lease will expire): %s", e.msg);
            else
                eq_info(rs.logctx, "released back to the queue (shutdown)");
            out = JOB_RELEASED;
            break;
        case WHY_NONE:
            out = record_failure(&rs, err);
            break;
        }
        goto cleanup;
    }

    {
        long long rows = (long long)rows_so_far(&rs);
        long long bytes = (long long)bytes_so_far(&rs);
        /* link_expires_at: a presigned link cannot outlive temporary
         * credentials; a stable link (common/link.h) presigns when clicked,
         * so it lives EXPORTQ_LINK_TTL whatever the credentials */
        long link_ttl = link_configured(ctx->cfg) ? ctx->cfg->link_ttl : s3_client_link_ttl(ctx->s3, ctx->cfg->link_ttl);
        if (queue_complete(ctx->qconn, job, key, rows, bytes, ctx->cfg->retention_seconds, link_ttl, &e) < 0) {
            if (e.code == EQ_ERR_CANCELLED) {
                /* cancelled in the last moment: the user wants no file */
                if (s3_delete_object(ctx->s3, key, &e) < 0)
                    eq_warn(rs.logctx, "could not delete the cancelled export's object: %s", e.msg);
                out = JOB_CANCELLED;
            } else if (e.code == EQ_ERR_CONFLICT) {
                /* another attempt owns the job; it writes the same key. Keep
                 * the record: unless the job ends succeeded with this key, the
                 * object is deleted (a "failed" job keeps no object). */
                record_written(&rs, key);
                out = JOB_LOST;
            } else {
                *err = e;
                err->retryable = true;
                out = record_failure(&rs, err);
            }
            goto cleanup;
        }
        if (queue_object_kept(ctx->qconn, job->id, key, &e) < 0)
            eq_debug(rs.logctx, "could not forget the written object (the housekeeper will): %s", e.msg);
        long long ms = eq_now_ms() - t0;
        eq_info(rs.logctx, "export succeeded: %lld rows, %lld bytes in %lld.%03lld s", rows, bytes, ms / 1000,
                ms % 1000);
        out = JOB_SUCCEEDED;
    }
cleanup: {
        s3_upload_stats st;
        if (rs.up)
            s3_upload_get_stats(rs.up, &st);
        worker_metrics_export((worker_outcome_m)out, rows_so_far(&rs), bytes_so_far(&rs),
                              eq_now_ms() - t0, rs.up ? &st : NULL);
    }
    lease_keeper_stop(rs.keeper);
    export_close(rs.x);
    job_parallel_free(rs.par);
    s3_upload_free(rs.up);
    /* a COPY that was cut short can leave the source connection mid-protocol */
    if (out != JOB_SUCCEEDED && *ctx->sconn && PQtransactionStatus(*ctx->sconn) != PQTRANS_IDLE) {
        PQfinish(*ctx->sconn);
        *ctx->sconn = NULL;
    }
    return out;
}
