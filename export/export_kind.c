/* export_kind.c - see export_kind.h */
#include "export/export_kind.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pg.h"
#include "export/export_split.h"

bool export_kind_name_valid(const char *name)
{
    /* exactly exportq.kinds' CHECK (name ~ '^[a-z0-9_]{1,64}$') */
    size_t n = name ? strlen(name) : 0;
    return n >= 1 && n <= EXPORT_KIND_NAME_MAX && strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

bool export_param_name_valid(const char *name, size_t n)
{
    static const char chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_";
    if (!name || n == 0 || n > EXPORT_PARAM_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!name[i] || !strchr(chars, name[i]))
            return false;
    return true;
}

void export_options_default(export_options *o)
{
    o->gzip = false;
    o->gzip_level = EXPORT_GZIP_LEVEL_DEFAULT;
    o->bom = false;
    o->formula_guard = false;
    o->header = true;
    o->format = EXPORT_FORMAT_CSV;
    o->formats = EXPORT_FORMATS_ALL;
    o->has_webhook = false;
    o->split[0] = '\0';
}

/* "formats": a non-empty JSON array of known format names. */
static int opt_formats(json_t *v, unsigned *out, eq_err *err)
{
    size_t i;
    json_t *e;
    unsigned set = 0;
    if (!json_is_array(v) || json_array_size(v) == 0)
        return eq_fail(err, EQ_ERR_INVALID, "kind option \"formats\" must be a non-empty array of format names");
    json_array_foreach(v, i, e) {
        export_format f;
        if (!json_is_string(e) || export_format_parse(json_string_value(e), &f, err) < 0)
            return eq_fail(err, EQ_ERR_INVALID,
                           "kind option \"formats\": every element must be one of csv, tsv, jsonl, xlsx");
        set |= EXPORT_FORMAT_BIT(f);
    }
    *out = set;
    return 0;
}

/* "webhook_url": an http(s) URL without control characters or spaces. */
static int opt_webhook(json_t *v, eq_err *err)
{
    const char *s = json_string_value(v);
    size_t n = s ? strlen(s) : 0;
    if (!s || n > EXPORT_WEBHOOK_URL_MAX || (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0))
        return eq_fail(err, EQ_ERR_INVALID, "kind option \"webhook_url\" must be an http:// or https:// URL");
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
            return eq_fail(err, EQ_ERR_INVALID, "kind option \"webhook_url\" must not contain spaces or control characters");
    }
    return 0;
}

static int opt_bool(json_t *v, const char *key, bool *out, eq_err *err)
{
    if (!json_is_boolean(v))
        return eq_fail(err, EQ_ERR_INVALID, "kind option \"%s\" must be true or false", key);
    *out = json_is_true(v);
    return 0;
}

int export_options_parse(const char *json, export_options *o, eq_err *err)
{
    json_error_t jerr;
    json_t *root, *v;
    const char *key;
    int rc = -1;

    export_options_default(o);
    if (!json || !*json)
        return 0;
    root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return eq_fail(err, EQ_ERR_INVALID, "kind options: invalid JSON: %s", jerr.text);
    if (!json_is_object(root)) {
        eq_fail(err, EQ_ERR_INVALID, "kind options must be a JSON object");
        goto fail;
    }
    json_object_foreach(root, key, v) {
        if (strcmp(key, "gzip") == 0) {
            if (opt_bool(v, key, &o->gzip, err) < 0)
                goto fail;
        } else if (strcmp(key, "bom") == 0) {
            if (opt_bool(v, key, &o->bom, err) < 0)
                goto fail;
        } else if (strcmp(key, "formula_guard") == 0) {
            if (opt_bool(v, key, &o->formula_guard, err) < 0)
                goto fail;
        } else if (strcmp(key, "header") == 0) {
            if (opt_bool(v, key, &o->header, err) < 0)
                goto fail;
        } else if (strcmp(key, "gzip_level") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 9) {
                eq_fail(err, EQ_ERR_INVALID, "kind option \"gzip_level\" must be an integer from 1 to 9");
                goto fail;
            }
            o->gzip_level = (int)json_integer_value(v);
        } else if (strcmp(key, "format") == 0) {
            if (!json_is_string(v) || export_format_parse(json_string_value(v), &o->format, err) < 0) {
                eq_fail(err, EQ_ERR_INVALID, "kind option \"format\" must be one of csv, tsv, jsonl, xlsx");
                goto fail;
            }
        } else if (strcmp(key, "formats") == 0) {
            if (opt_formats(v, &o->formats, err) < 0)
                goto fail;
        } else if (strcmp(key, "split") == 0) {
            if (!json_is_string(v) || !export_split_name_valid(json_string_value(v))) {
                eq_fail(err, EQ_ERR_INVALID, "kind option \"split\" must be schema.function (lower case)");
                goto fail;
            }
            snprintf(o->split, sizeof o->split, "%s", json_string_value(v));
        } else if (strcmp(key, "webhook_url") == 0) {
            if (opt_webhook(v, err) < 0)
                goto fail;
            o->has_webhook = true;
        } else {
            eq_fail(err, EQ_ERR_INVALID,
                    "unknown kind option \"%.64s\" (known: gzip, gzip_level, bom, formula_guard, header, format, formats, "
                    "webhook_url, split)", key);
            goto fail;
        }
    }
    if (!(o->formats & EXPORT_FORMAT_BIT(o->format))) {
        eq_fail(err, EQ_ERR_INVALID, "kind option \"format\" (%s) is not among \"formats\"", export_format_name(o->format));
        goto fail;
    }
    rc = 0;
fail:
    json_decref(root);
    return rc;
}

/* Copies a catalog value into a bounded field, refusing what does not fit. */
static int copy_field(char *dst, size_t dstsz, const char *src, const char *what, eq_err *err)
{
    size_t n = strlen(src);
    if (n >= dstsz)
        return eq_fail(err, EQ_ERR_INVALID, "kind %s is longer than %zu bytes", what, dstsz - 1);
    memcpy(dst, src, n + 1);
    return 0;
}

int export_kind_get(PGconn *conn, const char *name, export_kind *k, eq_err *err)
{
    /* quote_ident on the catalog: PostgreSQL renders the name, schema-qualified
     * so that the session's search_path cannot change which function runs. */
    static const char sql[] =
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(p.proname), k.filename, k.options::text"
        "  FROM exportq.kinds k"
        "  JOIN pg_catalog.pg_proc p ON p.oid = pg_catalog.to_regprocedure(k.function)"
        "  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace"
        " WHERE k.name = $1";
    const char *params[1] = {name};
    PGresult *res = NULL;
    int rc = -1;

    memset(k, 0, sizeof *k);
    export_options_default(&k->options);
    if (!export_kind_name_valid(name))
        return eq_fail(err, EQ_ERR_INVALID,
                       "invalid kind name (1 to %d lowercase letters, digits or '_')", EXPORT_KIND_NAME_MAX);
    if (eq_pg_exec(conn, "loading the export kind", sql, 1, params, &res, err) < 0)
        return -1;
    if (PQntuples(res) != 1) {
        eq_fail(err, EQ_ERR_NOT_FOUND, "unknown export kind '%s'", name);
        goto fail;
    }
    memcpy(k->name, name, strlen(name) + 1);
    if (copy_field(k->function, sizeof k->function, PQgetvalue(res, 0, 0), "function name", err) < 0)
        goto fail;
    if (!PQgetisnull(res, 0, 1) &&
        copy_field(k->filename, sizeof k->filename, PQgetvalue(res, 0, 1), "filename", err) < 0)
        goto fail;
    if (export_options_parse(PQgetvalue(res, 0, 2), &k->options, err) < 0)
        goto fail;
    rc = 0;
fail:
    if (rc < 0 && err)
        eq_err_context(err, "kind '%s'", name);
    PQclear(res);
    return rc;
}

int export_kind_filename(const export_kind *k, char *out, size_t outsz, eq_err *err)
{
    if (export_format_filename(k->filename, k->name, k->options.format, k->options.gzip, out, outsz, err) < 0)
        return eq_fail(err, EQ_ERR_LIMIT, "file name of kind '%s' is too long", k->name);
    return 0;
}

int export_params_bind_owner(json_t *params, const char *owner, eq_err *err)
{
    json_t *v;
    if (!owner || !*owner)
        return 0;
    if (!(v = json_string(owner)))
        return eq_fail(err, EQ_ERR_INVALID, "owner is not valid UTF-8");
    if (json_object_set_new(params, "owner", v) < 0)
        return eq_fail(err, EQ_ERR_NOMEM, "parameters: out of memory");
    return 0;
}

int export_params_build(const char *params_json, const char *owner, char **out, eq_err *err)
{
    json_error_t jerr;
    json_t *root = NULL;
    int rc = -1;

    *out = NULL;
    if (params_json && *params_json) {
        root = json_loads(params_json, JSON_REJECT_DUPLICATES, &jerr);
        if (!root)
            return eq_fail(err, EQ_ERR_INVALID, "parameters: invalid JSON: %s", jerr.text);
        if (!json_is_object(root)) {
            eq_fail(err, EQ_ERR_INVALID, "parameters must be a JSON object");
            goto fail;
        }
    } else if (!(root = json_object())) {
        return eq_fail(err, EQ_ERR_NOMEM, "parameters: out of memory");
    }
    if (export_params_bind_owner(root, owner, err) < 0)
        goto fail;
    *out = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    if (!*out) {
        eq_fail(err, EQ_ERR_NOMEM, "parameters: out of memory");
        goto fail;
    }
    rc = 0;
fail:
    json_decref(root);
    return rc;
}

/* Defence in depth: the function text comes from the catalog via quote_ident,
 * so it is `ident.ident` where each ident is [a-z0-9_$]+ or "..." with ""
 * escapes. Anything else is refused rather than pasted into SQL. */
bool export_function_name_valid(const char *s)
{
    int parts = 0;
    if (!s || !*s || strlen(s) > EXPORT_KIND_FUNCTION_MAX)
        return false;
    for (;;) {
        if (*s == '"') {
            s++;
            for (;;) {
                if (*s == '\0')
                    return false;
                if (*s == '"') {
                    if (s[1] == '"') {
                        s += 2;
                        continue;
                    }
                    s++;
                    break;
                }
                s++;
            }
        } else {
            size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_$");
            if (n == 0 || (*s >= '0' && *s <= '9') || *s == '$')
                return false;
            s += n;
        }
        parts++;
        if (*s == '\0')
            return parts <= 3;
        if (*s != '.')
            return false;
        s++;
    }
}

int export_params_check(const char *params_json, eq_err *err)
{
    json_error_t jerr;
    json_t *check = json_loads(params_json ? params_json : "", JSON_REJECT_DUPLICATES, &jerr);
    if (!check)
        return eq_fail(err, EQ_ERR_INVALID, "parameters: invalid JSON: %s", jerr.text);
    if (!json_is_object(check)) {
        json_decref(check);
        return eq_fail(err, EQ_ERR_INVALID, "parameters must be a JSON object");
    }
    json_decref(check);
    return 0;
}
