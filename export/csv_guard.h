/* csv_guard.h - the CSV formula-injection guard (pure, no I/O, no allocation).
 *
 * Spreadsheet programs execute a cell that starts with `=`, `+`, `-`, `@`, a
 * tab or a carriage return as a formula. The guard prefixes such a cell with a
 * single quote `'`, which spreadsheets display as text (OWASP "CSV Injection").
 * It understands RFC 4180 (as written by PostgreSQL's COPY ... (FORMAT csv)):
 *
 *   =x        -> '=x          (unquoted cell)
 *   "=x"      -> "'=x"        (quoted cell: the quote goes inside the quotes)
 *   "a,=b"    -> unchanged    (a comma inside quotes does not start a cell)
 *   ""        -> unchanged    (empty string), and an empty unquoted cell (NULL)
 *
 * An unquoted CR is taken as part of a CRLF record terminator, never as a cell
 * start (PostgreSQL quotes every value that contains CR or LF).
 *
 * The guard is a small state machine (csv_guard), so input may be cut anywhere:
 * a COPY chunk (one whole record), half a record, or several records. The
 * caller owns the csv_guard value; there is nothing to free.
 *
 * Worst-case expansion: each cell grows by at most one byte, and a guarded cell
 * takes at least one input byte plus a separator, so `len` input bytes give at
 * most CSV_GUARD_OUT_MAX(len) output bytes.
 */
#ifndef EXPORTQ_WORKER_CSV_GUARD_H
#define EXPORTQ_WORKER_CSV_GUARD_H

#include <stddef.h>
#include <stdint.h>

#define CSV_GUARD_OUT_MAX(len) ((len) + ((len) + 1) / 2)

typedef struct csv_guard {
    int state; /* private */
} csv_guard;

/* Starts at the beginning of a record (and so of a cell). */
void csv_guard_init(csv_guard *g);

/* Guards `len` bytes of `in` into `out` (at most `outcap` bytes) and advances
 * the state. Returns the number of bytes written, or SIZE_MAX when `out` is too
 * small (then nothing useful is in `out` and the state is unchanged).
 * outcap >= CSV_GUARD_OUT_MAX(len) always suffices. */
size_t csv_guard_feed(csv_guard *g, const char *in, size_t len, char *out, size_t outcap);

/* Guards one whole record (or any complete CSV text) from a fresh state:
 * csv_guard_init + csv_guard_feed. Returns bytes written or SIZE_MAX. */
size_t csv_guard_row(const char *in, size_t len, char *out, size_t outcap);

/* True for the bytes that make a spreadsheet cell a formula. */
int csv_guard_is_trigger(unsigned char c);

#endif
