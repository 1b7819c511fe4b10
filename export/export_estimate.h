/* export_estimate.h - the planner's estimate of an export's rows: EXPLAIN
 * (FORMAT JSON) of the kind's SELECT, planned, never run. Cheap (planning
 * only); the worker records it when an attempt starts so that status can show
 * a percent (DESIGN.md "Position, ETA, progress, fairness"). */
#ifndef EXPORTQ_EXPORT_ESTIMATE_H
#define EXPORTQ_EXPORT_ESTIMATE_H

#include <libpq-fe.h>

#include "common/error.h"

/* *rows = "Plan Rows" of the top plan node of the SELECT that export_open()
 * would COPY (the owner bound over the parameters as there), on conn (the
 * source database; idle, not in a COPY). owner NULL or "" = none. */
int export_estimate_rows(PGconn *conn, const char *function_name, const char *params_json,
                         const char *owner, long long *rows, eq_err *err) EQ_MUST;

#endif
