/* schema.h - exportq's versioned SQL migrations (schema/NNN_name.sql), embedded
 * in the binary at build time (schema/CMakeLists.txt generates the table), and
 * the runner behind `exportq migrate`.
 *
 * The table is static, read-only data. schema_migrate() applies the missing
 * migrations in order, each in its own transaction recorded in
 * exportq.schema_migrations, under a session advisory lock so concurrent
 * runners serialise; running it again applies nothing.
 */
#ifndef EXPORTQ_SCHEMA_SCHEMA_H
#define EXPORTQ_SCHEMA_SCHEMA_H

#include <libpq-fe.h>
#include <stddef.h>

#include "common/error.h"

typedef struct schema_migration {
    int version;      /* NNN of the file name, strictly increasing */
    const char *name; /* the file name without NNN_ and .sql */
    const char *sql;  /* the file's text */
} schema_migration;

/* The embedded migrations in version order (generated). */
extern const schema_migration schema_migrations[];
extern const size_t schema_migrations_count;

/* Called once per migration applied, after its commit. */
typedef void (*schema_applied_fn)(const schema_migration *m, void *ud);

/* Applies the missing migrations on conn (owned by the caller; not in a
 * transaction). *applied (may be NULL) = how many were applied now. A
 * database that has a migration newer than this binary knows is refused. */
int schema_migrate(PGconn *conn, schema_applied_fn on_applied, void *ud, int *applied,
                   eq_err *err) EQ_MUST;

/* The highest version applied in the database (0 = none). */
int schema_current_version(PGconn *conn, int *version, eq_err *err) EQ_MUST;

#endif
