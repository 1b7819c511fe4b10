/* pg.h - small helpers over libpq shared by the queue, the export core and the API.
 *
 * eq_pg_connect() returns a connection the caller owns (PQfinish). The helpers
 * that take a PGresult never free it unless they say so.
 */
#ifndef EXPORTQ_COMMON_PG_H
#define EXPORTQ_COMMON_PG_H

#include <libpq-fe.h>
#include <stddef.h>
#include "common/error.h"

/* Connects with application_name=exportq-<role>; the URL never appears in the error. */
int eq_pg_connect(const char *url, const char *role, PGconn **out, eq_err *err) EQ_MUST;

/* Removes secrets from a libpq message in msg[cap] (in place): the password
 * of `conn` (may be NULL) and every password of the conninfo/URI text
 * `conninfo` (may be NULL), raw and percent-decoded, become "***"; when libpq
 * cannot parse `conninfo`, every "quoted" piece of the message is blanked too
 * (its parse errors quote the text, e.g. "invalid percent-encoded token"). */
void eq_pg_redact(PGconn *conn, const char *conninfo, char *msg, size_t cap);

/* Fills err from a failed result (or the connection's message when res is NULL),
 * prefixed by `what`; marks it retryable for connection loss, serialization and
 * deadlock errors. Does not PQclear. Returns -1. */
int eq_pg_fail(PGconn *conn, const PGresult *res, const char *what, eq_err *err);

/* Runs a parameterised statement and checks it succeeded (COMMAND_OK or
 * TUPLES_OK). On success *out is the result (caller PQclears); on failure the
 * result is cleared and err filled. `out` may be NULL when rows are not needed. */
int eq_pg_exec(PGconn *conn, const char *what, const char *sql, int nparams,
               const char *const *params, PGresult **out, eq_err *err) EQ_MUST;

/* True when the connection is gone (the caller should reconnect). */
int eq_pg_broken(PGconn *conn);

#endif
