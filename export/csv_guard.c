/* csv_guard.c - see csv_guard.h
 *
 * Hand-written: no Debian library offers a streaming, RFC 4180-aware
 * formula-injection guard, and a full CSV parser (libcsv) would copy every cell
 * for what is a five-state byte scanner.
 */
#include "export/csv_guard.h"

enum {
    G_CELL_START = 0, /* at the first byte of a cell (record start, after `,` or LF) */
    G_UNQUOTED,       /* inside an unquoted cell */
    G_QUOTED_FIRST,   /* just after the opening quote of a quoted cell */
    G_QUOTED,         /* inside a quoted cell */
    G_QUOTE_SEEN,     /* a `"` inside a quoted cell: closing quote or first half of `""` */
};

int csv_guard_is_trigger(unsigned char c)
{
    return c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r';
}

void csv_guard_init(csv_guard *g)
{
    g->state = G_CELL_START;
}

size_t csv_guard_feed(csv_guard *g, const char *in, size_t len, char *out, size_t outcap)
{
    int st = g->state;
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        int prefix = 0;

        switch (st) {
        case G_CELL_START:
            if (c == '"')
                st = G_QUOTED_FIRST;
            else if (c == ',' || c == '\n' || c == '\r')
                st = G_CELL_START; /* empty cell; an unquoted CR belongs to CRLF */
            else {
                prefix = csv_guard_is_trigger(c);
                st = G_UNQUOTED;
            }
            break;
        case G_UNQUOTED:
            if (c == ',' || c == '\n')
                st = G_CELL_START;
            break;
        case G_QUOTED_FIRST:
            if (c == '"')
                st = G_QUOTE_SEEN; /* `""`: empty cell, or an escaped quote first */
            else {
                prefix = csv_guard_is_trigger(c);
                st = G_QUOTED;
            }
            break;
        case G_QUOTED:
            if (c == '"')
                st = G_QUOTE_SEEN;
            break;
        case G_QUOTE_SEEN:
            if (c == '"')
                st = G_QUOTED; /* `""` escaped quote */
            else if (c == ',' || c == '\n')
                st = G_CELL_START;
            else
                st = G_UNQUOTED; /* CR of CRLF, or malformed input: pass it through */
            break;
        }
        if (o + (size_t)prefix + 1 > outcap)
            return SIZE_MAX;
        if (prefix)
            out[o++] = '\'';
        out[o++] = (char)c;
    }
    g->state = st;
    return o;
}

size_t csv_guard_row(const char *in, size_t len, char *out, size_t outcap)
{
    csv_guard g;
    csv_guard_init(&g);
    return csv_guard_feed(&g, in, len, out, outcap);
}
