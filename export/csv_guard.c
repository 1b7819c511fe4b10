/* csv_guard.c - see csv_guard.h
 *
 * Hand-written: no Debian library offers a streaming, RFC 4180-aware
 * formula-injection guard, and a full CSV parser (libcsv) would copy every cell
 * for what is a six-state byte scanner.
 */
#include "export/csv_guard.h"

#include <string.h>

enum {
    G_CELL_START = 0, /* at the first byte of a cell (record start, after the delimiter or LF) */
    G_UNQUOTED,       /* inside an unquoted cell */
    G_QUOTED_FIRST,   /* just after the opening quote of a quoted cell */
    G_QUOTED,         /* inside a quoted cell */
    G_QUOTE_SEEN,     /* a `"` inside a quoted cell: closing quote or first half of `""` */
    G_SIGNED,         /* an unquoted cell that starts with + or -, held in pend */
};

int csv_guard_is_trigger(unsigned char c)
{
    return c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int csv_guard_is_number(const char *s, size_t n)
{
    size_t i = 0, digits = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    for (; i < n && is_digit(s[i]); i++)
        digits++;
    if (i < n && s[i] == '.') {
        for (i++; i < n && is_digit(s[i]); i++)
            digits++;
    }
    if (digits == 0)
        return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t exp = 0;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        for (; i < n && is_digit(s[i]); i++)
            exp++;
        if (exp == 0)
            return 0;
    }
    return i == n;
}

static int number_byte(unsigned char c)
{
    return is_digit((char)c) || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-';
}

void csv_guard_init_delim(csv_guard *g, char delim)
{
    g->state = G_CELL_START;
    g->delim = delim;
    g->npend = 0;
}

void csv_guard_init(csv_guard *g)
{
    csv_guard_init_delim(g, ',');
}

/* Releases the held signed cell: as it is when a number, else prefixed. */
static int release(csv_guard *g, char *out, size_t *o, size_t outcap)
{
    int prefix = !csv_guard_is_number(g->pend, g->npend);
    if (*o + (size_t)prefix + g->npend > outcap)
        return -1;
    if (prefix)
        out[(*o)++] = '\'';
    memcpy(out + *o, g->pend, g->npend);
    *o += g->npend;
    g->npend = 0;
    return 0;
}

size_t csv_guard_feed(csv_guard *gp, const char *in, size_t len, char *out, size_t outcap)
{
    csv_guard g = *gp; /* the caller's state changes only on success */
    const char d = g.delim;
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        int prefix = 0;

        switch (g.state) {
        case G_CELL_START:
            if (c == '"')
                g.state = G_QUOTED_FIRST;
            else if (c == (unsigned char)d || c == '\n' || c == '\r')
                g.state = G_CELL_START; /* empty cell; an unquoted CR belongs to CRLF */
            else if (c == '+' || c == '-') {
                g.pend[0] = (char)c;
                g.npend = 1;
                g.state = G_SIGNED;
                continue; /* held until the cell ends */
            } else {
                prefix = csv_guard_is_trigger(c);
                g.state = G_UNQUOTED;
            }
            break;
        case G_SIGNED:
            if (number_byte(c) && g.npend < CSV_GUARD_PEND_MAX) {
                g.pend[g.npend++] = (char)c;
                continue;
            }
            if (c == (unsigned char)d || c == '\n' || c == '\r') {
                if (release(&g, out, &o, outcap) < 0)
                    return SIZE_MAX;
                g.state = c == '\r' ? G_UNQUOTED : G_CELL_START;
            } else {
                /* not a number: a formula for all we know */
                if (o + 1 + g.npend > outcap)
                    return SIZE_MAX;
                out[o++] = '\'';
                memcpy(out + o, g.pend, g.npend);
                o += g.npend;
                g.npend = 0;
                g.state = G_UNQUOTED;
            }
            break;
        case G_UNQUOTED:
            if (c == (unsigned char)d || c == '\n')
                g.state = G_CELL_START;
            break;
        case G_QUOTED_FIRST:
            if (c == '"')
                g.state = G_QUOTE_SEEN; /* `""`: empty cell, or an escaped quote first */
            else {
                prefix = csv_guard_is_trigger(c);
                g.state = G_QUOTED;
            }
            break;
        case G_QUOTED:
            if (c == '"')
                g.state = G_QUOTE_SEEN;
            break;
        case G_QUOTE_SEEN:
            if (c == '"')
                g.state = G_QUOTED; /* `""` escaped quote */
            else if (c == (unsigned char)d || c == '\n')
                g.state = G_CELL_START;
            else
                g.state = G_UNQUOTED; /* CR of CRLF, or malformed input: pass it through */
            break;
        }
        if (o + (size_t)prefix + 1 > outcap)
            return SIZE_MAX;
        if (prefix)
            out[o++] = '\'';
        out[o++] = (char)c;
    }
    *gp = g;
    return o;
}

size_t csv_guard_finish(csv_guard *gp, char *out, size_t outcap)
{
    csv_guard g = *gp;
    size_t o = 0;
    if (g.state == G_SIGNED) {
        if (release(&g, out, &o, outcap) < 0)
            return SIZE_MAX;
        g.state = G_UNQUOTED;
    }
    *gp = g;
    return o;
}

size_t csv_guard_row(const char *in, size_t len, char *out, size_t outcap)
{
    csv_guard g;
    size_t n, m;
    csv_guard_init(&g);
    n = csv_guard_feed(&g, in, len, out, outcap);
    if (n == SIZE_MAX)
        return SIZE_MAX;
    m = csv_guard_finish(&g, out + n, outcap - n);
    return m == SIZE_MAX ? SIZE_MAX : n + m;
}
