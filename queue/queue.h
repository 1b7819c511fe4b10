/* queue.h - the exportq job queue: a thin C API over the plpgsql functions of
 * schema/ (schema `exportq`), on a caller-owned libpq connection.
 *
 * What this module owns: the life of a job row (queued -> running ->
 * succeeded/failed/cancelled -> expired), leases and their fencing, retries
 * with backoff, the per-owner cap, mail bookkeeping, retention, LISTEN/NOTIFY
 * wake-ups and API tokens. It never runs an export and never talks to S3/SMTP.
 *
 * Conventions
 * - Every fallible function returns 0 on success, -1 on failure with `err`
 *   filled (EQ_ERR_DB for the database, retryable when the connection broke;
 *   EQ_ERR_INVALID for input the database rejected, with its message;
 *   EQ_ERR_NOT_FOUND for no such job/token).
 * - `conn` is owned by the caller; it must not be inside a transaction block
 *   (each call is one short transaction of its own, committed on return).
 * - Structs filled by the queue are caller-allocated. Fixed-size string fields
 *   are always NUL-terminated ("" = SQL NULL). A value that does not fit its
 *   field is never cut: the call fails with EQ_ERR_LIMIT naming the column
 *   (identities are limited in bytes by common/limits.h, as in SQL). The few heap fields are owned by
 *   the struct and freed by its _cleanup() function, which accepts a zeroed or
 *   half-filled struct and may be called twice.
 * - Timestamps are Unix epoch seconds (long long), 0 = SQL NULL;
 *   queue_time_iso() formats them as RFC 3339 UTC.
 * - Fencing: heartbeat/set_upload/complete/fail/release act only while the job
 *   is still `running` under the same worker id and attempt number as the
 *   claim returned; otherwise they fail with EQ_ERR_CANCELLED (the job was
 *   cancelled) or EQ_ERR_CONFLICT (the lease was lost: rescued, re-claimed).
 */
#ifndef EXPORTQ_QUEUE_QUEUE_H
#define EXPORTQ_QUEUE_QUEUE_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "common/limits.h"

#define QUEUE_KIND_MAX (EQ_KIND_MAX_BYTES + 1)      /* 1..64 of [a-z0-9_] + NUL */
#define QUEUE_OWNER_MAX (EQ_IDENTITY_MAX_BYTES + 1) /* owner ids: 1..256 bytes + NUL */
#define QUEUE_EMAIL_MAX (EQ_EMAIL_MAX_BYTES + 1)    /* at most 254 ASCII characters + NUL */
#define QUEUE_STATE_MAX 16
#define QUEUE_WORKER_MAX 128    /* worker ids are at most 127 bytes */
#define QUEUE_TOKEN_MAX 80      /* "eqt_" + 64 hex digits + NUL fits */
#define QUEUE_ERROR_MAX 1024    /* last_error is stored truncated to 1000 bytes */
#define QUEUE_KEY_MAX 1025      /* S3 object keys are at most 1024 bytes */
#define QUEUE_UPLOAD_MAX 1025   /* S3 multipart upload ids */
#define QUEUE_NAME_MAX (EQ_FILENAME_MAX_BYTES + 1) /* a kind's file name + NUL */
#define QUEUE_PARAMS_MAX 65536  /* params JSON text, enforced by exportq.enqueue */
#define QUEUE_LIST_MAX 100      /* most rows one queue_list() returns */
#define QUEUE_FORMAT_MAX 8      /* "csv", "tsv", "jsonl", "xlsx" + NUL */

/* ---- enqueue ---------------------------------------------------------- */

typedef struct queue_enqueue_req {
    const char *kind;            /* required: a name registered in exportq.kinds */
    const char *params_json;     /* a JSON object as text; NULL = "{}" */
    const char *email;           /* NULL = no mail */
    const char *owner;           /* NULL = no owner; else params.owner is forced to it */
    int priority;                /* -1000..1000, higher first */
    const char *dedupe_key;      /* NULL, or: returns the queued/running job with this key
                                    (keys are per owner: one owner never gets another's job) */
    const char *idempotency_key; /* NULL, or: unique per owner forever (HTTP Idempotency-Key) */
    const char *format;          /* NULL = the kind's default; else csv, tsv, jsonl or xlsx,
                                    one of the kind's options.formats */
    bool *existing;              /* optional out: true when an existing job was returned */
    const char *allowed_domains; /* NULL, or EXPORTQ_MAIL_ALLOWED_DOMAINS: set as the session's
                                    exportq.mail_allowed_domains, which enqueue enforces */
} queue_enqueue_req;

/* Validates and inserts a job (NOTIFY exportq_jobs). Rejections (unknown kind,
 * bad email, params not an object or > 64 KiB, priority out of range, a
 * format unknown or not offered by the kind) are
 * EQ_ERR_INVALID with the database's message, and nothing is written. */
int queue_enqueue(PGconn *conn, const queue_enqueue_req *req, long long *id, eq_err *err) EQ_MUST;

/* ---- workers: claim and the life of an attempt ------------------------ */

typedef struct queue_job {
    long long id;
    int attempt;                      /* 1-based number of this attempt (fence) */
    char worker[QUEUE_WORKER_MAX];    /* the worker id that claimed it (fence) */
    char kind[QUEUE_KIND_MAX];
    char *params;                     /* heap: JSON object text, owner injected */
    char email[QUEUE_EMAIL_MAX];      /* "" = no mail */
    char owner[QUEUE_OWNER_MAX];      /* "" = no owner */
    char object_token[64];            /* random per job, stable across attempts */
    char function[512];               /* the kind's function, schema-qualified and quoted by
                                         PG (quote_ident): "app.export_x"; "" when the
                                         function was dropped (fail the job, not retryable) */
    char filename[QUEUE_NAME_MAX];    /* the kind's file name, "" = none */
    char *options;                    /* heap: the kind's options JSON object text */
    char prev_upload_id[QUEUE_UPLOAD_MAX]; /* left by a dead attempt: abort it; "" = none */
    long long created_at;
    char format[QUEUE_FORMAT_MAX];    /* the job's format; "" = csv (enqueued before formats) */
} queue_job;

void queue_job_cleanup(queue_job *job);

/* Claims the next ready job (priority desc, turn, run_at, id: owners take
 * turns within a priority) whose owner has fewer than owner_max_running
 * running jobs (<= 0: no cap; jobs without an owner are never capped; capped
 * owners are left out in the candidate query, however many); one short SKIP
 * LOCKED transaction.
 * On a claim: state running, attempts + 1, lease = now + lease_seconds,
 * *claimed = true and `job` filled (call queue_job_cleanup() after).
 * Nothing ready: *claimed = false, returns 0. worker_id: 1..127 bytes. */
int queue_claim(PGconn *conn, const char *worker_id, int lease_seconds, int owner_max_running,
                queue_job *job, bool *claimed, eq_err *err) EQ_MUST;

/* Renews the lease and records progress. -1 with EQ_ERR_CANCELLED when the
 * job was cancelled (stop, abort the upload), EQ_ERR_CONFLICT when the lease
 * was lost (stop, do not touch the object). */
int queue_heartbeat(PGconn *conn, const queue_job *job, int lease_seconds, long long rows,
                    long long bytes, eq_err *err) EQ_MUST;

/* Records (or clears, with NULL) the in-progress multipart upload id. */
int queue_set_upload(PGconn *conn, const queue_job *job, const char *upload_id, eq_err *err) EQ_MUST;

/* Success: state succeeded, object_key set, upload_id cleared, finished_at now,
 * expires_at = now + retention_seconds, link_expires_at = now + link_ttl,
 * and a success mail pending when the job has an email. */
int queue_complete(PGconn *conn, const queue_job *job, const char *object_key, long long rows,
                   long long bytes, long retention_seconds, long link_ttl, eq_err *err) EQ_MUST;

/* Failure of this attempt. retryable and attempts < max_attempts: queued again
 * with run_at = now + min(2^attempts * 5 s, 10 min) * random(0.5..1.5);
 * otherwise failed with a failure mail pending when the job has an email.
 * `message` (no secrets!) becomes last_error. *requeued (may be NULL) says which. */
int queue_fail(PGconn *conn, const queue_job *job, const char *message, bool retryable,
               int max_attempts, bool *requeued, eq_err *err) EQ_MUST;

/* A warning the user should see on the finished job (no secrets; cut to
 * 1000 bytes); kept when it succeeds. Fenced like heartbeat. */
int queue_set_warning(PGconn *conn, const queue_job *job, const char *warning, eq_err *err) EQ_MUST;

/* Graceful drain: back to queued, ready now; this attempt is not counted. */
int queue_release(PGconn *conn, const queue_job *job, eq_err *err) EQ_MUST;

/* Records the planner's estimate of the export's rows (EXPLAIN at the start
 * of the attempt): percent = rows / estimate. Fenced like a heartbeat. */
int queue_set_estimate(PGconn *conn, const queue_job *job, long long rows, eq_err *err) EQ_MUST;

/* Any worker, periodically: running jobs whose lease expired go back to
 * queued with backoff (the lost attempt counts), or to failed when their
 * attempts are used up. *n = how many were rescued. */
int queue_rescue(PGconn *conn, int max_attempts, int *n, eq_err *err) EQ_MUST;

/* ---- users: status, cancel, list -------------------------------------- */

typedef struct queue_status_row {
    long long id;
    char kind[QUEUE_KIND_MAX];
    char owner[QUEUE_OWNER_MAX];
    char state[QUEUE_STATE_MAX];     /* queued running succeeded failed cancelled expired */
    long long position;              /* queued and ready: 1-based, 1 = claimed next; running: 0;
                                        waiting for run_at, finished: -1 (NULL) */
    long long rows, bytes;
    int attempts;
    char last_error[QUEUE_ERROR_MAX];
    long long created_at, started_at, finished_at, expires_at, run_at, link_expires_at;
    char email[QUEUE_EMAIL_MAX];
    char upload_id[QUEUE_UPLOAD_MAX];
    char object_key[QUEUE_KEY_MAX];  /* set once succeeded */
    char filename[QUEUE_NAME_MAX];   /* the kind's file name, "" = none */
    char mail_state[QUEUE_STATE_MAX];/* none pending sent failed */
    char mail_kind[QUEUE_STATE_MAX]; /* success failure, "" = none */
    char format[QUEUE_FORMAT_MAX];   /* "" = csv */
    char warning[QUEUE_ERROR_MAX];   /* "" = none */
    long long rows_estimate;         /* the planner's estimate at start; -1 = unknown */
    int percent;                     /* 0..100 (99 at most until succeeded); -1 = unknown */
    long long eta_seconds;           /* until expected to finish; -1 = unknown */
    char worker[QUEUE_WORKER_MAX];   /* the worker of the last claim, "" = none (operators only) */
} queue_status_row;

/* EQ_ERR_NOT_FOUND when there is no such job. */
int queue_status(PGconn *conn, long long id, queue_status_row *row, eq_err *err) EQ_MUST;

/* Cancels a queued or running job: *ok = true. *ok = false (returns 0) when the
 * job is already finished; EQ_ERR_NOT_FOUND when there is no such job. */
int queue_cancel(PGconn *conn, long long id, bool *ok, eq_err *err) EQ_MUST;

/* An owner's jobs, newest first: up to `limit` (1..QUEUE_LIST_MAX) rows with
 * id < before_id (0 = from the newest) into the caller's array rows[limit];
 * *n = rows filled. Paginate with before_id = rows[*n - 1].id. One query:
 * the page's positions, percents and ETAs cost about one short index range
 * per queued job, not a count of the queue (exportq.progress()). */
int queue_list(PGconn *conn, const char *owner, int limit, long long before_id,
               queue_status_row *rows, int *n, eq_err *err) EQ_MUST;

/* ---- operators: every owner's jobs (the dashboard, /v1/admin/...) ------ */

/* Like queue_list() for every owner, only jobs in `state` (NULL = any), and
 * with worker filled. */
int queue_list_all(PGconn *conn, const char *state, int limit, long long before_id, queue_status_row *rows,
                   int *n, eq_err *err) EQ_MUST;

/* A failed or cancelled job queued again, ready now (exportq.retry: attempts
 * kept, a fresh turn behind its owner's queued jobs): *ok = true. *ok = false
 * (returns 0) in any other state; EQ_ERR_NOT_FOUND when there is no such job;
 * EQ_ERR_INVALID when another live job holds its dedupe key. */
int queue_retry(PGconn *conn, long long id, bool *ok, eq_err *err) EQ_MUST;

/* Revokes a succeeded job (exportq.revoke): from now on past its retention,
 * every link 410. *ok = true and its object key in object_key[size] ("" when
 * it has none): the caller deletes the object, then queue_expire_done() (the
 * retention sweeper does both should the caller fail). *ok = false (returns
 * 0) when the job is not succeeded; EQ_ERR_NOT_FOUND when there is no job. */
int queue_revoke(PGconn *conn, long long id, bool *ok, char *object_key, size_t size, eq_err *err) EQ_MUST;

typedef struct queue_kind_count {
    char state[QUEUE_STATE_MAX];
    char kind[QUEUE_KIND_MAX];
    long long jobs;
} queue_kind_count;

/* Jobs by state and kind (kind order): every queued and running job and the
 * jobs finished in the last `hours`, into out[cap]; *n filled. */
int queue_admin_counts(PGconn *conn, int hours, queue_kind_count *out, size_t cap, size_t *n,
                       eq_err *err) EQ_MUST;

typedef struct queue_minute {
    long long minute;        /* Unix seconds of the minute's start */
    long long succeeded;     /* jobs that succeeded in it */
    long long failed;        /* jobs that failed in it (for good) */
    long long bytes;         /* bytes of the jobs that succeeded in it */
    long long started;       /* jobs that started in it */
    double wait_seconds;     /* their mean wait from enqueue to start; < 0 = none started */
} queue_minute;

/* The last `minutes` (1..1440) minute by minute, oldest first, into out[cap]. */
int queue_admin_series(PGconn *conn, int minutes, queue_minute *out, size_t cap, size_t *n,
                       eq_err *err) EQ_MUST;

/* ---- counts (metrics) --------------------------------------------------- */

typedef struct queue_state_count {
    char state[QUEUE_STATE_MAX];
    long long jobs;
    long long bytes; /* sum of the jobs' bytes */
} queue_state_count;

/* Jobs and their bytes by state into out[cap]; *n = states filled (states
 * with no job may be absent). */
int queue_counts(PGconn *conn, queue_state_count *out, size_t cap, size_t *n, eq_err *err) EQ_MUST;

/* Positions of up to QUEUE_LIST_MAX jobs in one cheap query (for pages that
 * already hold their rows): positions[i] is the position of ids[i] with the
 * meaning of queue_status_row.position (-1 = NULL, also for an unknown id).
 * The cost is one snapshot check plus about one short index range per queued
 * job, whatever the queue length (exportq.positions()). */
int queue_positions(PGconn *conn, const long long *ids, int n, long long *positions,
                    eq_err *err) EQ_MUST;

/* Whether job `id` was enqueued with this kind, params (JSON text, owner
 * already bound or not: the job's owner is bound over it) and email (NULL =
 * none): an Idempotency-Key reused with another request is refused by the
 * caller. EQ_ERR_NOT_FOUND when there is no such job. */
int queue_same_request(PGconn *conn, long long id, const char *kind, const char *params_json, const char *email,
                       bool *same, eq_err *err) EQ_MUST;

/* ---- mail bookkeeping -------------------------------------------------- */

typedef struct queue_mail {
    long long job_id;
    char mail_kind[QUEUE_STATE_MAX]; /* "success" or "failure" */
    char kind[QUEUE_KIND_MAX];
    char email[QUEUE_EMAIL_MAX];
    char owner[QUEUE_OWNER_MAX];
    char object_key[QUEUE_KEY_MAX];  /* success mails */
    char filename[QUEUE_NAME_MAX];   /* the kind's file name, "" = none */
    long long rows, bytes;
    char last_error[QUEUE_ERROR_MAX];/* failure mails */
    long long created_at, finished_at, expires_at, link_expires_at;
    int mail_attempt;                /* 1-based number of this send attempt */
    char format[QUEUE_FORMAT_MAX];   /* the job's format, "" = csv */
} queue_mail;

/* Claims one pending mail whose mail_next_at <= now (SKIP LOCKED) and leases
 * it for lease_seconds (a crashed sender's mail is picked up again after).
 * rate_per_owner > 0: a mail whose owner already had that many mails sent in
 * the last hour is put back, due when a slot frees (delayed, never dropped;
 * jobs without an owner are not limited), and the next due mail is tried.
 * A mail whose values do not fit queue_mail is failed for good (EQ_ERR_LIMIT). */
int queue_mail_claim(PGconn *conn, const char *worker_id, int lease_seconds, int rate_per_owner,
                     queue_mail *m, bool *got, eq_err *err) EQ_MUST;
int queue_mail_done(PGconn *conn, long long job_id, eq_err *err) EQ_MUST;
/* Retry with backoff, or mail_state failed once max_attempts are used. */
int queue_mail_fail(PGconn *conn, long long job_id, const char *message, int max_attempts,
                    eq_err *err) EQ_MUST;

/* The installation's random id (exportq.installation, made at migrate), for
 * mail Message-IDs: into out (size >= 33). */
int queue_installation_id(PGconn *conn, char *out, size_t size, eq_err *err) EQ_MUST;

/* ---- webhook events ---------------------------------------------------- */
/* One row of exportq.webhooks per event, written by a trigger in the same
 * transaction as the job's change to succeeded, failed, cancelled or expired
 * (schema/007), so no event is lost whoever changes the state. */

#define QUEUE_EVENT_ID_MAX 48   /* "evt_" + 32 hex digits + NUL fits */
#define QUEUE_EVENT_TYPE_MAX 24 /* "export.succeeded" ... + NUL */

typedef struct queue_webhook {
    char id[QUEUE_EVENT_ID_MAX];     /* stable across attempts */
    char type[QUEUE_EVENT_TYPE_MAX]; /* export.succeeded, export.failed, export.cancelled, export.expired */
    char *url;                       /* heap: the kind's webhook_url at the event; NULL = EXPORTQ_WEBHOOK_URL */
    long long created_at;            /* the event's time (epoch seconds) */
    int attempt;                     /* 1-based number of this attempt (the fence of queue_webhook_settle) */
    queue_status_row job;            /* the job as it was at the event (position NULL; percent and
                                        eta_seconds as exportq.progress() gives them for its state) */
    char job_state_now[QUEUE_STATE_MAX]; /* the job's state at the claim ("" = job gone) */
} queue_webhook;

/* Claims one due event (SKIP LOCKED) and leases it for lease_seconds (longer
 * than one attempt can take: nobody else sends it meanwhile). Without a
 * global URL (have_global_url false), due events that have no URL of their
 * own are marked skipped. *got = false when none is due. Call
 * queue_webhook_cleanup() after a claim. */
int queue_webhook_claim(PGconn *conn, int lease_seconds, bool have_global_url, queue_webhook *w, bool *got,
                        eq_err *err) EQ_MUST;
void queue_webhook_cleanup(queue_webhook *w);

/* Records the outcome of attempt w->attempt: delivered; or retried with
 * backoff and jitter (the first retry within 15 s, growing to 1 h steps) until
 * 24 h after the event, then failed; final: failed now (refused before any
 * connection). status <= 0: no HTTP status. error: no secrets (cut to 1000
 * bytes). *state (size >= QUEUE_STATE_MAX): delivered, pending, failed, or
 * lost (another attempt holds the event, or it was settled meanwhile: nothing
 * recorded) or gone (deleted with its job). */
int queue_webhook_settle(PGconn *conn, const queue_webhook *w, bool delivered, int status, const char *error,
                         bool final, char *state, eq_err *err) EQ_MUST;

typedef struct queue_webhook_row {
    char id[QUEUE_EVENT_ID_MAX];
    char type[QUEUE_EVENT_TYPE_MAX];
    char state[QUEUE_STATE_MAX];     /* pending delivered failed skipped */
    long long job_id;
    int attempts;
    int last_status;                 /* 0 = none */
    char last_error[QUEUE_ERROR_MAX];/* "" = none */
    long long created_at, next_at, delivered_at; /* 0 = none */
    char url[2049];                  /* "" = EXPORTQ_WEBHOOK_URL */
} queue_webhook_row;

/* Calls cb for the newest `limit` events (1..1000), newest first; only
 * failed ones when failed_only. */
int queue_webhook_list(PGconn *conn, bool failed_only, int limit, void (*cb)(const queue_webhook_row *r, void *ud),
                       void *ud, eq_err *err) EQ_MUST;

/* ---- retention --------------------------------------------------------- */

typedef struct queue_expired {
    long long job_id;
    char object_key[QUEUE_KEY_MAX];  /* "" when the job never had an object */
} queue_expired;

/* Claims one succeeded job past expires_at (leased for lease_seconds): the
 * caller deletes object_key, then calls queue_expire_done() (state expired). */
int queue_expire_claim(PGconn *conn, int lease_seconds, queue_expired *e, bool *got,
                       eq_err *err) EQ_MUST;
int queue_expire_done(PGconn *conn, long long job_id, eq_err *err) EQ_MUST;
/* Deletes finished job rows (failed, cancelled, expired) finished or expired
 * more than keep_seconds ago. *n = rows deleted. */
int queue_purge(PGconn *conn, long keep_seconds, int *n, eq_err *err) EQ_MUST;

/* ---- orphaned multipart uploads ---------------------------------------- */

typedef struct queue_orphan {
    long long job_id;
    char owner[QUEUE_OWNER_MAX];      /* with job_id, object_token and filename: */
    char kind[QUEUE_KIND_MAX];        /* what object_key_build() needs to find the key */
    char object_token[64];
    char filename[QUEUE_NAME_MAX];    /* the kind's file name, "" = none */
    char upload_id[QUEUE_UPLOAD_MAX]; /* the upload to abort */
} queue_orphan;

/* Claims one failed or cancelled job, finished more than grace_seconds ago,
 * that still records a multipart upload (its worker was gone when it was
 * cancelled or failed by the rescuer); leased for lease_seconds. The caller
 * aborts the upload (NoSuchUpload counts as done), then queue_orphan_done(). */
int queue_orphan_claim(PGconn *conn, int grace_seconds, int lease_seconds, queue_orphan *o,
                       bool *got, eq_err *err) EQ_MUST;
int queue_orphan_done(PGconn *conn, long long job_id, const char *upload_id, eq_err *err) EQ_MUST;

/* ---- wake-ups ---------------------------------------------------------- */

/* LISTEN exportq_jobs on conn (a connection kept for waiting). */
int queue_listen(PGconn *conn, eq_err *err) EQ_MUST;
/* Waits up to timeout_ms for a notification; *notified says if one came
 * (all pending ones are consumed). EINTR returns 0 with *notified = false. */
int queue_wait(PGconn *conn, int timeout_ms, bool *notified, eq_err *err) EQ_MUST;

/* ---- API tokens -------------------------------------------------------- */

typedef struct queue_token_row {
    long long id;
    char owner[QUEUE_OWNER_MAX];
    long long created_at, last_used_at, revoked_at;
} queue_token_row;

/* Creates a token for owner: 32 random bytes as "eqt_" + 64 hex digits into
 * token_out (size >= QUEUE_TOKEN_MAX). Only its SHA-256 is stored. */
int queue_token_create(PGconn *conn, const char *owner, char *token_out, size_t size,
                       long long *id, eq_err *err) EQ_MUST;
/* Finds the owner of a live token: EQ_ERR_NOT_FOUND when unknown or revoked.
 * The token is hashed before the lookup (no timing oracle on its bytes). */
int queue_token_lookup(PGconn *conn, const char *token, char *owner_out, size_t size,
                       long long *token_id, eq_err *err) EQ_MUST;
/* Calls cb for every token, oldest first (revoked ones included). */
int queue_token_list(PGconn *conn, void (*cb)(const queue_token_row *row, void *ud), void *ud,
                     eq_err *err) EQ_MUST;
/* *ok = false when the token was already revoked; EQ_ERR_NOT_FOUND if no such id. */
int queue_token_revoke(PGconn *conn, long long id, bool *ok, eq_err *err) EQ_MUST;

/* ---- pure helpers (no database) ---------------------------------------- */

/* The user-facing JSON of a job (what `exportq status --json` prints and the
 * API returns): id, kind, owner, state, position, rows, bytes, attempts,
 * last_error, created_at, started_at, finished_at, expires_at, run_at,
 * link_expires_at (RFC 3339 or null), email, mail_state, format, warning
 * (null when none), rows_estimate, percent, eta_seconds (null when unknown).
 * Never upload ids or object keys. Returns a new reference (json_decref), NULL when out of memory. */
json_t *queue_status_json(const queue_status_row *row);

/* SHA-256 of `token` as 64 lowercase hex digits + NUL into hex[65]. */
void queue_token_hash(const char *token, char hex[65]);
/* True when s looks like a token ("eqt_" + 64 lowercase hex digits). */
bool queue_token_well_formed(const char *s);
/* RFC 3339 UTC ("2026-01-02T03:04:05Z") into out (>= 21 bytes); "" for 0. */
void queue_time_iso(long long epoch, char *out, size_t size);
/* The retry delay in seconds after `attempts` attempts, before jitter:
 * min(2^attempts * 5, 600). (The SQL side applies jitter 0.5..1.5.) */
long queue_backoff_base(int attempts);

#endif
