/* export_query.c - see export_query.h */
#include "export/export_query.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/pg.h"
#include "export/export_kind.h"

#define QUERY_MAX (4 * 1024 * 1024) /* the xlsx select list grows with the columns */

void export_columns_cleanup(export_columns *c)
{
    if (!c)
        return;
    for (size_t i = 0; c->names && i < c->n; i++)
        free(c->names[i]);
    free(c->names);
    free(c->types);
    memset(c, 0, sizeof *c);
}

/* Resolves each column's type (domains to their base) into base[] and cols->types. */
static int column_types(PGconn *conn, const PGresult *desc, export_columns *cols, unsigned *base, eq_err *err)
{
    static const char sql[] =
        "WITH RECURSIVE b(orig, cur, depth) AS ("
        "  SELECT o, o, 0 FROM unnest($1::oid[]) o"
        "  UNION ALL SELECT b.orig, t.typbasetype, b.depth + 1 FROM b"
        "  JOIN pg_catalog.pg_type t ON t.oid = b.cur WHERE t.typtype = 'd' AND b.depth < 32)"
        " SELECT b.orig, b.cur FROM b JOIN pg_catalog.pg_type t ON t.oid = b.cur WHERE t.typtype <> 'd'";
    eq_buf arr;
    PGresult *res = NULL;
    const char *params[1];
    int rc = -1;

    eq_buf_init(&arr, QUERY_MAX);
    if (eq_buf_puts(&arr, "{", err) < 0)
        goto done;
    for (size_t i = 0; i < cols->n; i++) {
        if (eq_buf_printf(&arr, err, "%s%u", i ? "," : "", (unsigned)PQftype(desc, (int)i)) < 0)
            goto done;
    }
    if (eq_buf_puts(&arr, "}", err) < 0)
        goto done;
    params[0] = arr.data;
    if (eq_pg_exec(conn, "xlsx: column types", sql, 1, params, &res, err) < 0)
        goto done;
    for (size_t i = 0; i < cols->n; i++) {
        unsigned orig = (unsigned)PQftype(desc, (int)i);
        base[i] = orig;
        for (int r = 0; r < PQntuples(res); r++) {
            if ((unsigned)strtoul(PQgetvalue(res, r, 0), NULL, 10) == orig) {
                base[i] = (unsigned)strtoul(PQgetvalue(res, r, 1), NULL, 10);
                break;
            }
        }
        cols->types[i] = xlsx_type_of_oid(base[i]);
    }
    rc = 0;
done:
    PQclear(res);
    eq_buf_cleanup(&arr);
    return rc;
}

/* The select list of the xlsx statement: dates and timestamps in a fixed
 * form (UTC), everything else as COPY renders it. */
static int xlsx_select(eq_buf *q, const export_columns *cols, const unsigned *base, eq_err *err)
{
    for (size_t i = 0; i < cols->n; i++) {
        int rc;
        const char *sep = i ? ", " : "";
        size_t c = i + 1;
        if (cols->types[i] == XLSX_DATE)
            rc = eq_buf_printf(q, err,
                               "%sCASE WHEN t.c%zu::date >= '1900-01-01' AND t.c%zu::date < '10000-01-01' "
                               "THEN to_char(t.c%zu::date, 'YYYY-MM-DD') ELSE t.c%zu::text END",
                               sep, c, c, c, c);
        else if (cols->types[i] == XLSX_TIMESTAMP) {
            char x[64];
            if (base[i] == 1184) /* timestamptz: its UTC wall clock */
                snprintf(x, sizeof x, "(t.c%zu::timestamptz AT TIME ZONE 'UTC')", c);
            else
                snprintf(x, sizeof x, "t.c%zu::timestamp", c);
            rc = eq_buf_printf(q, err,
                               "%sCASE WHEN %s >= '1900-01-01' AND %s < '10000-01-01' "
                               "THEN to_char(%s, 'YYYY-MM-DD HH24:MI:SS.US') ELSE %s::text END",
                               sep, x, x, x, x);
        } else
            rc = eq_buf_printf(q, err, "%st.c%zu", sep, c);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int build_xlsx(PGconn *conn, const char *fn, const char *lit, eq_buf *q, export_columns *cols, eq_err *err)
{
    PGresult *res = NULL, *desc = NULL;
    unsigned *base = NULL;
    int rc = -1, n;
    eq_buf probe;

    eq_buf_init(&probe, QUERY_MAX);
    if (eq_buf_printf(&probe, err, "SELECT * FROM %s(%s::jsonb)", fn, lit) < 0)
        goto done;
    /* Parse + Describe: the result's columns, without running the function */
    res = PQprepare(conn, "", probe.data, 0, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        eq_pg_fail(conn, res, "xlsx: describing the export query", err);
        goto done;
    }
    desc = PQdescribePrepared(conn, "");
    if (PQresultStatus(desc) != PGRES_COMMAND_OK) {
        eq_pg_fail(conn, desc, "xlsx: describing the export query", err);
        goto done;
    }
    n = PQnfields(desc);
    if (n < 1 || n > XLSX_COLS_MAX) {
        eq_fail(err, EQ_ERR_INVALID, "xlsx: a sheet holds 1 to %d columns, the export has %d", XLSX_COLS_MAX, n);
        goto done;
    }
    cols->n = (size_t)n;
    cols->names = calloc(cols->n, sizeof *cols->names);
    cols->types = calloc(cols->n, sizeof *cols->types);
    base = calloc(cols->n, sizeof *base);
    if (!cols->names || !cols->types || !base) {
        eq_fail(err, EQ_ERR_NOMEM, "xlsx: out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        if (!(cols->names[i] = strdup(PQfname(desc, i)))) {
            eq_fail(err, EQ_ERR_NOMEM, "xlsx: out of memory");
            goto done;
        }
    }
    if (column_types(conn, desc, cols, base, err) < 0)
        goto done;
    if (eq_buf_puts(q, "COPY (SELECT ", err) < 0 || xlsx_select(q, cols, base, err) < 0 ||
        eq_buf_printf(q, err, " FROM %s(%s::jsonb) AS t(", fn, lit) < 0)
        goto done;
    for (int i = 0; i < n; i++) {
        if (eq_buf_printf(q, err, "%sc%d", i ? ", " : "", i + 1) < 0)
            goto done;
    }
    if (eq_buf_puts(q, ")) TO STDOUT", err) < 0)
        goto done;
    rc = 0;
done:
    free(base);
    PQclear(res);
    PQclear(desc);
    eq_buf_cleanup(&probe);
    if (rc < 0)
        export_columns_cleanup(cols);
    return rc;
}

int export_query_build(PGconn *conn, export_format f, const char *function_name, const char *params_json,
                       bool header, char **sql_out, export_columns *cols, eq_err *err)
{
    char *lit = NULL;
    eq_buf q;
    int rc = -1;

    *sql_out = NULL;
    memset(cols, 0, sizeof *cols);
    if (!export_function_name_valid(function_name))
        return eq_fail(err, EQ_ERR_INVALID, "export function name is not a quoted SQL name");
    if (export_params_check(params_json, err) < 0)
        return -1;
    lit = PQescapeLiteral(conn, params_json, strlen(params_json));
    if (!lit)
        return eq_pg_fail(conn, NULL, "quoting the parameters", err);
    eq_buf_init(&q, QUERY_MAX);
    switch (f) {
    case EXPORT_FORMAT_CSV:
    case EXPORT_FORMAT_TSV:
        rc = eq_buf_printf(&q, err, "COPY (SELECT * FROM %s(%s::jsonb)) TO STDOUT WITH (FORMAT csv, HEADER %s%s)",
                           function_name, lit, header ? "true" : "false",
                           f == EXPORT_FORMAT_TSV ? ", DELIMITER E'\\t'" : "");
        break;
    case EXPORT_FORMAT_JSONL:
        rc = eq_buf_printf(&q, err,
                           "COPY (SELECT to_jsonb(t.*)::text FROM (SELECT * FROM %s(%s::jsonb)) t) TO STDOUT "
                           "WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')",
                           function_name, lit);
        break;
    case EXPORT_FORMAT_XLSX:
        rc = build_xlsx(conn, function_name, lit, &q, cols, err);
        break;
    default:
        rc = eq_fail(err, EQ_ERR_INVALID, "unknown export format %d", (int)f);
        break;
    }
    if (rc == 0) {
        *sql_out = q.data; /* the buffer's storage becomes the caller's */
        q.data = NULL;
    }
    PQfreemem(lit);
    eq_buf_cleanup(&q);
    return rc;
}

int export_build_copy_sql(PGconn *conn, const char *function_name, const char *params_json,
                          bool header, char **sql_out, eq_err *err)
{
    export_columns cols;
    int rc = export_query_build(conn, EXPORT_FORMAT_CSV, function_name, params_json, header, sql_out, &cols, err);
    export_columns_cleanup(&cols);
    return rc;
}
