/* export_split.c - see export_split.h */
#include "export/export_split.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pg.h"
#include "export/export_kind.h"

static size_t ident_len(const char *s)
{
    size_t n = 0;
    if (!((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
        return 0;
    while ((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '_')
        n++;
    return n;
}

bool export_split_name_valid(const char *s)
{
    size_t a, b;
    if (!s || strlen(s) > EXPORT_SPLIT_NAME_MAX)
        return false;
    a = ident_len(s);
    if (a == 0 || s[a] != '.')
        return false;
    b = ident_len(s + a + 1);
    return b > 0 && s[a + 1 + b] == '\0';
}

void export_split_free(export_split *s)
{
    if (!s)
        return;
    for (size_t i = 0; s->ranges && i < s->n; i++)
        free(s->ranges[i]);
    free(s->ranges);
    memset(s, 0, sizeof *s);
}

int export_split_release(PGconn *coord, eq_err *err)
{
    if (PQtransactionStatus(coord) == PQTRANS_IDLE)
        return 0;
    return eq_pg_exec(coord, "parallel export: ending the snapshot", "ROLLBACK", 0, NULL, NULL, err);
}

/* params || p: the keys of p replace the caller's; malloc'ed compact text. */
static int merge(const char *params_json, const char *p_text, char **out, eq_err *err)
{
    json_error_t jerr;
    json_t *root = NULL, *p = NULL;
    int rc = -1;
    *out = NULL;
    root = params_json && *params_json ? json_loads(params_json, JSON_REJECT_DUPLICATES, &jerr) : json_object();
    p = json_loads(p_text, 0, &jerr);
    if (!root || !json_is_object(root)) {
        eq_fail(err, EQ_ERR_INVALID, "parameters must be a JSON object");
        goto done;
    }
    if (!p || !json_is_object(p)) {
        eq_fail(err, EQ_ERR_INVALID, "the split function returned a value that is not a JSON object");
        goto done;
    }
    if (json_object_update(root, p) < 0 || !(*out = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS))) {
        eq_fail(err, EQ_ERR_NOMEM, "parallel export: out of memory");
        goto done;
    }
    rc = 0;
done:
    json_decref(root);
    json_decref(p);
    return rc;
}

/* The split function as the catalog names it, quoted, schema-qualified. */
static int resolve(PGconn *coord, const char *split_fn, char *fn, size_t fnsz, eq_err *err)
{
    static const char sql[] =
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(p.proname)"
        "  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace"
        " WHERE p.oid = pg_catalog.to_regprocedure($1 || '(pg_catalog.jsonb, pg_catalog.int4)')"
        "   AND p.proretset AND p.prorettype = 'pg_catalog.jsonb'::pg_catalog.regtype AND p.prokind = 'f'";
    const char *params[1] = {split_fn};
    PGresult *res = NULL;
    int rc = -1;
    if (eq_pg_exec(coord, "parallel export: the split function", sql, 1, params, &res, err) < 0)
        return -1;
    if (PQntuples(res) != 1) {
        eq_fail(err, EQ_ERR_INVALID, "split function %s(jsonb, integer) RETURNS SETOF jsonb does not exist", split_fn);
        goto done;
    }
    if (strlen(PQgetvalue(res, 0, 0)) >= fnsz || !export_function_name_valid(PQgetvalue(res, 0, 0))) {
        eq_fail(err, EQ_ERR_INVALID, "split function name is not a quoted SQL name");
        goto done;
    }
    snprintf(fn, fnsz, "%s", PQgetvalue(res, 0, 0));
    rc = 0;
done:
    PQclear(res);
    return rc;
}

static int call_split(PGconn *coord, const char *fn, const char *params_json, const char *bound, int n,
                      export_split *out, eq_err *err)
{
    char sql[EXPORT_KIND_FUNCTION_MAX + 128], nbuf[16];
    const char *params[2] = {bound, nbuf};
    PGresult *res = NULL;
    int rows, rc = -1;

    snprintf(nbuf, sizeof nbuf, "%d", n);
    snprintf(sql, sizeof sql, "SELECT r::text FROM %s($1::pg_catalog.jsonb, $2::pg_catalog.int4) AS r LIMIT %d", fn,
             EXPORT_SPLIT_MAX_RANGES + 1);
    if (eq_pg_exec(coord, "parallel export: running the split function", sql, 2, params, &res, err) < 0)
        return -1;
    rows = PQntuples(res);
    if (rows > EXPORT_SPLIT_MAX_RANGES) {
        eq_fail(err, EQ_ERR_INVALID, "the split function returned more than %d ranges", EXPORT_SPLIT_MAX_RANGES);
        goto done;
    }
    if (rows > 0 && !(out->ranges = calloc((size_t)rows, sizeof *out->ranges))) {
        eq_fail(err, EQ_ERR_NOMEM, "parallel export: out of memory");
        goto done;
    }
    for (int i = 0; i < rows; i++) {
        if (PQgetisnull(res, i, 0)) {
            eq_fail(err, EQ_ERR_INVALID, "the split function returned NULL as range %d", i + 1);
            goto done;
        }
        if (merge(params_json, PQgetvalue(res, i, 0), &out->ranges[i], err) < 0)
            goto done;
        out->n++;
    }
    rc = 0;
done:
    PQclear(res);
    return rc;
}

int export_split_plan(PGconn *coord, const char *split_fn, const char *params_json, const char *owner, int n,
                      export_split *out, eq_err *err)
{
    char fn[EXPORT_KIND_FUNCTION_MAX + 1];
    char *bound = NULL;
    PGresult *res = NULL;
    eq_err e;
    int rc = -1;

    memset(out, 0, sizeof *out);
    if (!export_split_name_valid(split_fn))
        return eq_fail(err, EQ_ERR_INVALID, "kind option \"split\" must be schema.function (lower case)");
    if (n < 1)
        n = 1;
    /* the parameters as the kind function sees them: the owner bound */
    if (export_params_build(params_json, owner && *owner ? owner : NULL, &bound, err) < 0)
        return -1;
    if (eq_pg_exec(coord, "parallel export: BEGIN", "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", 0, NULL,
                   NULL, err) < 0)
        goto done;
    if (eq_pg_exec(coord, "parallel export: exporting the snapshot", "SELECT pg_catalog.pg_export_snapshot()", 0,
                   NULL, &res, err) < 0)
        goto done;
    if (PQntuples(res) != 1 || strlen(PQgetvalue(res, 0, 0)) > EXPORT_SNAPSHOT_MAX) {
        eq_fail(err, EQ_ERR_DB, "parallel export: unexpected snapshot name");
        goto done;
    }
    snprintf(out->snapshot, sizeof out->snapshot, "%s", PQgetvalue(res, 0, 0));
    if (resolve(coord, split_fn, fn, sizeof fn, err) < 0 || call_split(coord, fn, params_json, bound, n, out, err) < 0)
        goto done;
    rc = 0;
done:
    PQclear(res);
    free(bound);
    if (rc < 0) {
        if (export_split_release(coord, &e) < 0) {
            /* the connection is broken: the caller drops it */
        }
        export_split_free(out);
    }
    return rc;
}
