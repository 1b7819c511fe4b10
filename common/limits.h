/* limits.h - the byte limits of identities, one constant each, shared by every
 * module (and equal to the SQL side's exportq.identity_max_bytes() and
 * exportq.filename_max_bytes() of schema/003_identity_mail.sql; the test
 * it.queue_input checks that they agree).
 *
 * An identity (owner id, dedupe or idempotency key) is never cut to fit a
 * buffer: a value longer than its limit is refused, wherever it comes from
 * (user input, the database, a JWT claim). Buffers are sized LIMIT + 1.
 */
#ifndef EXPORTQ_COMMON_LIMITS_H
#define EXPORTQ_COMMON_LIMITS_H

#define EQ_IDENTITY_MAX_BYTES 256 /* owner ids, dedupe and idempotency keys */
#define EQ_FILENAME_MAX_BYTES 200 /* a kind's file name (room left for .gz and extensions) */
#define EQ_KIND_MAX_BYTES 64      /* kind names: 1..64 of [a-z0-9_] in SQL */
#define EQ_EMAIL_MAX_BYTES 254    /* RFC 5321 forward path; ASCII only */

#endif
