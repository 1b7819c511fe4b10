/* export.h - the one entry point of the streaming core.
 *
 * Every front end (the worker's S3 upload, `serve`'s GET /v1/stream/{kind},
 * `exportq stream`) runs an export the same way:
 *
 *   export_spec spec = {.conn = c, .function = k.function, .options = k.options,
 *                       .params_json = params, .owner = owner};
 *   export_open(&spec, sink, sink_ctx, &x, &err);      // owner bound, COPY sent
 *   for (;;) {
 *       int r = export_next(x, &err);                   // one record -> filters -> sink
 *       if (r == EXPORT_READY)            continue;     // (check your own backpressure)
 *       if (r == EXPORT_WOULD_BLOCK)      poll(export_socket(x), export_events(x));
 *       else if (r == EXPORT_DONE)        break;        // filters finished: output complete
 *       else                              fail with err;
 *   }
 *   export_close(x);
 *
 * export_open owns the rules every front end must share: the owner is bound
 * over the parameters (export_params_build: `owner` set by the server, NULL or
 * "" = no owner), the COPY statement is built from the catalog's function name
 * (export_build_copy_sql), and the output chain (BOM, formula guard, gzip) is
 * wired from the kind's options (export_filter). Nothing else in exportq
 * builds a COPY or a filter chain.
 *
 * Extension points (where later features plug in, without new front-end code):
 * - formats (csv, tsv, jsonl, xlsx; options.format): the statement
 *   (export_query) and the output (export_output) are chosen in one place
 *   (export.c: build_statement / build_chain). xlsx is built in a temporary
 *   file while the COPY runs; after it, export_next hands the file to the sink
 *   one piece per call (EXPORT_READY) before EXPORT_DONE;
 * - parallel ranges sharing a snapshot (export_split.h): spec->snapshot names
 *   an exported snapshot; export_open on each range's connection imports it
 *   (BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION
 *   SNAPSHOT) before the COPY, and export_close ends that transaction. k
 *   ranges are k export_open calls with the same spec but the range's params
 *   (and, after the first, header and bom off), stitched by the caller in order.
 *
 * Ownership: the stream borrows spec->conn (never PQfinish'es it; export_close
 * leaves it idle and reusable, cancelling an unfinished COPY) or, when
 * spec->conn is NULL, opens its own connection to spec->source_url and closes
 * it in export_close. Strings in spec are copied or used only during
 * export_open. The sink is called from export_next/export_flush only; the
 * stream never frees sink_ctx. export_close accepts NULL and half-built streams.
 */
#ifndef EXPORTQ_EXPORT_EXPORT_H
#define EXPORTQ_EXPORT_EXPORT_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "export/export_filter.h"
#include "export/export_kind.h"
#include "export/export_source.h" /* EXPORT_DONE, EXPORT_READY, EXPORT_WOULD_BLOCK */

typedef struct export_spec {
    PGconn *conn;            /* borrowed, idle source connection; or NULL and: */
    const char *source_url;  /*   a connection of its own to this URL */
    const char *app_role;    /* application_name suffix of an own connection ("stream") */
    const char *function;    /* the kind's function, as the catalog gives it (export_kind.function) */
    export_options options;  /* the kind's options; a front end may turn gzip on or off, and
                                sets options.format to the format of this export */
    const char *params_json; /* the caller's parameters, a JSON object text; NULL = {} */
    const char *owner;       /* bound as params.owner; NULL or "" = no owner */
    const char *snapshot;    /* a parallel range: the exported snapshot to import; NULL = none */
    const char *tmpdir;      /* xlsx: where the workbook is built (EXPORTQ_TMPDIR); NULL = $TMPDIR */
} export_spec;

typedef struct export_stream export_stream;

/* Binds the owner, builds the COPY, wires the filters to `sink` and sends the
 * query. EQ_ERR_INVALID for bad parameters, EQ_ERR_DB for the connection. */
int export_open(const export_spec *spec, export_sink_fn sink, void *sink_ctx, export_stream **out,
                eq_err *err) EQ_MUST;

/* Moves at most one record from the COPY through the filters into the sink.
 * Returns EXPORT_READY (one record went in), EXPORT_WOULD_BLOCK (wait for
 * export_events on export_socket), EXPORT_DONE (the COPY ended and the filters
 * were finished: the sink has the whole output; later calls return DONE), or
 * -1 with err set (the SQL error, the sink's error, or EQ_ERR_CANCELLED after
 * export_cancel). */
int export_next(export_stream *x, eq_err *err) EQ_MUST;

/* Pushes what the filters hold to the sink (gzip: a sync flush) when anything
 * was written since the last flush; a no-op otherwise. Use it when the source
 * would block and a reader is waiting. */
int export_flush(export_stream *x, eq_err *err) EQ_MUST;

/* The source socket and the poll(2) events to wait for after EXPORT_WOULD_BLOCK. */
int export_socket(const export_stream *x);
short export_events(const export_stream *x);

/* Asks the server to stop the query; thread- and async-signal-safe. */
int export_cancel(export_stream *x);

bool export_done(const export_stream *x);
uint64_t export_rows(const export_stream *x);      /* data rows so far */
uint64_t export_bytes_csv(const export_stream *x); /* COPY bytes so far (header included) */
uint64_t export_bytes_out(const export_stream *x); /* bytes handed to the sink so far */

/* A warning for the job once done ("" when none): xlsx cells cut at 32,767
 * characters. */
void export_warning(const export_stream *x, char *out, size_t outsz);

/* Frees the stream: cancels and drains an unfinished COPY, closes an own
 * connection. */
void export_close(export_stream *x);

#endif
