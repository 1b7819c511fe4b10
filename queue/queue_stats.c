/* queue_stats.c - see queue.h: job counts by state for /metrics, and the
 * comparison of a request with the job its Idempotency-Key names. */
#include "queue/queue_internal.h"

#include <stdio.h>

/* From the counters of schema/005_job_counts.sql: a few rows, never a scan
 * of exportq.jobs. */
int queue_counts(PGconn *conn, queue_state_count *out, size_t cap, size_t *n, eq_err *err)
{
    PGresult *res = NULL;
    *n = 0;
    if (queue_exec(conn, "metrics: jobs by state", "SELECT state, jobs, bytes FROM exportq.job_counts()", 0,
                   NULL, &res, err) < 0)
        return -1;
    for (int i = 0; i < PQntuples(res) && *n < cap; i++) {
        if (queue_pg_str(res, i, 0, out[*n].state, sizeof out[*n].state, err) < 0) {
            PQclear(res);
            return -1;
        }
        out[*n].jobs = queue_pg_ll(res, i, 1);
        out[*n].bytes = queue_pg_ll(res, i, 2);
        (*n)++;
    }
    PQclear(res);
    return 0;
}

int queue_same_request(PGconn *conn, long long id, const char *kind, const char *params_json,
                       const char *email, bool *same, eq_err *err)
{
    char ids[24];
    const char *params[4] = {ids, kind, params_json ? params_json : "{}", email};
    PGresult *res = NULL;
    *same = false;
    snprintf(ids, sizeof ids, "%lld", id);
    /* jsonb equality: key order and spacing do not matter; the owner was
     * bound into params by the caller exactly as enqueue binds it */
    if (queue_exec(conn, "compare with the job of the key",
                   "SELECT j.kind = $2 AND j.params = (CASE WHEN j.owner IS NULL THEN $3::jsonb "
                   "ELSE $3::jsonb || jsonb_build_object('owner', j.owner) END) "
                   "AND j.email IS NOT DISTINCT FROM $4 FROM exportq.jobs j WHERE j.id = $1::bigint",
                   4, params, &res, err) < 0)
        return -1;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return eq_fail(err, EQ_ERR_NOT_FOUND, "no job %lld", id);
    }
    *same = queue_pg_bool(res, 0, 0);
    PQclear(res);
    return 0;
}
