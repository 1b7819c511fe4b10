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
 * A plain number is not a formula: an unquoted cell that is a whole decimal
 * number with a sign (`-420.81`, `+1e5`) is left alone, so amounts stay
 * numbers in a spreadsheet. Deciding that needs the end of the cell, so the
 * guard holds back a cell that starts with `+` or `-` (at most
 * CSV_GUARD_PEND_MAX bytes; a longer one is prefixed) until its end, which may
 * come in a later feed; csv_guard_finish() releases a cell held at the end of
 * the input. (PostgreSQL never quotes a number, so quoted cells are always
 * judged by their first byte.)
 *
 * The delimiter is ',' (csv) or '\t' (tsv, quoted the same way).
 *
 * The guard is a small state machine (csv_guard), so input may be cut anywhere:
 * a COPY chunk (one whole record), half a record, or several records. The
 * caller owns the csv_guard value; there is nothing to free.
 *
 * Worst-case expansion: each cell grows by at most one byte, and a guarded cell
 * takes at least one input byte plus a separator; a feed may also release a
 * cell held back by the previous one. So `len` input bytes give at most
 * CSV_GUARD_OUT_MAX(len) output bytes.
 */
#ifndef EXPORTQ_WORKER_CSV_GUARD_H
#define EXPORTQ_WORKER_CSV_GUARD_H

#include <stddef.h>
#include <stdint.h>

#define CSV_GUARD_PEND_MAX 64 /* longest signed cell still judged a number */
#define CSV_GUARD_OUT_MAX(len) ((len) + ((len) + 1) / 2 + CSV_GUARD_PEND_MAX + 1)

typedef struct csv_guard { /* private */
    int state;
    char delim;
    unsigned char npend;
    char pend[CSV_GUARD_PEND_MAX];
} csv_guard;

/* Starts at the beginning of a record (and so of a cell); delimiter ','. */
void csv_guard_init(csv_guard *g);
/* The same with another delimiter ('\t' for tsv). */
void csv_guard_init_delim(csv_guard *g, char delim);

/* Guards `len` bytes of `in` into `out` (at most `outcap` bytes) and advances
 * the state. Returns the number of bytes written, or SIZE_MAX when `out` is too
 * small (then nothing useful is in `out` and the state is unchanged).
 * outcap >= CSV_GUARD_OUT_MAX(len) always suffices. */
size_t csv_guard_feed(csv_guard *g, const char *in, size_t len, char *out, size_t outcap);

/* The end of the input: releases a held-back cell (at most
 * CSV_GUARD_PEND_MAX + 1 bytes). Returns bytes written or SIZE_MAX. */
size_t csv_guard_finish(csv_guard *g, char *out, size_t outcap);

/* True when cell [s, s+n) is a plain decimal number: [+-]?(d+[.d*]|.d+)([eE][+-]?d+)? */
int csv_guard_is_number(const char *s, size_t n);

/* Guards one whole record (or any complete CSV text) from a fresh state:
 * csv_guard_init + csv_guard_feed + csv_guard_finish. Returns bytes written
 * or SIZE_MAX. */
size_t csv_guard_row(const char *in, size_t len, char *out, size_t outcap);

/* True for the bytes that make a spreadsheet cell a formula. */
int csv_guard_is_trigger(unsigned char c);

#endif
