/* export_format.h - the output formats of an export (DESIGN.md "Formats"):
 *
 *   csv   text/csv                     RFC 4180, as COPY (FORMAT csv) writes it (the default)
 *   tsv   text/tab-separated-values    the same with a tab as the delimiter (quoted cells
 *                                      when a value holds a tab, quote, CR or LF)
 *   jsonl application/x-ndjson         one JSON object per row: to_jsonb() of the row
 *   xlsx  application/vnd.openxmlformats-officedocument.spreadsheetml.sheet
 *
 * Which stage applies to which format: the UTF-8 BOM and the formula guard to
 * csv and tsv only, gzip to all but xlsx (already a zip).
 *
 * A kind may restrict the formats (options.formats, a set) and name its
 * default (options.format, else csv). A job names its format (SQL, HTTP
 * "format", CLI --format); the stream chooses by the Accept header.
 * Pure functions, no allocation.
 */
#ifndef EXPORTQ_EXPORT_FORMAT_H
#define EXPORTQ_EXPORT_FORMAT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

typedef enum export_format {
    EXPORT_FORMAT_CSV = 0,
    EXPORT_FORMAT_TSV,
    EXPORT_FORMAT_JSONL,
    EXPORT_FORMAT_XLSX,
    EXPORT_FORMAT_COUNT
} export_format;

/* A set of formats: bit (1u << format). */
#define EXPORT_FORMAT_BIT(f) (1u << (unsigned)(f))
#define EXPORT_FORMATS_ALL ((1u << EXPORT_FORMAT_COUNT) - 1u)

const char *export_format_name(export_format f);      /* "csv" */
const char *export_format_mime(export_format f);      /* "text/csv" */
const char *export_format_extension(export_format f); /* ".csv" */

/* Parses a format name ("csv", "tsv", "jsonl", "xlsx"; exact, lower case).
 * -1 (EQ_ERR_INVALID naming the known formats) otherwise. */
int export_format_parse(const char *name, export_format *out, eq_err *err) EQ_MUST;

bool export_format_has_bom(export_format f);   /* csv, tsv */
bool export_format_has_guard(export_format f); /* csv, tsv */
bool export_format_has_gzip(export_format f);  /* all but xlsx */

/* Content negotiation on the stream: chooses among `allowed` (a set) by the
 * HTTP Accept header with q-values (RFC 9110 12.5.1). NULL, empty, or a
 * header whose best match is shared by several formats (a star range) gives `dflt`
 * when dflt is among the best, else the first best in csv, tsv, jsonl, xlsx
 * order. Returns 0 with *out set, or -1 when no allowed format is acceptable
 * (406). A malformed element is skipped, as browsers' odd headers are. */
int export_format_negotiate(const char *accept, unsigned allowed, export_format dflt, export_format *out);

/* The download file name: `filename` (the kind's, may be "" or NULL) or
 * `kind_name`, with its format extension replaced by f's (".csv" ->
 * ".xlsx"; a name without a known extension gets one appended), and ".gz"
 * when gzip is on and f can be gzipped. Always NUL-terminates `out`;
 * EQ_ERR_LIMIT when it did not fit. */
int export_format_filename(const char *filename, const char *kind_name, export_format f, bool gzip, char *out,
                           size_t outsz, eq_err *err) EQ_MUST;

#endif
