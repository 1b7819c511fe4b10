/* mail_message.c - building the emails exportq sends; see mail_message.h.
 *
 * Written by hand rather than with a MIME library: what is needed is one
 * text/plain part, a quoted-printable encoder and RFC 2047 encoded-words, about
 * a hundred lines that no Debian library offers without a large dependency
 * (GMime pulls in GLib). Base64 comes from OpenSSL (EVP_EncodeBlock).
 */
#include "mail/mail_message.h"

#include "common/config.h"
#include "common/hex.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define TEXT_FIELD_MAX 200 /* kind, file name: bytes kept after sanitising */
#define ERROR_TEXT_MAX 64  /* failure reason code: bytes kept */
#define URL_MAX (8 * 1024)
#define QP_LINE_MAX 76     /* RFC 2045, including the soft break '=' */
#define EW_CHUNK 45        /* raw bytes per encoded-word: 60 base64 chars */

/* ---------------------------------------------------------------- addresses */

static bool is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 5322 dot-atom text without the characters that can mean something in a
 * header or to a mail client: no quotes, brackets, commas, semicolons,
 * backslashes, parentheses or spaces. */
static bool local_char_ok(unsigned char c)
{
    return is_alnum(c) || (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~.", c) != NULL);
}

bool mail_address_valid(const char *addr)
{
    const char *at, *p, *label;
    size_t n, local_len;
    if (!addr)
        return false;
    n = strnlen(addr, MAIL_ADDRESS_MAX + 1);
    if (n == 0 || n > MAIL_ADDRESS_MAX)
        return false;
    at = strchr(addr, '@');
    if (!at || strchr(at + 1, '@'))
        return false;
    local_len = (size_t)(at - addr);
    if (local_len == 0 || local_len > 64 || addr[0] == '.' || at[-1] == '.')
        return false;
    for (p = addr; p < at; p++) {
        if (!local_char_ok((unsigned char)*p))
            return false;
        if (*p == '.' && p[1] == '.')
            return false;
    }
    /* domain: two or more labels of letters, digits and '-', not starting or
     * ending with '-' (the same rule as exportq.valid_email in SQL) */
    label = at + 1;
    if (!*label || !strchr(label, '.'))
        return false;
    for (p = label;; p++) {
        if (*p == '.' || *p == '\0') {
            size_t len = (size_t)(p - label);
            if (len == 0 || len > 63 || label[0] == '-' || p[-1] == '-')
                return false;
            if (*p == '\0')
                break;
            label = p + 1;
        } else if (!is_alnum((unsigned char)*p) && *p != '-') {
            return false;
        }
    }
    return true;
}

/* ---------------------------------------------------------------- text */

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    size_t len;
    unsigned int cp;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        len = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        len = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        len = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    /* C1 controls (U+0080..U+009F) are as unwelcome as C0 ones */
    if (len == 2 && cp < 0xa0)
        return 0;
    return len;
}

/* Copies user text into out (outsz bytes, NUL-terminated): valid UTF-8 only
 * (invalid bytes become '?'), control characters become one space (runs
 * collapse), at most outsz-1 bytes, never cutting a character in half. */
static void sanitize_text(const char *in, char *out, size_t outsz)
{
    const unsigned char *s = (const unsigned char *)(in ? in : "");
    size_t n = strlen((const char *)s), o = 0;
    bool space = true; /* drop leading blanks */
    for (size_t i = 0; i < n;) {
        size_t len = utf8_seq_len(s + i, n - i);
        if (len == 1 && (s[i] < 0x20 || s[i] == 0x7f || s[i] == ' ')) {
            i++;
            if (!space && o + 1 < outsz) {
                out[o++] = ' ';
                space = true;
            }
            continue;
        }
        if (len == 0) { /* invalid byte */
            i++;
            if (o + 1 >= outsz)
                break;
            out[o++] = '?';
            space = false;
            continue;
        }
        if (o + len >= outsz)
            break;
        memcpy(out + o, s + i, len);
        o += len;
        i += len;
        space = false;
    }
    while (o > 0 && out[o - 1] == ' ')
        o--;
    if (outsz)
        out[o] = '\0';
}

static bool is_plain_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

void mail_human_size(long long bytes, char *out, size_t outsz)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    double v;
    int u = -1;
    if (bytes < 0)
        bytes = 0;
    if (bytes < 1024) {
        snprintf(out, outsz, "%lld B", bytes);
        return;
    }
    v = (double)bytes;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    /* 1023.96 KiB would print as "1024.0 KiB": say 1.0 MiB instead */
    if (v >= 1023.95 && u < 4) {
        v /= 1024.0;
        u++;
    }
    snprintf(out, outsz, "%.1f %s", v, units[u]);
}

/* 1234567 -> "1,234,567" */
static void group_digits(long long n, char *out, size_t outsz)
{
    char digits[32], tmp[48];
    size_t len, o = 0;
    if (n < 0)
        n = 0;
    snprintf(digits, sizeof digits, "%lld", n);
    len = strlen(digits);
    for (size_t i = 0; i < len; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            tmp[o++] = ',';
        tmp[o++] = digits[i];
    }
    tmp[o] = '\0';
    snprintf(out, outsz, "%s", tmp);
}

/* RFC 5322 date in UTC, English names whatever the locale. */
static void rfc5322_date(time_t t, char *out, size_t outsz)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, outsz, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
             months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* "2024-05-01 14:30 UTC" */
static void human_utc(time_t t, char *out, size_t outsz)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, outsz, "%04d-%02d-%02d %02d:%02d UTC", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min);
}

/* ---------------------------------------------------------------- encodings */

int mail_header_append_text(eq_buf *out, const char *name, const char *value, eq_err *err)
{
    char clean[1024];
    size_t n, i = 0, col;
    sanitize_text(value, clean, sizeof clean);
    n = strlen(clean);
    /* plain ASCII that cannot be mistaken for an encoded-word goes as it is */
    if (is_plain_ascii(clean) && !strstr(clean, "=?") && strlen(name) + 2 + n <= 900)
        return eq_buf_printf(out, err, "%s: %s\r\n", name, clean);
    if (eq_buf_printf(out, err, "%s:", name) < 0)
        return -1;
    col = strlen(name) + 1;
    while (i < n) {
        unsigned char b64[4 * ((EW_CHUNK + 2) / 3) + 1];
        size_t take = 0;
        /* whole UTF-8 characters only: an encoded-word must not split one */
        while (i + take < n) {
            size_t len = utf8_seq_len((const unsigned char *)clean + i + take, n - i - take);
            if (len == 0)
                len = 1;
            if (take + len > EW_CHUNK)
                break;
            take += len;
        }
        EVP_EncodeBlock(b64, (const unsigned char *)clean + i, (int)take);
        if (eq_buf_printf(out, err, "%s=?utf-8?B?%s?=", col > 0 && i > 0 ? "\r\n " : " ", b64) < 0)
            return -1;
        col = 1;
        i += take;
    }
    return eq_buf_puts(out, "\r\n", err);
}

int mail_qp_append(eq_buf *out, const char *s, size_t n, eq_err *err)
{
    size_t col = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char enc[4];
        size_t elen;
        bool line_end = (i + 1 == n) || s[i + 1] == '\n' || (s[i + 1] == '\r' && i + 2 < n && s[i + 2] == '\n');
        if (c == '\r' && i + 1 < n && s[i + 1] == '\n')
            continue; /* the \n that follows writes the CRLF */
        if (c == '\n') {
            if (eq_buf_puts(out, "\r\n", err) < 0)
                return -1;
            col = 0;
            continue;
        }
        if ((c >= 33 && c <= 126 && c != '=' && !(c == '.' && col == 0)) ||
            ((c == ' ' || c == '\t') && !line_end)) {
            enc[0] = (char)c;
            elen = 1;
        } else {
            eq_hex_escape(c, '=', enc);
            elen = 3;
        }
        /* room for this and, unless the line ends here, a soft break '=' */
        if (col + elen > QP_LINE_MAX - (line_end ? 0 : 1)) {
            if (eq_buf_puts(out, "=\r\n", err) < 0)
                return -1;
            col = 0;
            if (c == '.') { /* a '.' now starting a line: encode it */
                eq_hex_escape(c, '=', enc);
                elen = 3;
            }
        }
        if (eq_buf_append(out, enc, elen, err) < 0)
            return -1;
        col += elen;
    }
    return 0;
}

/* ---------------------------------------------------------------- messages */

typedef struct names {
    char kind[TEXT_FIELD_MAX + 1];
    char file[TEXT_FIELD_MAX + 1];
    const char *what; /* the file name if there is one, else the kind */
} names;

static int check_common(const mail_export_info *info, const char *from, eq_buf *out, names *nm, eq_err *err)
{
    if (!info || !out)
        return eq_fail(err, EQ_ERR_INVALID, "mail: missing message information");
    if (info->job_id <= 0)
        return eq_fail(err, EQ_ERR_INVALID, "mail: invalid job id %lld", info->job_id);
    if (!mail_address_valid(info->to))
        return eq_fail(err, EQ_ERR_INVALID, "mail job %lld: recipient address is not a valid plain address",
                       info->job_id);
    if (!mail_address_valid(from))
        return eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_SMTP_FROM: not a valid plain address (local@domain)");
    sanitize_text(info->kind, nm->kind, sizeof nm->kind);
    sanitize_text(info->filename, nm->file, sizeof nm->file);
    if (!nm->kind[0])
        snprintf(nm->kind, sizeof nm->kind, "export");
    nm->what = nm->file[0] ? nm->file : nm->kind;
    eq_buf_reset(out);
    return 0;
}

/* The installation id as it may appear in a Message-ID: [0-9A-Za-z], bounded. */
static void installation_tag(const char *id, char *out, size_t outsz)
{
    size_t o = 0;
    for (const char *p = id ? id : ""; *p && o + 1 < outsz && o < MAIL_INSTALLATION_MAX; p++) {
        if (is_alnum((unsigned char)*p))
            out[o++] = *p;
    }
    if (o == 0 && outsz > 4) {
        memcpy(out, "none", 4);
        o = 4;
    }
    out[o] = '\0';
}

static int append_headers(eq_buf *out, const mail_export_info *info, const char *from, const char *tag,
                          const char *subject, const char *boundary, eq_err *err)
{
    char date[64], inst[MAIL_INSTALLATION_MAX + 1];
    const char *domain = strchr(from, '@') + 1; /* from passed mail_address_valid */
    rfc5322_date(info->date ? info->date : time(NULL), date, sizeof date);
    installation_tag(info->installation, inst, sizeof inst);
    if (eq_buf_printf(out, err, "Date: %s\r\nMessage-ID: <export-%lld-%s.%s@%s>\r\nFrom: %s\r\nTo: %s\r\n", date,
                      info->job_id, tag, inst, domain, from, info->to) < 0 ||
        mail_header_append_text(out, "Subject", subject, err) < 0 ||
        eq_buf_printf(out, err,
                      "MIME-Version: 1.0\r\n"
                      "Content-Type: multipart/alternative; boundary=\"%s\"\r\n"
                      "Auto-Submitted: auto-generated\r\n"
                      "\r\n"
                      "This is a MIME message: a text part and an HTML part.\r\n",
                      boundary) < 0)
        return -1;
    return 0;
}

/* Both parts, rendered from the templates with v: text/plain and text/html,
 * each quoted-printable, then the closing boundary. */
static int append_parts(eq_buf *out, const char *boundary, const char *txt_tpl, const char *html_tpl,
                        const mail_vars *v, eq_err *err)
{
    eq_buf part;
    int rc = -1;
    const char *tpl[2] = {txt_tpl, html_tpl};
    static const char *const ctype[2] = {"text/plain", "text/html"};
    eq_buf_init(&part, MAIL_MESSAGE_MAX);
    for (int i = 0; i < 2; i++) {
        eq_buf_reset(&part);
        if (mail_template_render(tpl[i], v, i == 1, &part, err) < 0 ||
            eq_buf_printf(out, err,
                          "\r\n--%s\r\nContent-Type: %s; charset=utf-8\r\n"
                          "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
                          boundary, ctype[i]) < 0 ||
            mail_qp_append(out, part.data ? part.data : "", part.len, err) < 0)
            goto done;
    }
    rc = eq_buf_printf(out, err, "\r\n--%s--\r\n", boundary);
done:
    eq_buf_cleanup(&part);
    return rc;
}

/* A URL fit for a mail body: printable ASCII, no spaces. */
static bool url_ok(const char *url)
{
    size_t n;
    if (!url)
        return false;
    n = strnlen(url, URL_MAX + 1);
    if (n == 0 || n > URL_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
            return false;
    return strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0;
}

static const char *tpl_of(const mail_export_info *info, int which)
{
    return info->templates && info->templates->text[which] ? info->templates->text[which]
                                                            : mail_template_builtin(which);
}

int mail_build_success(const mail_export_info *info, const char *from, eq_buf *out, eq_err *err)
{
    names nm;
    char subject[TEXT_FIELD_MAX + 64], size[32], bytes[48], rows[48], expires[48], job[32], boundary[96];
    char product[TEXT_FIELD_MAX + 1];
    mail_vars v;
    if (check_common(info, from, out, &nm, err) < 0)
        return -1;
    if (!url_ok(info->url))
        return eq_fail(err, EQ_ERR_INVALID,
                       "mail job %lld: the download link is not a printable http(s) URL of at most %d bytes",
                       info->job_id, URL_MAX);
    mail_human_size(info->bytes, size, sizeof size);
    group_digits(info->bytes, bytes, sizeof bytes);
    group_digits(info->rows, rows, sizeof rows);
    human_utc(info->link_expires_at, expires, sizeof expires);
    sanitize_text(info->product && *info->product ? info->product : "exportq", product, sizeof product);
    snprintf(job, sizeof job, "%lld", info->job_id);
    snprintf(boundary, sizeof boundary, "=_exportq-%lld-success", info->job_id);
    snprintf(subject, sizeof subject, "Your export is ready: %s", nm.what);
    v = (mail_vars){.product = product, .kind = nm.kind, .file = nm.what, .format = info->format ? info->format : "csv",
                    .rows = rows, .size = size, .bytes = bytes, .expires = expires, .url = info->url, .job = job};
    if (append_headers(out, info, from, "success", subject, boundary, err) < 0 ||
        append_parts(out, boundary, tpl_of(info, MAIL_TPL_SUCCESS_TXT), tpl_of(info, MAIL_TPL_SUCCESS_HTML), &v,
                     err) < 0)
        return -1;
    return 0;
}

const char *mail_failure_code(const char *error)
{
    /* a fixed vocabulary: the error text (which can quote user parameters
     * through a database error) only chooses among these words */
    if (!error || !*error)
        return "unknown";
    if (strstr(error, "lease") || strstr(error, " lost"))
        return "worker_lost";
    if (strstr(error, "s3 ") || strstr(error, "S3") || strstr(error, "upload"))
        return "storage_error";
    if (strstr(error, "timeout") || strstr(error, "timed out"))
        return "timeout";
    return "export_failed";
}

int mail_build_failure(const mail_export_info *info, const char *error, const char *from, eq_buf *out, eq_err *err)
{
    names nm;
    char subject[TEXT_FIELD_MAX + 64], reason[ERROR_TEXT_MAX + 1], job[32], boundary[96];
    char product[TEXT_FIELD_MAX + 1];
    mail_vars v;
    if (check_common(info, from, out, &nm, err) < 0)
        return -1;
    /* a generic reason only: the error text can carry a parameter an
     * attacker chose (quoted by a database error); the details are in the
     * logs and the job's status (API) */
    snprintf(reason, sizeof reason, "%s", mail_failure_code(error));
    sanitize_text(info->product && *info->product ? info->product : "exportq", product, sizeof product);
    snprintf(job, sizeof job, "%lld", info->job_id);
    snprintf(boundary, sizeof boundary, "=_exportq-%lld-failure", info->job_id);
    snprintf(subject, sizeof subject, "Your export failed: %s", nm.what);
    v = (mail_vars){.product = product, .kind = nm.kind, .file = nm.what, .format = info->format ? info->format : "csv",
                    .job = job, .error = reason};
    if (append_headers(out, info, from, "failure", subject, boundary, err) < 0 ||
        append_parts(out, boundary, tpl_of(info, MAIL_TPL_FAILURE_TXT), tpl_of(info, MAIL_TPL_FAILURE_HTML), &v,
                     err) < 0)
        return -1;
    return 0;
}

time_t mail_link_expiry(time_t now, long link_ttl, long long object_expires_at)
{
    time_t t = now + (link_ttl > 0 ? link_ttl : 1);
    if (object_expires_at > 0 && (time_t)object_expires_at < t)
        t = (time_t)object_expires_at;
    return t > now ? t : now + 1;
}

bool mail_domain_allowed(const char *addr, const char *allowed)
{
    const char *at, *cur = allowed, *p;
    size_t dlen, n;
    bool any = false;
    if (!allowed)
        return true;
    if (!addr || !(at = strrchr(addr, '@')))
        return false;
    at++;
    dlen = strlen(at);
    while (eq_config_list_next(&cur, &p, &n)) {
        any = true;
        /* exact, or a subdomain: "x.example.com" ends with ".example.com" */
        if ((dlen == n && strncasecmp(at, p, n) == 0) ||
            (dlen > n && at[dlen - n - 1] == '.' && strncasecmp(at + dlen - n, p, n) == 0))
            return true;
    }
    return !any;
}
