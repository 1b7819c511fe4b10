/* object_key.h - where an export's object lives in the bucket.
 *
 * key = EXPORTQ_S3_PREFIX + owner + "/" + job id + "-" + object_token + "/" + file name
 *
 * The object_token is random and fixed at enqueue, so the key is unguessable
 * and every attempt of a job writes the SAME key (one object per job, whatever
 * crashed). The owner and file name are user text: they are sanitised here
 * (only [A-Za-z0-9._-] kept, others become '_', no "..", no leading dot;
 * a value longer than its limit is refused, never cut). Pure functions; the caller owns every buffer.
 */
#ifndef EXPORTQ_WORKER_OBJECT_KEY_H
#define EXPORTQ_WORKER_OBJECT_KEY_H

#include <stddef.h>
#include "common/error.h"
#include "common/limits.h"

#define OBJECT_KEY_MAX 1024
/* owner ids and file names fit whole (common/limits.h); longer ones are
 * refused, never cut */
#define OBJECT_KEY_SEGMENT_MAX EQ_IDENTITY_MAX_BYTES

/* Copies `in` to out (outsz >= 2) as a safe key segment: "" or NULL becomes
 * `fallback`. Always NUL-terminates. -1 (EQ_ERR_LIMIT) when `in` is longer
 * than OBJECT_KEY_SEGMENT_MAX bytes or than out can hold: never cut. */
int object_key_segment(const char *in, const char *fallback, char *out, size_t outsz, eq_err *err) EQ_MUST;

/* The job's folder: prefix + owner + "/" + id + "-" + token + "/" (every
 * attempt's multipart uploads live under it). EQ_ERR_INVALID when the token
 * is not [A-Za-z0-9-]+ ; EQ_ERR_LIMIT when it does not fit. */
int object_key_dir(const char *prefix, const char *owner, long long job_id, const char *token,
                   char *out, size_t outsz, eq_err *err) EQ_MUST;

/* The full key: object_key_dir() + sanitised file name. */
int object_key_build(const char *prefix, const char *owner, long long job_id, const char *token,
                     const char *filename, char *out, size_t outsz, eq_err *err) EQ_MUST;

/* The file name part of a key (what follows its last '/'; the whole key when
 * there is none): the name a presigned link, a mail and `exportq presign`
 * give the download. Points into `key`; "" when the key ends with '/'. */
const char *object_key_basename(const char *key);

#endif
