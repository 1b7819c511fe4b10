/* format_xlsx.c - see format_xlsx.h */
#include "export/format_xlsx.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xlsxwriter.h>

/* decoded bytes kept of one cell: enough for XLSX_CELL_MAX characters of any
 * UTF-8 width; the rest of a longer value is only counted */
#define CELL_BUF (XLSX_CELL_MAX * 4 + 8)
#define NAME_MAX_BYTES 1024
#define INT53 9007199254740992LL /* 2^53: the last integer a double holds exactly */

struct xlsx_writer {
    lxw_workbook *wb;
    lxw_worksheet *ws;
    lxw_format *bold, *date_fmt, *ts_fmt;
    size_t ncols;
    char **names;
    xlsx_type *types;
    bool header;
    int sheets;
    uint32_t sheet_rows; /* data rows in the current sheet */
    uint64_t rows;
    uint64_t cut;
    uint64_t cut_row;    /* first cut cell: data row (1-based) and column */
    size_t cut_col;
    char path[PATH_MAX]; /* the workbook file; "" once unlinked */
    int fd;              /* the finished file, read by drain */
    bool closed;         /* workbook_close ran */
    char *cell;          /* CELL_BUF */
    char *esc;           /* 2 * CELL_BUF: a string with literal _xHHHH_ escaped */
    char *chunk;         /* XLSX_CHUNK */
    uint64_t bytes_out;
    export_sink_fn sink;
    void *sink_ctx;
};

xlsx_type xlsx_type_of_oid(unsigned int oid)
{
    switch (oid) {
    case 16: return XLSX_BOOL;
    case 20: return XLSX_INT8;
    case 21: case 23: case 26: return XLSX_INT;
    case 700: case 701: return XLSX_FLOAT;
    case 1700: return XLSX_NUMERIC;
    case 1082: return XLSX_DATE;
    case 1114: case 1184: return XLSX_TIMESTAMP;
    default: return XLSX_TEXT; /* money, text, json, uuid, arrays, intervals, ... */
    }
}

static int lxw_fail(eq_err *err, lxw_error e, const char *what)
{
    return eq_fail(err, EQ_ERR_IO, "xlsx: %s: %s", what, lxw_strerror(e));
}

static int start_sheet(xlsx_writer *w, eq_err *err)
{
    char name[32];
    w->sheets++;
    snprintf(name, sizeof name, "Sheet%d", w->sheets);
    w->ws = workbook_add_worksheet(w->wb, name);
    if (!w->ws)
        return eq_fail(err, EQ_ERR_NOMEM, "xlsx: cannot add sheet %d", w->sheets);
    w->sheet_rows = 0;
    if (!w->header)
        return 0;
    for (size_t c = 0; c < w->ncols; c++) {
        lxw_error e = worksheet_write_string(w->ws, 0, (lxw_col_t)c, w->names[c], w->bold);
        if (e != LXW_NO_ERROR)
            return lxw_fail(err, e, "writing the header");
    }
    return 0;
}

int xlsx_writer_new(const char *tmpdir, size_t ncols, const char *const *names, const xlsx_type *types,
                    bool header, export_sink_fn sink, void *sink_ctx, xlsx_writer **out, eq_err *err)
{
    xlsx_writer *w;
    lxw_workbook_options opt = {.constant_memory = LXW_TRUE, .use_zip64 = LXW_TRUE};
    const char *dir = tmpdir && *tmpdir ? tmpdir : getenv("TMPDIR");
    int fd;

    *out = NULL;
    if (ncols == 0 || ncols > XLSX_COLS_MAX)
        return eq_fail(err, EQ_ERR_INVALID, "xlsx: a sheet holds 1 to %d columns, the export has %zu", XLSX_COLS_MAX,
                       ncols);
    if (!dir || !*dir)
        dir = "/tmp";
    if (!(w = calloc(1, sizeof *w)))
        return eq_fail(err, EQ_ERR_NOMEM, "xlsx: out of memory");
    w->fd = -1;
    w->ncols = ncols;
    w->header = header;
    w->sink = sink;
    w->sink_ctx = sink_ctx;
    w->names = calloc(ncols, sizeof *w->names);
    w->types = calloc(ncols, sizeof *w->types);
    w->cell = malloc(CELL_BUF);
    w->esc = malloc(2 * CELL_BUF);
    w->chunk = malloc(XLSX_CHUNK);
    if (!w->names || !w->types || !w->cell || !w->esc || !w->chunk)
        goto nomem;
    for (size_t c = 0; c < ncols; c++) {
        w->names[c] = strndup(names[c] ? names[c] : "", NAME_MAX_BYTES);
        if (!w->names[c])
            goto nomem;
        w->types[c] = types[c];
    }
    if (snprintf(w->path, sizeof w->path, "%s/exportq-xlsx-XXXXXX", dir) >= (int)sizeof w->path) {
        w->path[0] = '\0';
        eq_fail(err, EQ_ERR_CONFIG, "xlsx: EXPORTQ_TMPDIR is too long");
        goto fail;
    }
    fd = mkostemp(w->path, O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        w->path[0] = '\0';
        eq_fail(err, EQ_ERR_IO, "xlsx: cannot create a temporary file in %s (EXPORTQ_TMPDIR): %s", dir,
                strerror(e));
        goto fail;
    }
    close(fd); /* libxlsxwriter opens it by name when it writes the zip */
    opt.tmpdir = (char *)dir;
    w->wb = workbook_new_opt(w->path, &opt);
    if (!w->wb)
        goto nomem;
    w->bold = workbook_add_format(w->wb);
    w->date_fmt = workbook_add_format(w->wb);
    w->ts_fmt = workbook_add_format(w->wb);
    if (!w->bold || !w->date_fmt || !w->ts_fmt)
        goto nomem;
    format_set_bold(w->bold);
    format_set_num_format(w->date_fmt, "yyyy-mm-dd");
    format_set_num_format(w->ts_fmt, "yyyy-mm-dd hh:mm:ss");
    if (start_sheet(w, err) < 0)
        goto fail;
    *out = w;
    return 0;
nomem:
    eq_fail(err, EQ_ERR_NOMEM, "xlsx: out of memory");
fail:
    xlsx_writer_free(w);
    return -1;
}

/* ---- one record -------------------------------------------------------------- */

/* Decodes COPY text escapes of [p, end) into w->cell (NUL-terminated);
 * *full = false when the value was longer than the buffer (the rest skipped). */
static size_t decode(xlsx_writer *w, const char *p, const char *end, bool *full)
{
    size_t n = 0;
    *full = true;
    while (p < end) {
        char c = *p++;
        if (c == '\\' && p < end) {
            char e = *p++;
            switch (e) {
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'v': c = '\v'; break;
            default: c = e; break; /* \\ and any other escaped byte */
            }
        }
        if (n + 1 >= CELL_BUF) {
            *full = false;
            break;
        }
        w->cell[n++] = c;
    }
    w->cell[n] = '\0';
    return n;
}

/* Cuts s[0..n) to at most XLSX_CELL_MAX UTF-16 units at a character
 * boundary; returns the new length. */
static size_t cut_utf16(char *s, size_t n, bool *was_cut)
{
    size_t units = 0, i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        size_t u = len == 4 ? 2 : 1;
        if (units + u > XLSX_CELL_MAX || i + len > n)
            break;
        units += u;
        i += len;
    }
    if (i < n) {
        *was_cut = true;
        s[i] = '\0';
    }
    return i;
}

/* Significant digits of a numeric's text ("-0012.3400" has 4: 1234). */
static int sig_digits(const char *s)
{
    int n = 0, trailing_zeros = 0;
    bool started = false, frac = false;
    for (; *s && *s != 'e' && *s != 'E'; s++) {
        if (*s == '.') {
            frac = true;
            continue;
        }
        if (*s < '0' || *s > '9')
            continue;
        if (!started && *s == '0')
            continue;
        started = true;
        n++;
        trailing_zeros = *s == '0' ? trailing_zeros + 1 : 0;
    }
    return frac ? n - trailing_zeros : n;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Excel reads "_xHHHH_" in a string as the character U+HHHH (ECMA-376
 * ST_Xstring; libxlsxwriter writes control characters so). A literal one in
 * the data is kept literal by escaping its '_' as "_x005F_". Returns the text
 * to write: s itself, or w->esc. */
static const char *escape_xstring(xlsx_writer *w, const char *s, size_t n)
{
    size_t o = 0;
    bool any = false;
    for (size_t i = 0; i + 7 <= n; i++) {
        if (s[i] == '_' && s[i + 1] == 'x' && is_hex(s[i + 2]) && is_hex(s[i + 3]) && is_hex(s[i + 4]) &&
            is_hex(s[i + 5]) && s[i + 6] == '_') {
            any = true;
            break;
        }
    }
    if (!any)
        return s;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '_' && i + 7 <= n && s[i + 1] == 'x' && is_hex(s[i + 2]) && is_hex(s[i + 3]) &&
            is_hex(s[i + 4]) && is_hex(s[i + 5]) && s[i + 6] == '_') {
            memcpy(w->esc + o, "_x005F_", 7); /* the '_' itself; "xHHHH_" follows as it is */
            o += 7;
            continue;
        }
        w->esc[o++] = s[i];
    }
    w->esc[o] = '\0';
    return w->esc;
}

static bool digits(const char *s, int n)
{
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
    }
    return true;
}

static int num2(const char *s)
{
    return (s[0] - '0') * 10 + (s[1] - '0');
}

/* "YYYY-MM-DD[ HH:MM:SS.UUUUUU]" in 1900..9999 into dt; false otherwise. */
static bool parse_datetime(const char *s, size_t n, bool with_time, lxw_datetime *dt)
{
    memset(dt, 0, sizeof *dt);
    if (n < 10 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' || !digits(s + 8, 2))
        return false;
    dt->year = num2(s) * 100 + num2(s + 2);
    dt->month = num2(s + 5);
    dt->day = num2(s + 8);
    if (dt->year < 1900 || dt->year > 9999)
        return false;
    if (!with_time)
        return n == 10;
    if (n != 26 || s[10] != ' ' || !digits(s + 11, 2) || s[13] != ':' || !digits(s + 14, 2) || s[16] != ':' ||
        !digits(s + 17, 2) || s[19] != '.' || !digits(s + 20, 6))
        return false;
    dt->hour = num2(s + 11);
    dt->min = num2(s + 14);
    dt->sec = num2(s + 17) + strtol(s + 20, NULL, 10) / 1e6;
    return true;
}

/* A finite double from the whole of s, or false. */
static bool parse_double(const char *s, double *v)
{
    char *end = NULL;
    errno = 0;
    *v = strtod(s, &end);
    return end != s && *end == '\0' && errno == 0 && isfinite(*v);
}

static int write_cell(xlsx_writer *w, lxw_row_t row, size_t col, size_t n, bool full, eq_err *err)
{
    lxw_col_t c = (lxw_col_t)col;
    lxw_error e = LXW_NO_ERROR;
    lxw_datetime dt;
    double v;
    bool was_cut = !full;
    const char *s = w->cell;

    switch (w->types[col]) {
    case XLSX_BOOL:
        if (n == 1 && (s[0] == 't' || s[0] == 'f')) {
            e = worksheet_write_boolean(w->ws, row, c, s[0] == 't', NULL);
            goto done;
        }
        break;
    case XLSX_INT:
        if (full && parse_double(s, &v)) {
            e = worksheet_write_number(w->ws, row, c, v, NULL);
            goto done;
        }
        break;
    case XLSX_INT8: {
        char *end = NULL;
        long long ll;
        errno = 0;
        ll = strtoll(s, &end, 10);
        if (full && end != s && *end == '\0' && errno == 0 && ll <= INT53 && ll >= -INT53) {
            e = worksheet_write_number(w->ws, row, c, (double)ll, NULL);
            goto done;
        }
        break;
    }
    case XLSX_FLOAT:
        if (full && parse_double(s, &v)) {
            e = worksheet_write_number(w->ws, row, c, v, NULL);
            goto done;
        }
        break;
    case XLSX_NUMERIC:
        if (full && sig_digits(s) <= 15 && parse_double(s, &v)) {
            e = worksheet_write_number(w->ws, row, c, v, NULL);
            goto done;
        }
        break;
    case XLSX_DATE:
        if (parse_datetime(s, n, false, &dt)) {
            e = worksheet_write_datetime(w->ws, row, c, &dt, w->date_fmt);
            goto done;
        }
        break;
    case XLSX_TIMESTAMP:
        if (parse_datetime(s, n, true, &dt)) {
            e = worksheet_write_datetime(w->ws, row, c, &dt, w->ts_fmt);
            goto done;
        }
        break;
    case XLSX_TEXT:
        break;
    }
    /* a string cell: exact text, never a formula */
    n = cut_utf16(w->cell, n, &was_cut);
    if (n == 0)
        return 0; /* an empty string: an empty cell */
    e = worksheet_write_string(w->ws, row, c, escape_xstring(w, w->cell, n), NULL);
    if (was_cut) {
        if (w->cut++ == 0) {
            w->cut_row = w->rows + 1;
            w->cut_col = col;
        }
    }
done:
    if (e != LXW_NO_ERROR)
        return lxw_fail(err, e, "writing a cell");
    return 0;
}

int xlsx_writer_row(xlsx_writer *w, const char *rec, size_t len, eq_err *err)
{
    const char *p = rec, *end = rec + len;
    lxw_row_t row;
    size_t col = 0;

    if (w->closed)
        return eq_fail(err, EQ_ERR_CONFLICT, "xlsx: row after finish");
    if (len > 0 && end[-1] == '\n')
        end--;
    if (w->sheet_rows >= XLSX_SHEET_ROWS && start_sheet(w, err) < 0)
        return -1;
    row = (lxw_row_t)(w->sheet_rows + (w->header ? 1 : 0));
    for (;;) {
        const char *f = p;
        bool full;
        size_t n;
        while (p < end && *p != '\t')
            p++;
        if (col >= w->ncols)
            return eq_fail(err, EQ_ERR_INVALID, "xlsx: row %llu has more than %zu columns",
                           (unsigned long long)w->rows + 1, w->ncols);
        if (!(p - f == 2 && f[0] == '\\' && f[1] == 'N')) { /* \N is NULL: an empty cell */
            n = decode(w, f, p, &full);
            if (write_cell(w, row, col, n, full, err) < 0)
                return -1;
        }
        col++;
        if (p >= end)
            break;
        p++; /* the tab */
    }
    if (col != w->ncols)
        return eq_fail(err, EQ_ERR_INVALID, "xlsx: row %llu has %zu columns, the header %zu",
                       (unsigned long long)w->rows + 1, col, w->ncols);
    w->sheet_rows++;
    w->rows++;
    return 0;
}

int xlsx_writer_finish(xlsx_writer *w, eq_err *err)
{
    lxw_error e;
    if (w->closed)
        return eq_fail(err, EQ_ERR_CONFLICT, "xlsx: finish called twice");
    w->closed = true;
    e = workbook_close(w->wb); /* frees the workbook */
    w->wb = NULL;
    if (e != LXW_NO_ERROR)
        return lxw_fail(err, e, "writing the workbook (EXPORTQ_TMPDIR full?)");
    w->fd = open(w->path, O_RDONLY | O_CLOEXEC);
    if (w->fd < 0)
        return eq_fail(err, EQ_ERR_IO, "xlsx: reopening the workbook: %s", strerror(errno));
    unlink(w->path); /* the open descriptor keeps it until drained */
    w->path[0] = '\0';
    return 0;
}

int xlsx_writer_drain(xlsx_writer *w, eq_err *err)
{
    ssize_t n;
    if (w->fd < 0)
        return eq_fail(err, EQ_ERR_CONFLICT, "xlsx: drain before finish");
    do {
        n = read(w->fd, w->chunk, XLSX_CHUNK);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return eq_fail(err, EQ_ERR_IO, "xlsx: reading the workbook: %s", strerror(errno));
    if (n == 0)
        return 0;
    if (w->sink(w->sink_ctx, w->chunk, (size_t)n, err) < 0)
        return -1;
    w->bytes_out += (uint64_t)n;
    return 1;
}

uint64_t xlsx_writer_rows(const xlsx_writer *w)
{
    return w->rows;
}

uint64_t xlsx_writer_bytes_out(const xlsx_writer *w)
{
    return w->bytes_out;
}

uint64_t xlsx_writer_cut_cells(const xlsx_writer *w)
{
    return w->cut;
}

void xlsx_writer_warning(const xlsx_writer *w, char *out, size_t outsz)
{
    if (outsz == 0)
        return;
    out[0] = '\0';
    if (w->cut == 0)
        return;
    snprintf(out, outsz,
             "%llu cell%s longer than Excel's 32,767 characters %s cut there (first: row %llu, column \"%.100s\")",
             (unsigned long long)w->cut, w->cut == 1 ? "" : "s", w->cut == 1 ? "was" : "were",
             (unsigned long long)w->cut_row, w->names[w->cut_col]);
}

void xlsx_writer_free(xlsx_writer *w)
{
    if (!w)
        return;
    if (w->wb)
        lxw_workbook_free(w->wb); /* never closed: nothing written, its temporary files go */
    if (w->fd >= 0)
        close(w->fd);
    if (w->path[0])
        unlink(w->path);
    for (size_t c = 0; w->names && c < w->ncols; c++)
        free(w->names[c]);
    free(w->names);
    free(w->types);
    free(w->cell);
    free(w->esc);
    free(w->chunk);
    free(w);
}
