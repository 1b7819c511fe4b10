/* export_estimate.c - the planner's row estimate of an export; see export_estimate.h */
#include "export/export_estimate.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pg.h"
#include "export/export_kind.h"
#include "export/export_query.h"

#define COPY_HEAD "COPY ("
#define COPY_TAIL ") TO STDOUT"

int export_estimate_rows(PGconn *conn, const char *function_name, const char *params_json,
                         const char *owner, long long *rows, eq_err *err)
{
    char *params = NULL, *copy = NULL, *sql = NULL, *tail;
    PGresult *res = NULL;
    json_t *doc = NULL, *plan_rows;
    json_error_t jerr;
    size_t n;
    int rc = -1;

    *rows = -1;
    /* the COPY statement validates the name and quotes the parameters: plan its SELECT */
    if (export_params_build(params_json ? params_json : "{}", owner && *owner ? owner : NULL, &params, err) < 0)
        return -1;
    if (export_build_copy_sql(conn, function_name, params, false, &copy, err) < 0)
        goto out;
    tail = strstr(copy, COPY_TAIL);
    if (strncmp(copy, COPY_HEAD, strlen(COPY_HEAD)) != 0 || !tail) {
        eq_fail(err, EQ_ERR_DB, "estimate: unexpected COPY statement");
        goto out;
    }
    *tail = '\0';
    n = strlen(copy) + 32;
    if (!(sql = malloc(n))) {
        eq_fail(err, EQ_ERR_NOMEM, "estimate: out of memory");
        goto out;
    }
    snprintf(sql, n, "EXPLAIN (FORMAT JSON) %s", copy + strlen(COPY_HEAD));
    if (eq_pg_exec(conn, "estimate the export's rows", sql, 0, NULL, &res, err) < 0)
        goto out;
    doc = json_loads(PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "", 0, &jerr);
    plan_rows = json_object_get(json_object_get(json_array_get(doc, 0), "Plan"), "Plan Rows");
    if (!json_is_number(plan_rows)) {
        eq_fail(err, EQ_ERR_DB, "estimate: no \"Plan Rows\" in EXPLAIN's output");
        goto out;
    }
    *rows = (long long)json_number_value(plan_rows);
    rc = 0;
out:
    json_decref(doc);
    PQclear(res);
    free(sql);
    free(copy);
    free(params);
    return rc;
}
