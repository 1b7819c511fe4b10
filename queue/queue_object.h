/* queue_object.h - objects an attempt may have written (schema 006): recorded
 * before CompleteMultipartUpload or PutObject, forgotten once the job
 * succeeded with them, and otherwise claimed by a housekeeper that deletes
 * them (a job that did not succeed never keeps a readable object). Also the
 * fenced mail bookkeeping of 006. Same conventions as queue.h. */
#ifndef EXPORTQ_QUEUE_OBJECT_H
#define EXPORTQ_QUEUE_OBJECT_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "common/error.h"
#include "queue/queue.h"

/* The attempt is about to make `key` readable. Idempotent. */
int queue_object_written(PGconn *conn, long long job_id, const char *key, eq_err *err) EQ_MUST;
/* The job is recorded succeeded with `key`: forget the record. */
int queue_object_kept(PGconn *conn, long long job_id, const char *key, eq_err *err) EQ_MUST;

/* Claims (leases) one recorded object whose job failed, was cancelled, is
 * gone, or succeeded with another key. key has QUEUE_KEY_MAX bytes. */
int queue_stray_claim(PGconn *conn, int lease_seconds, long long *job_id, char *key, bool *got,
                      eq_err *err) EQ_MUST;
/* The object is deleted: drop the record. */
int queue_stray_done(PGconn *conn, long long job_id, const char *key, eq_err *err) EQ_MUST;

/* mail_done / mail_fail fenced by the claim: `attempt` is queue_mail's
 * mail_attempt. *recorded = false when the claim was no longer ours (another
 * sender took the mail over, or it was settled already). */
int queue_mail_done_fenced(PGconn *conn, long long job_id, int attempt, bool *recorded, eq_err *err) EQ_MUST;
int queue_mail_fail_fenced(PGconn *conn, long long job_id, int attempt, const char *message, int max_attempts,
                           bool *recorded, eq_err *err) EQ_MUST;

#endif
