/* format_xlsx.h - an export as an Excel workbook (.xlsx), with libxlsxwriter.
 *
 * Input: the rows of COPY ... TO STDOUT in text format (one record per call:
 * tab-separated, \N for NULL, backslash escapes), from the statement that
 * export_query builds for xlsx, which renders dates and timestamps as
 * "YYYY-MM-DD" and "YYYY-MM-DD HH:MM:SS.US" in UTC. Each column has a type
 * (from the query's result description) that decides its cells:
 *
 *   integers (int2, int4, oid)   number
 *   int8                          number when |v| <= 2^53, else text (exact)
 *   float4/8, numeric             number when finite and at most 15 significant
 *                                 digits, else text (exact)
 *   boolean                       TRUE/FALSE
 *   date, timestamp(tz)           a date cell (yyyy-mm-dd, yyyy-mm-dd hh:mm:ss),
 *                                 in UTC; outside 1900..9999 as text
 *   everything else               a string cell (never a formula)
 *
 * NULL is an empty cell (and so is an empty string: Excel has no other).
 * A string past Excel's 32,767 characters is cut there (at a UTF-8 boundary,
 * counting UTF-16 units as Excel does) and counted in the warning. The header
 * (bold) is repeated on every sheet; a sheet holds 1,048,575 data rows, then
 * the next sheet ("Sheet2", ...) begins.
 *
 * Memory: libxlsxwriter's constant_memory mode keeps one row in memory and
 * writes each sheet to a temporary file in `tmpdir`; the workbook itself is
 * built in a temporary file there too, which finish() zips and then drain()
 * hands to the sink, XLSX_CHUNK bytes per call. Temporary files are unlinked
 * by xlsx_writer_free() (and never outlive the process: the workbook file is
 * created with mkstemp and removed on every path).
 *
 * Ownership: xlsx_writer_new() copies names/types; the caller frees the writer
 * with xlsx_writer_free() (accepts NULL and half-built writers). The sink is
 * called from xlsx_writer_drain() only.
 */
#ifndef EXPORTQ_EXPORT_FORMAT_XLSX_H
#define EXPORTQ_EXPORT_FORMAT_XLSX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "export/export_filter.h" /* export_sink_fn */

#define XLSX_CHUNK (64 * 1024)
#define XLSX_SHEET_ROWS 1048575u /* data rows per sheet: Excel's 1,048,576 minus the header */
#define XLSX_CELL_MAX 32767      /* Excel's longest cell text, in UTF-16 units */
#define XLSX_COLS_MAX 16384

typedef enum xlsx_type {
    XLSX_TEXT = 0,
    XLSX_BOOL,
    XLSX_INT,     /* int2, int4, oid */
    XLSX_INT8,
    XLSX_FLOAT,   /* float4, float8 */
    XLSX_NUMERIC,
    XLSX_DATE,
    XLSX_TIMESTAMP, /* timestamp and timestamptz, rendered in UTC */
} xlsx_type;

typedef struct xlsx_writer xlsx_writer;

/* The cell type of a PostgreSQL base type oid (a domain's base type). */
xlsx_type xlsx_type_of_oid(unsigned int oid);

/* Creates the workbook in a temporary file under tmpdir (NULL: $TMPDIR or
 * /tmp). `names` and `types` have ncols (1..XLSX_COLS_MAX) entries. */
int xlsx_writer_new(const char *tmpdir, size_t ncols, const char *const *names, const xlsx_type *types,
                    bool header, export_sink_fn sink, void *sink_ctx, xlsx_writer **out, eq_err *err) EQ_MUST;

/* One COPY text-format record (with or without its final newline). */
int xlsx_writer_row(xlsx_writer *w, const char *rec, size_t len, eq_err *err) EQ_MUST;

/* Ends the input: writes the workbook file (the zip). Call once. */
int xlsx_writer_finish(xlsx_writer *w, eq_err *err) EQ_MUST;

/* After finish: hands the next chunk of the file to the sink. Returns 1 when
 * more is left, 0 when the whole file went out, -1 with err. */
int xlsx_writer_drain(xlsx_writer *w, eq_err *err) EQ_MUST;

uint64_t xlsx_writer_rows(const xlsx_writer *w);
uint64_t xlsx_writer_bytes_out(const xlsx_writer *w);
/* Cells cut to XLSX_CELL_MAX so far; the message (for the job) into out:
 * "3 cells longer than 32,767 characters were cut (first: row 12, column
 * "body")"; "" when none. */
uint64_t xlsx_writer_cut_cells(const xlsx_writer *w);
void xlsx_writer_warning(const xlsx_writer *w, char *out, size_t outsz);

void xlsx_writer_free(xlsx_writer *w);

#endif
