/* queue_object.c - written objects and fenced mail bookkeeping; see queue_object.h */
#include "queue/queue_object.h"

#include <stdio.h>
#include <string.h>

#include "queue/queue_internal.h"

static int run_key(PGconn *conn, const char *what, const char *sql, long long job_id, const char *key,
                   eq_err *err)
{
    char id[24];
    const char *params[2] = {id, key};
    snprintf(id, sizeof id, "%lld", job_id);
    return queue_exec(conn, what, sql, 2, params, NULL, err);
}

int queue_object_written(PGconn *conn, long long job_id, const char *key, eq_err *err)
{
    return run_key(conn, "record written object", "SELECT exportq.object_written($1::bigint, $2)", job_id,
                   key, err);
}

int queue_object_kept(PGconn *conn, long long job_id, const char *key, eq_err *err)
{
    return run_key(conn, "forget kept object", "SELECT exportq.object_kept($1::bigint, $2)", job_id, key, err);
}

int queue_stray_claim(PGconn *conn, int lease_seconds, long long *job_id, char *key, bool *got, eq_err *err)
{
    char lease[16];
    const char *params[1] = {lease};
    PGresult *res = NULL;
    *got = false;
    *job_id = 0;
    key[0] = '\0';
    snprintf(lease, sizeof lease, "%d", lease_seconds);
    if (queue_exec(conn, "claim stray object", "SELECT job_id, object_key FROM exportq.stray_claim($1::int)", 1,
                   params, &res, err) < 0)
        return -1;
    if (PQntuples(res) == 1) {
        *job_id = queue_pg_ll(res, 0, 0);
        if (queue_pg_str(res, 0, 1, key, QUEUE_KEY_MAX, err) < 0) {
            PQclear(res);
            return eq_err_context(err, "stray object of job %lld", *job_id);
        }
        *got = true;
    }
    PQclear(res);
    return 0;
}

int queue_stray_done(PGconn *conn, long long job_id, const char *key, eq_err *err)
{
    return run_key(conn, "stray object deleted", "SELECT exportq.stray_done($1::bigint, $2)", job_id, key, err);
}

static int fenced(PGconn *conn, const char *what, const char *sql, int n, const char *const *params,
                  bool *recorded, eq_err *err)
{
    PGresult *res = NULL;
    *recorded = false;
    if (queue_exec(conn, what, sql, n, params, &res, err) < 0)
        return -1;
    *recorded = PQntuples(res) == 1 && queue_pg_bool(res, 0, 0);
    PQclear(res);
    return 0;
}

int queue_mail_done_fenced(PGconn *conn, long long job_id, int attempt, bool *recorded, eq_err *err)
{
    char id[24], at[16];
    const char *params[2] = {id, at};
    snprintf(id, sizeof id, "%lld", job_id);
    snprintf(at, sizeof at, "%d", attempt);
    return fenced(conn, "mail sent", "SELECT exportq.mail_done($1::bigint, $2::int)", 2, params, recorded, err);
}

int queue_mail_fail_fenced(PGconn *conn, long long job_id, int attempt, const char *message, int max_attempts,
                           bool *recorded, eq_err *err)
{
    char id[24], at[16], max[16];
    const char *params[4] = {id, at, message ? message : "mail failed", max};
    snprintf(id, sizeof id, "%lld", job_id);
    snprintf(at, sizeof at, "%d", attempt);
    snprintf(max, sizeof max, "%d", max_attempts);
    return fenced(conn, "mail failed", "SELECT exportq.mail_fail($1::bigint, $2::int, $3, $4::int)", 4, params,
                  recorded, err);
}
