/* queue_stats.c - see queue.h: job counts by state for /metrics. */
#include "queue/queue_internal.h"

int queue_counts(PGconn *conn, queue_state_count *out, size_t cap, size_t *n, eq_err *err)
{
    PGresult *res = NULL;
    *n = 0;
    if (queue_exec(
            conn, "metrics: jobs by state",
            "SELECT state::text, count(*), coalesce(sum(bytes), 0)::bigint FROM exportq.jobs GROUP BY 1", 0,
            NULL, &res, err) < 0)
        return -1;
    for (int i = 0; i < PQntuples(res) && *n < cap; i++) {
        queue_pg_str(res, i, 0, out[*n].state, sizeof out[*n].state);
        out[*n].jobs = queue_pg_ll(res, i, 1);
        out[*n].bytes = queue_pg_ll(res, i, 2);
        (*n)++;
    }
    PQclear(res);
    return 0;
}
