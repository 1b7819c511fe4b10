/* export_query.h - the one COPY statement an export runs, per format.
 *
 *   csv   COPY (SELECT * FROM fn(P::jsonb)) TO STDOUT WITH (FORMAT csv, HEADER h)
 *   tsv   the same WITH (FORMAT csv, HEADER h, DELIMITER E'\t')
 *   jsonl COPY (SELECT to_jsonb(t.*)::text FROM (SELECT * FROM fn(P::jsonb)) t)
 *           TO STDOUT WITH (FORMAT csv, QUOTE E'\x01', DELIMITER E'\x02')
 *         (t.* is the whole row even when a column is named t.)
 *         PostgreSQL renders each row as JSON itself (to_jsonb: numbers stay
 *         numbers, json/jsonb nested, NULL null). The CSV options with a quote
 *         and a delimiter that JSON text never holds raw (it escapes every
 *         control character) make COPY pass the JSON through byte for byte:
 *         one object and "\n" per row, no COPY escaping to undo.
 *   xlsx  COPY (SELECT e1, ..., en FROM fn(P::jsonb) AS t(c1, ..., cn)) TO STDOUT
 *         (text format). The columns' names and types come first from the
 *         statement's description (Parse/Describe: nothing runs), domains
 *         resolved to their base type; ei renders dates and timestamps in a
 *         fixed form in UTC whatever the session's DateStyle and TimeZone.
 *
 * P is the parameters as one PQescapeLiteral-quoted literal (data, never
 * SQL); fn is the catalog's quoted name (export_function_name_valid).
 * The describe step is a blocking round trip on `conn` (idle, blocking mode).
 *
 * Ownership: *sql_out is malloc'ed (caller frees); cols (xlsx only; zeroed
 * otherwise) is caller-allocated, its arrays freed by export_columns_cleanup
 * (accepts a zeroed struct, may be called twice).
 */
#ifndef EXPORTQ_EXPORT_QUERY_H
#define EXPORTQ_EXPORT_QUERY_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "export/export_format.h"
#include "export/format_xlsx.h"

typedef struct export_columns {
    size_t n;
    char **names;      /* n column names, as the function declares them */
    xlsx_type *types;  /* n cell types */
} export_columns;

int export_query_build(PGconn *conn, export_format f, const char *function_name, const char *params_json,
                       bool header, char **sql_out, export_columns *cols, eq_err *err) EQ_MUST;

void export_columns_cleanup(export_columns *c);

/* The csv statement of export_query_build() (no columns to describe), for
 * callers that want the plain CSV COPY (the estimate, the source tests).
 * *sql_out is malloc'ed (caller frees). */
int export_build_copy_sql(PGconn *conn, const char *function_name, const char *params_json,
                          bool header, char **sql_out, eq_err *err) EQ_MUST;

#endif
