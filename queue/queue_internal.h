/* queue_internal.h - helpers shared by the files of queue/; not for other
 * modules (they use queue.h). */
#ifndef EXPORTQ_QUEUE_INTERNAL_H
#define EXPORTQ_QUEUE_INTERNAL_H

#include <libpq-fe.h>
#include <stddef.h>

#include "common/error.h"
#include "queue/queue.h"

/* SQL for "timestamp column as Unix seconds" (NULL stays NULL). */
#define QUEUE_EPOCH(col) "floor(extract(epoch FROM " col "))::bigint"

/* The columns of a status row, read by queue_status_from() (26 columns, from
 * column 0): the job j, its kind k (filename), and p (position, percent,
 * eta_seconds: exportq.progress(), which reads the position snapshot once per
 * call and the queue's speed once per kind; see schema/004_position.sql). */
#define QUEUE_STATUS_SELECT                                                                     \
    "j.id, j.kind, j.owner, j.state, p.position, j.rows, j.bytes, j.attempts, "                 \
    "j.last_error, " QUEUE_EPOCH("j.created_at") ", " QUEUE_EPOCH("j.started_at") ", "          \
    QUEUE_EPOCH("j.finished_at") ", " QUEUE_EPOCH("j.expires_at") ", " QUEUE_EPOCH("j.run_at") \
    ", " QUEUE_EPOCH("j.link_expires_at") ", j.email, j.upload_id, j.object_key, k.filename, "  \
    "j.mail_state, j.mail_kind, j.format, j.warning, j.rows_estimate, p.percent, p.eta_seconds "
#define QUEUE_STATUS_NCOLS 26

/* Fills s from row i of a result whose first columns are QUEUE_STATUS_SELECT.
 * A value that does not fit is refused (EQ_ERR_LIMIT), never cut. */
int queue_status_from(const PGresult *res, int i, queue_status_row *s, eq_err *err) EQ_MUST;

/* One page of jobs, newest first, with ids below before_id (0 = from the
 * newest), at most limit (1..QUEUE_LIST_MAX) rows: those of owner `value`
 * (QUEUE_PAGE_OWNER), or those in state `value` with each row's worker filled
 * (QUEUE_PAGE_STATE, operators); value NULL = any. The one rule behind
 * queue_list() and queue_list_all(). */
typedef enum queue_page_by { QUEUE_PAGE_OWNER, QUEUE_PAGE_STATE } queue_page_by;
int queue_page(PGconn *conn, queue_page_by by, const char *value, int limit, long long before_id,
               queue_status_row *rows, int *n, eq_err *err) EQ_MUST;

/* Like eq_pg_exec(), but input the database rejected (SQLSTATE class 22, e.g.
 * 22023 from exportq.reject, 22P02 bad JSON) becomes EQ_ERR_INVALID with the
 * database's own message, without prefixes. */
int queue_exec(PGconn *conn, const char *what, const char *sql, int nparams,
               const char *const *params, PGresult **out, eq_err *err) EQ_MUST;

/* An action on the row `id` of a table: runs sql with $1 = id, whose one
 * result row holds the action's value in column 0 and, in column 1, whether
 * the row existed (EXISTS sees the statement's snapshot: the row as it was
 * before the action). *out is the result (caller clears); no such row is
 * EQ_ERR_NOT_FOUND "no NOUN ID" with *out NULL. */
int queue_id_action(PGconn *conn, const char *what, const char *noun, const char *sql, long long id,
                    PGresult **out, eq_err *err) EQ_MUST;

/* Copies a text value into dst[size]; "" for NULL. A value that does not fit
 * is refused, never cut: -1 with EQ_ERR_LIMIT naming the column, dst "". */
int queue_pg_str(const PGresult *res, int row, int col, char *dst, size_t size, eq_err *err) EQ_MUST;
/* For display text only (last_error, never an identity): copies a text value
 * into dst[size], cut at a UTF-8 character boundary; "" for NULL. */
void queue_pg_text_cut(const PGresult *res, int row, int col, char *dst, size_t size);
/* An integer value; 0 for NULL. */
long long queue_pg_ll(const PGresult *res, int row, int col);
/* A heap copy of a text value (caller frees); NULL for SQL NULL or no memory. */
char *queue_pg_dup(const PGresult *res, int row, int col);
/* A boolean value. */
bool queue_pg_bool(const PGresult *res, int row, int col);

/* Maps the outcome of a fenced SQL function ("ok", "cancelled", "lost") to
 * 0 / EQ_ERR_CANCELLED / EQ_ERR_CONFLICT. */
int queue_fence(const char *outcome, const char *what, const queue_job *job, eq_err *err) EQ_MUST;

#endif
