/* export_filter.h - the streaming output chain of an export:
 *
 *     CSV bytes -> [UTF-8 BOM] -> [formula guard] -> [gzip] -> sink
 *
 * Each stage is on when the kind's export_options says so and the format
 * (options->format) has it: the BOM and the guard (',' or tab delimited) for
 * csv and tsv, gzip for csv, tsv and jsonl. (xlsx output does not come here.) Memory is fixed:
 * at most two EXPORT_FILTER_BUF_SIZE buffers plus zlib's state (~256 KiB at
 * level 6), whatever the size of a record or of the export. With no option on,
 * write() passes the caller's bytes straight to the sink (no copy).
 *
 * The formula guard keeps its RFC 4180 state across writes, so input may be
 * cut anywhere (a COPY chunk is one record). The BOM goes out once, before the
 * first byte (also for an empty export), ahead of the guard. gzip output is a
 * standard gzip member (RFC 1952), complete after export_filter_finish().
 *
 * The sink receives bytes in order; `data` is valid only during the call. It
 * returns 0, or -1 with err set, which stops the chain (write/finish return
 * -1 with that error). Without gzip every write() reaches the sink before it
 * returns; with gzip, output is held until the buffer fills, flush() or finish().
 *
 * Ownership: export_filter_new allocates; export_filter_free (accepts NULL and
 * half-built filters) frees. The filter never frees `ctx`.
 */
#ifndef EXPORTQ_WORKER_EXPORT_FILTER_H
#define EXPORTQ_WORKER_EXPORT_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "export/export_kind.h"

#define EXPORT_FILTER_BUF_SIZE (64 * 1024)

typedef int (*export_sink_fn)(void *ctx, const void *data, size_t len, eq_err *err);

typedef struct export_filter export_filter;

int export_filter_new(const export_options *o, export_sink_fn sink, void *ctx, export_filter **out,
                      eq_err *err) EQ_MUST;
int export_filter_write(export_filter *f, const void *data, size_t len, eq_err *err) EQ_MUST;
/* Pushes everything written so far to the sink; with gzip a Z_SYNC_FLUSH, so a
 * streaming client can decompress all of it now (costs a few bytes; use it
 * when the source would block, not after every record). */
int export_filter_flush(export_filter *f, eq_err *err) EQ_MUST;
/* Ends the output (gzip trailer) and pushes it to the sink. Call once. */
int export_filter_finish(export_filter *f, eq_err *err) EQ_MUST;
/* Bytes handed to the sink so far (what the user downloads). */
uint64_t export_filter_bytes_out(const export_filter *f);
void export_filter_free(export_filter *f);

#endif
