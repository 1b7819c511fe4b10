/* job_parallel.c - see job_parallel.h */
#include "worker/job_parallel.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/pg.h"
#include "export/export.h"
#include "export/export_split.h"

#define ROWS_PER_TURN 512 /* rows of one range before the next range's turn */
#define WAIT_MS 250

typedef struct range {
    struct job_parallel *jp;
    unsigned index;
    int slot;          /* the connection it runs on; -1 = not started */
    export_stream *x;
    bool done;
} range;

struct job_parallel {
    const eq_config *cfg;
    PGconn *coord;       /* borrowed: holds the snapshot until every range started */
    const queue_job *job;
    export_options opts;
    export_split split;
    unsigned active;     /* ranges at once */
    PGconn *conns[S3_WAIT_FDS_MAX];
    bool conn_busy[S3_WAIT_FDS_MAX];
    range *r;
    unsigned next_open, running, finished;
    uint64_t rows_done, bytes_done; /* of finished ranges */
    s3_upload *up;
    int (*tick)(void *ud, eq_err *err);
    void *tick_ud;
    char logctx[96];
};

int job_parallel_plan(const eq_config *cfg, PGconn *coord, const queue_job *job, const export_options *opts,
                      job_parallel **out, eq_err *err)
{
    job_parallel *jp;
    unsigned active;

    *out = NULL;
    if (!opts->split[0] || cfg->export_parallel < 2 || opts->format == EXPORT_FORMAT_XLSX)
        return 0;
    active = s3_upload_max_lanes((size_t)cfg->upload_memory);
    if (active > (unsigned)cfg->export_parallel)
        active = (unsigned)cfg->export_parallel;
    if (active < 2) {
        eq_debug("", "job %lld: EXPORTQ_UPLOAD_MEMORY holds fewer than two ranges: serial export", job->id);
        return 0;
    }
    if (!(jp = calloc(1, sizeof *jp)))
        return eq_fail(err, EQ_ERR_NOMEM, "parallel export: out of memory");
    jp->cfg = cfg;
    jp->coord = coord;
    jp->job = job;
    jp->opts = *opts;
    snprintf(jp->logctx, sizeof jp->logctx, "job=%lld", job->id);
    if (export_split_plan(coord, opts->split, job->params, job->owner, cfg->export_parallel, &jp->split, err) < 0) {
        free(jp);
        return eq_err_context(err, "split function %s", opts->split);
    }
    if (jp->split.n < 2) { /* zero or one range: the serial export, outside the snapshot */
        eq_err e;
        int rc = export_split_release(coord, &e);
        eq_debug(jp->logctx, "split gave %zu range(s): serial export", jp->split.n);
        export_split_free(&jp->split);
        free(jp);
        if (rc < 0) {
            *err = e;
            return -1;
        }
        return 0;
    }
    if (active > jp->split.n)
        active = (unsigned)jp->split.n;
    jp->active = active;
    if (!(jp->r = calloc(jp->split.n, sizeof *jp->r))) {
        job_parallel_free(jp);
        return eq_fail(err, EQ_ERR_NOMEM, "parallel export: out of memory");
    }
    for (unsigned i = 0; i < jp->split.n; i++) {
        jp->r[i].jp = jp;
        jp->r[i].index = i;
        jp->r[i].slot = -1;
    }
    *out = jp;
    return 0;
}

unsigned job_parallel_ranges(const job_parallel *jp)
{
    return (unsigned)jp->split.n;
}

unsigned job_parallel_active(const job_parallel *jp)
{
    return jp->active;
}

/* A range's output goes into its lane; when the lane's buffers are all in
 * use, this range waits (its query pauses) while the parts go out. */
static int range_sink(void *ud, const void *data, size_t len, eq_err *err)
{
    range *r = ud;
    job_parallel *jp = r->jp;
    const char *p = data;
    while (len) {
        size_t taken = 0;
        if (s3_upload_lane_write(jp->up, r->index, p, len, &taken, err) < 0)
            return -1;
        p += taken;
        len -= taken;
        if (len && (s3_upload_wait(jp->up, -1, 0, WAIT_MS, err) < 0 || jp->tick(jp->tick_ud, err) < 0))
            return -1;
    }
    return 0;
}

static int free_slot(job_parallel *jp)
{
    for (unsigned s = 0; s < jp->active; s++)
        if (!jp->conn_busy[s])
            return (int)s;
    return -1;
}

/* Starts range i on a free connection, in the snapshot. */
static int range_start(job_parallel *jp, unsigned i, int slot, eq_err *err)
{
    range *r = &jp->r[i];
    export_spec spec = {.function = jp->job->function,
                        .options = jp->opts,
                        .params_json = jp->split.ranges[i],
                        .owner = jp->job->owner,
                        .snapshot = jp->split.snapshot,
                        .tmpdir = jp->cfg->tmpdir};
    if (i > 0) { /* the header and the BOM once, at the start of the object */
        spec.options.header = false;
        spec.options.bom = false;
    }
    if (jp->conns[slot] && PQstatus(jp->conns[slot]) != CONNECTION_OK) {
        PQfinish(jp->conns[slot]);
        jp->conns[slot] = NULL;
    }
    if (!jp->conns[slot] && eq_pg_connect(jp->cfg->source_database_url, "export", &jp->conns[slot], err) < 0)
        return eq_err_context(err, "range %u", i + 1);
    spec.conn = jp->conns[slot];
    if (export_open(&spec, range_sink, r, &r->x, err) < 0)
        return eq_err_context(err, "range %u", i + 1);
    if (s3_upload_lane_open(jp->up, i, err) < 0)
        return -1;
    r->slot = slot;
    jp->conn_busy[slot] = true;
    jp->running++;
    jp->next_open++;
    eq_debug(jp->logctx, "range %u of %zu started", i + 1, jp->split.n);
    if (jp->next_open == jp->split.n && export_split_release(jp->coord, err) < 0) /* every range has started */
        return -1;
    return 0;
}

static int range_finish(job_parallel *jp, range *r, eq_err *err)
{
    if (s3_upload_lane_close(jp->up, r->index, err) < 0)
        return -1;
    jp->rows_done += export_rows(r->x);
    jp->bytes_done += export_bytes_out(r->x);
    export_close(r->x); /* ends the range's transaction: the connection is idle again */
    r->x = NULL;
    r->done = true;
    jp->conn_busy[r->slot] = false;
    jp->running--;
    jp->finished++;
    return 0;
}

int job_parallel_run(job_parallel *jp, s3_upload *up, int (*tick)(void *ud, eq_err *err), void *ud, eq_err *err)
{
    struct pollfd fds[S3_WAIT_FDS_MAX];

    jp->up = up;
    jp->tick = tick;
    jp->tick_ud = ud;
    if (s3_upload_set_lanes(up, (unsigned)jp->split.n, jp->active, err) < 0)
        return -1;
    eq_info(jp->logctx, "parallel export: %zu ranges, %u at once", jp->split.n, jp->active);
    while (jp->finished < jp->split.n) {
        int nfds = 0;
        bool busy = false;
        if (tick(ud, err) < 0)
            return -1;
        while (jp->next_open < jp->split.n && s3_upload_lane_can_open(up, jp->next_open)) {
            int slot = free_slot(jp);
            if (slot < 0 || range_start(jp, jp->next_open, slot, err) < 0) {
                if (slot < 0)
                    break;
                return -1;
            }
            /* a range's connect + snapshot import can take a while on a busy
             * server: keep the lease between them */
            if (tick(ud, err) < 0)
                return -1;
        }
        for (unsigned i = 0; i < jp->split.n; i++) {
            range *r = &jp->r[i];
            int x = EXPORT_WOULD_BLOCK;
            if (!r->x || r->done)
                continue;
            for (int k = 0; k < ROWS_PER_TURN; k++) {
                x = export_next(r->x, err);
                if (x < 0)
                    return eq_err_context(err, "range %u", i + 1);
                if (x != EXPORT_READY)
                    break;
            }
            if (x == EXPORT_DONE) {
                if (range_finish(jp, r, err) < 0)
                    return -1;
                busy = true; /* a connection is free: start the next range at once */
            } else if (x == EXPORT_READY) {
                busy = true;
            } else {
                fds[nfds++] = (struct pollfd){.fd = export_socket(r->x), .events = export_events(r->x)};
            }
        }
        if (jp->finished == jp->split.n)
            break;
        if (s3_upload_wait_fds(up, fds, nfds, busy ? 0 : WAIT_MS, err) < 0)
            return -1;
    }
    return 0;
}

uint64_t job_parallel_rows(const job_parallel *jp)
{
    uint64_t n = jp->rows_done;
    for (unsigned i = 0; jp->r && i < jp->split.n; i++)
        if (jp->r[i].x)
            n += export_rows(jp->r[i].x);
    return n;
}

uint64_t job_parallel_bytes(const job_parallel *jp)
{
    uint64_t n = jp->bytes_done;
    for (unsigned i = 0; jp->r && i < jp->split.n; i++)
        if (jp->r[i].x)
            n += export_bytes_out(jp->r[i].x);
    return n;
}

void job_parallel_cancel(job_parallel *jp)
{
    for (unsigned i = 0; jp && jp->r && i < jp->split.n; i++)
        if (jp->r[i].x)
            (void)export_cancel(jp->r[i].x);
}

void job_parallel_free(job_parallel *jp)
{
    eq_err e;
    if (!jp)
        return;
    job_parallel_cancel(jp);
    for (unsigned i = 0; jp->r && i < jp->split.n; i++)
        export_close(jp->r[i].x); /* drains a cancelled COPY */
    for (unsigned s = 0; s < S3_WAIT_FDS_MAX; s++)
        if (jp->conns[s])
            PQfinish(jp->conns[s]);
    if (PQstatus(jp->coord) == CONNECTION_OK && export_split_release(jp->coord, &e) < 0)
        eq_debug(jp->logctx, "ending the snapshot: %s", e.msg);
    free(jp->r);
    export_split_free(&jp->split);
    free(jp);
}
