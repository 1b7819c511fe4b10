/* export_format.c - see export_format.h */
#include "export/export_format.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct format_info {
    const char *name;
    const char *ext;
    const char *mime[4]; /* the first is the one we send; the others are accepted too */
} format_info;

static const format_info formats[EXPORT_FORMAT_COUNT] = {
    [EXPORT_FORMAT_CSV] = {"csv", ".csv", {"text/csv", "application/csv", NULL}},
    [EXPORT_FORMAT_TSV] = {"tsv", ".tsv", {"text/tab-separated-values", NULL}},
    [EXPORT_FORMAT_JSONL] = {"jsonl", ".jsonl",
                             {"application/x-ndjson", "application/jsonl", "application/x-jsonlines", NULL}},
    [EXPORT_FORMAT_XLSX] = {"xlsx", ".xlsx", {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", NULL}},
};

static bool valid(export_format f)
{
    return (unsigned)f < EXPORT_FORMAT_COUNT;
}

const char *export_format_name(export_format f)
{
    return valid(f) ? formats[f].name : "csv";
}

const char *export_format_mime(export_format f)
{
    return valid(f) ? formats[f].mime[0] : "text/csv";
}

const char *export_format_extension(export_format f)
{
    return valid(f) ? formats[f].ext : ".csv";
}

int export_format_parse(const char *name, export_format *out, eq_err *err)
{
    for (int f = 0; name && f < EXPORT_FORMAT_COUNT; f++) {
        if (strcmp(name, formats[f].name) == 0) {
            *out = (export_format)f;
            return 0;
        }
    }
    return eq_fail(err, EQ_ERR_INVALID, "unknown format '%.32s' (known: csv, tsv, jsonl, xlsx)", name ? name : "");
}

bool export_format_has_bom(export_format f)
{
    return f == EXPORT_FORMAT_CSV || f == EXPORT_FORMAT_TSV;
}

bool export_format_has_guard(export_format f)
{
    return f == EXPORT_FORMAT_CSV || f == EXPORT_FORMAT_TSV;
}

bool export_format_has_gzip(export_format f)
{
    return f != EXPORT_FORMAT_XLSX;
}

/* ---- Accept ---------------------------------------------------------------- */

/* The first c in [p, end), or NULL. */
static const char *find(const char *p, const char *end, char c)
{
    for (; p < end; p++) {
        if (*p == c)
            return p;
    }
    return NULL;
}

static const char *skip_ows(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

static const char *trim_end(const char *p, const char *end)
{
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    return end;
}

/* q-value per RFC 9110: "0", "0.xyz", "1", "1.000"; -1 when malformed. */
static int parse_q(const char *p, const char *end)
{
    int q = 0, digits = 0;
    if (p >= end || (*p != '0' && *p != '1'))
        return -1;
    q = (*p - '0') * 1000;
    p++;
    if (p < end && *p == '.') {
        int scale = 100;
        p++;
        for (; p < end && digits < 3; p++, digits++, scale /= 10) {
            if (*p < '0' || *p > '9')
                return -1;
            q += (*p - '0') * scale;
        }
    }
    if (p != end || q > 1000)
        return -1;
    return q;
}

/* How specifically media range [t, tend) matches format f: 3 exact, 2 "type/star",
 * 1 "star/star", 0 not at all. */
static int match(const char *t, const char *tend, export_format f)
{
    size_t n = (size_t)(tend - t);
    if (n == 3 && memcmp(t, "*/*", 3) == 0)
        return 1;
    for (int i = 0; formats[f].mime[i]; i++) {
        const char *m = formats[f].mime[i];
        const char *slash = strchr(m, '/');
        size_t tl = (size_t)(slash - m);
        if (strlen(m) == n && strncasecmp(t, m, n) == 0)
            return 3;
        if (n == tl + 2 && strncasecmp(t, m, tl + 1) == 0 && t[tl + 1] == '*')
            return 2;
    }
    return 0;
}

int export_format_negotiate(const char *accept, unsigned allowed, export_format dflt, export_format *out)
{
    int best_spec[EXPORT_FORMAT_COUNT] = {0};
    int q[EXPORT_FORMAT_COUNT];
    int top = 0;
    const char *p, *end;

    allowed &= EXPORT_FORMATS_ALL;
    if (!valid(dflt))
        dflt = EXPORT_FORMAT_CSV;
    if (!accept || !*skip_ows(accept, accept + strlen(accept))) {
        if (allowed & EXPORT_FORMAT_BIT(dflt)) {
            *out = dflt;
            return 0;
        }
        for (int f = 0; f < EXPORT_FORMAT_COUNT; f++) {
            if (allowed & EXPORT_FORMAT_BIT(f)) {
                *out = (export_format)f;
                return 0;
            }
        }
        return -1;
    }
    for (int f = 0; f < EXPORT_FORMAT_COUNT; f++)
        q[f] = 0;
    p = accept;
    end = accept + strlen(accept);
    while (p < end) {
        const char *el_end = find(p, end, ',');
        const char *t, *tend, *semi;
        int qv = 1000;
        if (!el_end)
            el_end = end;
        t = skip_ows(p, el_end);
        semi = find(t, el_end, ';');
        tend = trim_end(t, semi ? semi : el_end);
        /* parameters: only q matters (the others are ignored) */
        while (semi) {
            const char *pp = skip_ows(semi + 1, el_end);
            const char *next = find(pp, el_end, ';');
            const char *pend = trim_end(pp, next ? next : el_end);
            if (pend - pp >= 2 && (pp[0] == 'q' || pp[0] == 'Q') && pp[1] == '=')
                qv = parse_q(pp + 2, pend);
            semi = next;
        }
        if (qv >= 0 && tend > t && find(t, tend, '/')) {
            for (int f = 0; f < EXPORT_FORMAT_COUNT; f++) {
                int s = match(t, tend, (export_format)f);
                if (s > best_spec[f]) {
                    best_spec[f] = s;
                    q[f] = qv;
                }
            }
        }
        p = el_end + 1;
    }
    for (int f = 0; f < EXPORT_FORMAT_COUNT; f++) {
        if (!(allowed & EXPORT_FORMAT_BIT(f)) || best_spec[f] == 0)
            q[f] = 0;
        if (q[f] > top)
            top = q[f];
    }
    if (top == 0)
        return -1;
    if (q[dflt] == top) {
        *out = dflt;
        return 0;
    }
    for (int f = 0; f < EXPORT_FORMAT_COUNT; f++) {
        if (q[f] == top) {
            *out = (export_format)f;
            return 0;
        }
    }
    return -1;
}

/* ---- file names -------------------------------------------------------------- */

static bool ends_with(const char *s, size_t n, const char *suffix)
{
    size_t m = strlen(suffix);
    return n > m && strncasecmp(s + n - m, suffix, m) == 0;
}

int export_format_filename(const char *filename, const char *kind_name, export_format f, bool gzip, char *out,
                           size_t outsz, eq_err *err)
{
    /* the extensions a kind's file name may carry for one of our formats */
    static const char *const known[] = {".csv", ".tsv", ".tab", ".txt", ".jsonl", ".ndjson", ".json", ".xlsx"};
    const char *base = filename && *filename ? filename : kind_name ? kind_name : "export";
    size_t n = strlen(base);
    int w;

    if (ends_with(base, n, ".gz"))
        n -= 3;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (ends_with(base, n, known[i])) {
            n -= strlen(known[i]);
            break;
        }
    }
    if (n > (size_t)0x7fffffff)
        n = 0x7fffffff;
    w = snprintf(out, outsz, "%.*s%s%s", (int)n, base, export_format_extension(f),
                 gzip && export_format_has_gzip(f) ? ".gz" : "");
    if (w < 0 || (size_t)w >= outsz)
        return eq_fail(err, EQ_ERR_LIMIT, "file name '%.64s' is too long", base);
    return 0;
}
