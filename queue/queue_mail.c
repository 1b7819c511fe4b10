/* queue_mail.c - mail bookkeeping, retention of finished jobs and orphaned
 * uploads: the housekeeping a worker does between jobs; see queue.h */
#include "queue/queue.h"

#include <stdio.h>
#include <string.h>

#include "queue/queue_internal.h"

/* One mail_claim(); *got = false when none is due. */
static int mail_claim_one(PGconn *conn, const char *worker_id, int lease_seconds, queue_mail *m,
                          bool *got, eq_err *err)
{
    char lease[16];
    const char *params[2] = {worker_id, lease};
    PGresult *res = NULL;
    bool copied = true;
    *got = false;
    memset(m, 0, sizeof *m);
    snprintf(lease, sizeof lease, "%d", lease_seconds);
    if (queue_exec(conn, "claim mail",
                   "WITH m AS (SELECT * FROM exportq.mail_claim($1, $2::int)) "
                   "SELECT m.id, m.mail_kind, m.kind, m.email, m.owner, m.object_key, m.filename, m.rows, m.bytes, "
                   "m.last_error, m.created_at, m.finished_at, m.expires_at, m.link_expires_at, m.mail_attempts, "
                   "j.format FROM m LEFT JOIN exportq.jobs j ON j.id = m.id",
                   2, params, &res, err) < 0)
        return -1;
    if (PQntuples(res) == 1) {
        m->job_id = queue_pg_ll(res, 0, 0);
        m->rows = queue_pg_ll(res, 0, 7);
        m->bytes = queue_pg_ll(res, 0, 8);
        queue_pg_text_cut(res, 0, 9, m->last_error, sizeof m->last_error);
        if (queue_pg_str(res, 0, 1, m->mail_kind, sizeof m->mail_kind, err) < 0 ||
            queue_pg_str(res, 0, 2, m->kind, sizeof m->kind, err) < 0 ||
            queue_pg_str(res, 0, 3, m->email, sizeof m->email, err) < 0 ||
            queue_pg_str(res, 0, 4, m->owner, sizeof m->owner, err) < 0 ||
            queue_pg_str(res, 0, 5, m->object_key, sizeof m->object_key, err) < 0 ||
            queue_pg_str(res, 0, 6, m->filename, sizeof m->filename, err) < 0 ||
            queue_pg_str(res, 0, 15, m->format, sizeof m->format, err) < 0)
            copied = false;
        m->created_at = queue_pg_ll(res, 0, 10);
        m->finished_at = queue_pg_ll(res, 0, 11);
        m->expires_at = queue_pg_ll(res, 0, 12);
        m->link_expires_at = queue_pg_ll(res, 0, 13);
        m->mail_attempt = (int)queue_pg_ll(res, 0, 14);
        *got = true;
    }
    PQclear(res);
    if (!copied) {
        /* never mail under a cut identity: this mail fails for good */
        long long id = m->job_id;
        eq_err e2;
        if (queue_mail_fail(conn, id, err->msg, 1, &e2) < 0)
            eq_err_context(err, "(and recording it failed: %s)", e2.msg);
        memset(m, 0, sizeof *m);
        *got = false;
        return eq_err_context(err, "mail of job %lld refused", id);
    }
    return 0;
}

int queue_mail_claim(PGconn *conn, const char *worker_id, int lease_seconds, int rate_per_owner,
                     queue_mail *m, bool *got, eq_err *err)
{
    /* a mail over its owner's rate goes back with a later due time; look at
     * a few more so one busy owner does not hold up everyone else's mail */
    for (int tries = 0; tries < 20; tries++) {
        char id[24], rate[16];
        const char *params[2] = {id, rate};
        PGresult *res = NULL;
        bool deferred;
        if (mail_claim_one(conn, worker_id, lease_seconds, m, got, err) < 0)
            return -1;
        if (!*got || rate_per_owner <= 0)
            return 0;
        snprintf(id, sizeof id, "%lld", m->job_id);
        snprintf(rate, sizeof rate, "%d", rate_per_owner);
        if (queue_exec(conn, "mail rate", "SELECT exportq.mail_rate_defer($1::bigint, $2::int)", 2, params,
                       &res, err) < 0) {
            *got = false;
            return eq_err_context(err, "mail of job %lld", m->job_id);
        }
        deferred = !PQgetisnull(res, 0, 0);
        PQclear(res);
        if (!deferred)
            return 0;
        *got = false;
    }
    memset(m, 0, sizeof *m);
    return 0;
}

int queue_installation_id(PGconn *conn, char *out, size_t size, eq_err *err)
{
    PGresult *res = NULL;
    if (queue_exec(conn, "installation id", "SELECT id FROM exportq.installation", 0, NULL, &res, err) < 0)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return eq_fail(err, EQ_ERR_DB, "exportq.installation is empty: run exportq migrate");
    }
    if (queue_pg_str(res, 0, 0, out, size, err) < 0) {
        PQclear(res);
        return -1;
    }
    PQclear(res);
    return 0;
}

int queue_mail_done(PGconn *conn, long long job_id, eq_err *err)
{
    char id[24];
    const char *params[1] = {id};
    snprintf(id, sizeof id, "%lld", job_id);
    return queue_exec(conn, "mail sent", "SELECT exportq.mail_done($1::bigint)", 1, params, NULL,
                      err);
}

int queue_mail_fail(PGconn *conn, long long job_id, const char *message, int max_attempts,
                    eq_err *err)
{
    char id[24], max[16];
    const char *params[3] = {id, message ? message : "mail failed", max};
    snprintf(id, sizeof id, "%lld", job_id);
    snprintf(max, sizeof max, "%d", max_attempts);
    return queue_exec(conn, "mail failed", "SELECT exportq.mail_fail($1::bigint, $2, $3::int)", 3,
                      params, NULL, err);
}

int queue_expire_claim(PGconn *conn, int lease_seconds, queue_expired *e, bool *got, eq_err *err)
{
    char lease[16];
    const char *params[1] = {lease};
    PGresult *res = NULL;
    *got = false;
    memset(e, 0, sizeof *e);
    snprintf(lease, sizeof lease, "%d", lease_seconds);
    if (queue_exec(conn, "claim expired job",
                   "SELECT id, object_key FROM exportq.expire_claim($1::int)", 1, params, &res,
                   err) < 0)
        return -1;
    if (PQntuples(res) == 1) {
        e->job_id = queue_pg_ll(res, 0, 0);
        if (queue_pg_str(res, 0, 1, e->object_key, sizeof e->object_key, err) < 0) {
            PQclear(res);
            return eq_err_context(err, "expire job %lld", e->job_id);
        }
        *got = true;
    }
    PQclear(res);
    return 0;
}

int queue_expire_done(PGconn *conn, long long job_id, eq_err *err)
{
    char id[24];
    const char *params[1] = {id};
    snprintf(id, sizeof id, "%lld", job_id);
    return queue_exec(conn, "expire job", "SELECT exportq.expire_done($1::bigint)", 1, params,
                      NULL, err);
}

int queue_purge(PGconn *conn, long keep_seconds, int *n, eq_err *err)
{
    char keep[24];
    const char *params[1] = {keep};
    PGresult *res = NULL;
    *n = 0;
    snprintf(keep, sizeof keep, "%ld", keep_seconds);
    if (queue_exec(conn, "purge finished jobs", "SELECT exportq.purge($1::bigint)", 1, params,
                   &res, err) < 0)
        return -1;
    *n = (int)queue_pg_ll(res, 0, 0);
    PQclear(res);
    return 0;
}

int queue_orphan_claim(PGconn *conn, int grace_seconds, int lease_seconds, queue_orphan *o,
                       bool *got, eq_err *err)
{
    char grace[16], lease[16];
    const char *params[2] = {grace, lease};
    PGresult *res = NULL;
    *got = false;
    memset(o, 0, sizeof *o);
    snprintf(grace, sizeof grace, "%d", grace_seconds);
    snprintf(lease, sizeof lease, "%d", lease_seconds);
    if (queue_exec(conn, "claim orphaned upload",
                   "SELECT id, owner, kind, object_token, filename, upload_id "
                   "FROM exportq.orphan_claim($1::int, $2::int)",
                   2, params, &res, err) < 0)
        return -1;
    if (PQntuples(res) == 1) {
        o->job_id = queue_pg_ll(res, 0, 0);
        if (queue_pg_str(res, 0, 1, o->owner, sizeof o->owner, err) < 0 ||
            queue_pg_str(res, 0, 2, o->kind, sizeof o->kind, err) < 0 ||
            queue_pg_str(res, 0, 3, o->object_token, sizeof o->object_token, err) < 0 ||
            queue_pg_str(res, 0, 4, o->filename, sizeof o->filename, err) < 0 ||
            queue_pg_str(res, 0, 5, o->upload_id, sizeof o->upload_id, err) < 0) {
            PQclear(res);
            return eq_err_context(err, "orphaned upload of job %lld", o->job_id);
        }
        *got = true;
    }
    PQclear(res);
    return 0;
}

int queue_orphan_done(PGconn *conn, long long job_id, const char *upload_id, eq_err *err)
{
    char id[24];
    const char *params[2] = {id, upload_id};
    snprintf(id, sizeof id, "%lld", job_id);
    return queue_exec(conn, "orphaned upload aborted",
                      "SELECT exportq.orphan_done($1::bigint, $2)", 2, params, NULL, err);
}
