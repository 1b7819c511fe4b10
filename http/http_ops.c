/* http_ops.c - see http_internal.h: GET /healthz and GET /metrics. */
#include "http/http_internal.h"

#include "common/log.h"
#include "common/pg.h"

enum MHD_Result http_ops_healthz(http_server *s, struct MHD_Connection *c, http_req *r)
{
    PGconn *conn = NULL;
    eq_err err;
    http_problem p;
    eq_err_clear(&err);
    if (http_dbpool_get(s->health_pool, &conn, &err) < 0 ||
        eq_pg_exec(conn, "health check", "SELECT 1", 0, NULL, NULL, &err) < 0) {
        http_dbpool_put(s->health_pool, conn);
        http_problem_from_err(&p, r, &err);
        return http_respond_problem(c, r, &p);
    }
    http_dbpool_put(s->health_pool, conn);
    return http_respond_json(c, r, 200, json_pack("{s:s}", "status", "ok"), NULL);
}

enum MHD_Result http_ops_metrics(http_server *s, struct MHD_Connection *c, http_req *r)
{
    queue_state_count counts[16];
    size_t n = 0;
    bool have_jobs = false;
    PGconn *conn = NULL;
    eq_buf out;
    eq_err err;
    http_problem p;
    eq_err_clear(&err);
    if (http_dbpool_get(s->pool, &conn, &err) == 0 && queue_counts(conn, counts, 16, &n, &err) == 0)
        have_jobs = true;
    else
        eq_warn(NULL, "metrics: %s", err.msg);
    http_dbpool_put(s->pool, conn);
    eq_buf_init(&out, 256 * 1024);
    if (http_metrics_render(&s->metrics, have_jobs ? counts : NULL, n, &out, &err) < 0) {
        eq_buf_cleanup(&out);
        http_problem_from_err(&p, r, &err);
        return http_respond_problem(c, r, &p);
    }
    /* the buffer's storage is handed to MHD (free()d by it) */
    return http_respond(c, r, 200, "text/plain; version=0.0.4; charset=utf-8", out.data, out.len, NULL);
}
