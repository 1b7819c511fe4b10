/* export_output.h - the output chain of one export, whatever its format:
 *
 *   csv, tsv, jsonl:  COPY record -> export_filter (BOM, guard, gzip) -> sink
 *   xlsx:             COPY record -> xlsx_writer (a workbook in a temporary
 *                     file under tmpdir) ... finish: the file -> sink
 *
 * The front end feeds records with write(), then calls finish() once and,
 * while it returns 1, drain() (one XLSX_CHUNK per call, so a front end with
 * a bounded buffer, like the HTTP stream, takes the workbook piece by piece).
 *
 * Ownership: export_output_new copies what it needs of its arguments;
 * export_output_free (accepts NULL) frees the chain and removes temporary
 * files. The sink context is never freed here.
 */
#ifndef EXPORTQ_EXPORT_OUTPUT_H
#define EXPORTQ_EXPORT_OUTPUT_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "export/export_filter.h"
#include "export/export_kind.h"
#include "export/export_query.h"

typedef struct export_output export_output;

/* o->format decides the chain; cols are the columns for xlsx (ignored for the
 * other formats); tmpdir: where xlsx builds its file (NULL: $TMPDIR or /tmp). */
int export_output_new(const export_options *o, const export_columns *cols, const char *tmpdir, export_sink_fn sink,
                      void *sink_ctx, export_output **out, eq_err *err) EQ_MUST;
/* One COPY record. */
int export_output_write(export_output *x, const void *data, size_t len, eq_err *err) EQ_MUST;
/* Pushes what is held (gzip: sync flush); a no-op for xlsx. */
int export_output_flush(export_output *x, eq_err *err) EQ_MUST;
/* Ends the input. Returns 0 when the sink has everything, 1 when drain() has
 * more to hand over (xlsx), -1 with err. Call once. */
int export_output_finish(export_output *x, eq_err *err) EQ_MUST;
/* One more piece to the sink: 1 more left, 0 done, -1 with err. */
int export_output_drain(export_output *x, eq_err *err) EQ_MUST;
/* Bytes handed to the sink so far. */
uint64_t export_output_bytes(const export_output *x);
/* A warning for the job ("" when none): cells cut in xlsx. */
void export_output_warning(const export_output *x, char *out, size_t outsz);
void export_output_free(export_output *x);

#endif
