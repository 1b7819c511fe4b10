/* export_split.h - the ranges of a parallel export (DESIGN.md "Parallel export").
 *
 * A kind opts in with options.split = "schema.fn", where
 * fn(params jsonb, n integer) RETURNS SETOF jsonb returns at most n parameter
 * objects, in output order, such that the export equals the concatenation of
 * kind_fn(params || p_1), ..., kind_fn(params || p_k) (the header once).
 *
 * export_split_plan() runs on a coordinating connection `coord` (idle, no
 * transaction): BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;
 * pg_export_snapshot(); then the split function inside that snapshot, with the
 * parameters as the kind function sees them (owner bound) and n. It leaves the
 * transaction open, so that the snapshot stays importable until every range
 * has started (export_spec.snapshot); export_split_release() ends it.
 *
 * Range i runs with params || p_i and the owner bound AFTER that
 * (export_open binds it), so a split function cannot change the owner. The
 * split function's name is checked (export_split_name_valid), resolved by the
 * catalog (schema-qualified, quote_ident, signature (jsonb, integer), SETOF
 * jsonb) and called with both arguments as parameters: never pasted SQL text.
 *
 * Ownership: export_split_free() frees the ranges (accepts a zeroed struct).
 */
#ifndef EXPORTQ_EXPORT_SPLIT_H
#define EXPORTQ_EXPORT_SPLIT_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

#define EXPORT_SPLIT_NAME_MAX 127     /* "schema.fn", bytes */
#define EXPORT_SPLIT_MAX_RANGES 1000  /* rows a split function may return */
#define EXPORT_SNAPSHOT_MAX 63

typedef struct export_split {
    char snapshot[EXPORT_SNAPSHOT_MAX + 1]; /* pg_export_snapshot() of coord */
    size_t n;                                /* ranges */
    char **ranges;                           /* params || p_i, JSON object texts (owner not bound) */
} export_split;

/* "schema.fn": two unquoted lower-case identifiers ([a-z_][a-z0-9_]*), at most
 * EXPORT_SPLIT_NAME_MAX bytes. The one rule (kind options, define_kind). */
bool export_split_name_valid(const char *s);

/* See above. `n` >= 1 is what the function is asked for (EXPORTQ_EXPORT_PARALLEL).
 * On failure the transaction is rolled back and *out is zeroed. */
int export_split_plan(PGconn *coord, const char *split_fn, const char *params_json, const char *owner, int n,
                      export_split *out, eq_err *err) EQ_MUST;

/* Ends the coordinating transaction (the snapshot is no longer importable). */
int export_split_release(PGconn *coord, eq_err *err) EQ_MUST;

void export_split_free(export_split *s);

#endif
