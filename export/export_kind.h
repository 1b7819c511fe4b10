/* export_kind.h - export kinds: what an export runs, and with which options.
 *
 * A kind is a row of exportq.kinds(name, function text (a signature), filename,
 * options jsonb) naming a set-returning SQL function that takes one jsonb argument.
 * This module owns: the kind-name rules, the per-kind options (parsed from the
 * options jsonb), the parameter object given to the function (with the
 * server-set `owner`), and the one COPY statement an export runs:
 *
 *   COPY (SELECT * FROM schema.fn('{"owner":"u1",...}'::jsonb))
 *     TO STDOUT WITH (FORMAT csv, HEADER true)
 *
 * Parameters are one PQescapeLiteral-quoted literal: data, never SQL. The
 * function name is rendered by PostgreSQL itself (quote_ident on the catalog),
 * schema-qualified, so neither a user nor search_path can change what runs.
 *
 * export_kind is a plain value with bounded fields: nothing to free.
 * Strings returned through `char **` are malloc'ed; the caller frees them.
 */
#ifndef EXPORTQ_WORKER_EXPORT_KIND_H
#define EXPORTQ_WORKER_EXPORT_KIND_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "common/limits.h"
#include "export/export_format.h"

#define EXPORT_KIND_NAME_MAX EQ_KIND_MAX_BYTES         /* bytes, without the NUL */
#define EXPORT_KIND_FUNCTION_MAX 300                   /* "schema"."function", quoted */
#define EXPORT_KIND_FILENAME_MAX EQ_FILENAME_MAX_BYTES /* bytes, as in SQL; longer is refused */
#define EXPORT_GZIP_LEVEL_DEFAULT 6

typedef struct export_options {
    bool gzip;          /* "gzip": gzip-compress the CSV (default false) */
    int gzip_level;     /* "gzip_level": 1..9 (default 6) */
    bool bom;           /* "bom": start with a UTF-8 BOM for Excel (default false) */
    bool formula_guard; /* "formula_guard": prefix formula-like cells with ' (default false) */
    bool header;        /* "header": first line names the columns (default true) */
    export_format format; /* "format": the kind's default format (default csv); a front end
                             sets it to the format of this run (the job's, the Accept's) */
    unsigned formats;   /* "formats": the allowed formats, a set (default: all) */
    bool has_webhook;   /* "webhook_url": the kind's own webhook receiver (read by the queue) */
    char split[128];    /* "split": "schema.fn" naming the ranges of a parallel export; "" = none
                           (export_split.h) */
} export_options;

#define EXPORT_WEBHOOK_URL_MAX 2048

typedef struct export_kind {
    char name[EXPORT_KIND_NAME_MAX + 1];
    char function[EXPORT_KIND_FUNCTION_MAX + 1]; /* schema-qualified, quoted by PostgreSQL */
    char filename[EXPORT_KIND_FILENAME_MAX + 1]; /* "" when the kind has none */
    export_options options;
} export_kind;

/* Kind names, the one rule: what SQL accepts (exportq.kinds' CHECK and
 * define_kind), 1..EXPORT_KIND_NAME_MAX bytes of [a-z0-9_]. Every front end
 * (POST, the stream route, the CLI) checks names with this and nothing else. */
bool export_kind_name_valid(const char *name);

/* Parameter names, the one rule (HTTP query and body, --param): 1 to
 * EXPORT_PARAM_NAME_MAX bytes of [A-Za-z0-9_]. `n` bytes at `name`. */
#define EXPORT_PARAM_NAME_MAX 64
bool export_param_name_valid(const char *name, size_t n);

/* The defaults: no gzip (level 6), no BOM, no guard, header on, csv, every format. */
void export_options_default(export_options *o);

/* Parses the options jsonb text (NULL or "" means {}). Unknown keys and wrong
 * types are EQ_ERR_INVALID naming the key, so a typo in define_kind is caught. */
int export_options_parse(const char *json, export_options *o, eq_err *err) EQ_MUST;

/* Loads kind `name` from exportq.kinds on `conn` (blocking). EQ_ERR_INVALID
 * for a malformed name (checked before any query), EQ_ERR_NOT_FOUND for an
 * unknown kind, EQ_ERR_DB otherwise. */
int export_kind_get(PGconn *conn, const char *name, export_kind *k, eq_err *err) EQ_MUST;

/* The download file name for k->options.format: the kind's filename or
 * "<name>", its extension replaced by the format's (export_format_filename),
 * with ".gz" when gzip is on (never for xlsx). Always NUL-terminates `out`;
 * returns -1 (EQ_ERR_LIMIT) when it did not fit. */
int export_kind_filename(const export_kind *k, char *out, size_t outsz, eq_err *err) EQ_MUST;

/* The owner binding, the one rule: when there is an owner (not NULL, not ""),
 * params.owner is set to it, whatever the caller put there; without an owner
 * the parameters are left as they are. `params` must be a JSON object. */
int export_params_bind_owner(json_t *params, const char *owner, eq_err *err) EQ_MUST;

/* The parameters rule: params_json is JSON text of one object, without
 * duplicate keys. Returns 0, or -1 (EQ_ERR_INVALID) saying what is wrong. */
int export_params_check(const char *params_json, eq_err *err) EQ_MUST;

/* Builds the parameter object for the function: `params_json` (a JSON object
 * text; NULL means {}) with the owner bound (export_params_bind_owner).
 * *out is malloc'ed compact JSON with sorted keys (caller frees). */
int export_params_build(const char *params_json, const char *owner, char **out, eq_err *err) EQ_MUST;

/* True for a function name as the catalog renders it (quote_ident, at most
 * schema.name): `ident.ident`, each [a-z0-9_$]+ or "..." with "" escapes. */
bool export_function_name_valid(const char *s);

#endif
