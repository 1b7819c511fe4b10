/* mail_template.c - see mail_template.h */
#include "mail/mail_template.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const files[MAIL_TPL_COUNT] = {"success.txt", "success.html", "failure.txt", "failure.html"};

static const char success_txt[] =
    "Hello,\n\n"
    "your export is ready to download.\n\n"
    "  Export:   {{kind}}\n"
    "  File:     {{file}}\n"
    "  Rows:     {{rows}}\n"
    "  Size:     {{size}} ({{bytes}} bytes)\n"
    "  Link expires: {{expires}}\n\n"
    "Download link (valid until {{expires}}):\n\n"
    "{{url}}\n\n"
    "Anyone who has this link can download the file until it expires;\n"
    "please do not forward this message.\n\n"
    "-- \n"
    "{{product}}, job {{job}}\n";

#define HTML_HEAD                                                                                              \
    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"                                                    \
    "<meta name=\"viewport\" content=\"width=device-width\"><title>{{product}}</title></head>\n"             \
    "<body style=\"margin:0;padding:24px;background:#f4f5f7;font-family:Helvetica,Arial,sans-serif;color:#1f2328\">\n" \
    "<table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\"><tr><td align=\"center\">\n"   \
    "<table role=\"presentation\" width=\"560\" cellpadding=\"24\" cellspacing=\"0\" "                        \
    "style=\"max-width:560px;background:#ffffff;border-radius:8px\"><tr><td>\n"
#define HTML_FOOT                                                                                              \
    "<p style=\"font-size:12px;color:#656d76\">{{product}}, job {{job}}</p>\n"                                 \
    "</td></tr></table>\n</td></tr></table>\n</body></html>\n"

static const char success_html[] =
    HTML_HEAD
    "<h1 style=\"font-size:20px\">Your export is ready</h1>\n"
    "<table role=\"presentation\" cellpadding=\"4\" cellspacing=\"0\" style=\"font-size:14px\">\n"
    "<tr><td>Export</td><td><b>{{kind}}</b></td></tr>\n"
    "<tr><td>File</td><td>{{file}}</td></tr>\n"
    "<tr><td>Rows</td><td>{{rows}}</td></tr>\n"
    "<tr><td>Size</td><td>{{size}} ({{bytes}} bytes)</td></tr>\n"
    "<tr><td>Link expires</td><td>{{expires}}</td></tr>\n"
    "</table>\n"
    "<p style=\"margin:24px 0\"><a href=\"{{url}}\" "
    "style=\"display:inline-block;padding:12px 24px;background:#1f6feb;color:#ffffff;"
    "text-decoration:none;border-radius:6px;font-weight:bold\">Download {{file}}</a></p>\n"
    "<p style=\"font-size:13px\">If the button does not work, copy this link into your browser:<br>\n"
    "<a href=\"{{url}}\" style=\"word-break:break-all\">{{url}}</a></p>\n"
    "<p style=\"font-size:13px;color:#656d76\">Anyone who has this link can download the file until it "
    "expires; please do not forward this message.</p>\n" HTML_FOOT;

static const char failure_txt[] =
    "Hello,\n\n"
    "your export failed: {{error}}; try again.\n\n"
    "  Export:   {{kind}}\n"
    "  File:     {{file}}\n\n"
    "If it fails again, please contact support and mention job {{job}}.\n\n"
    "-- \n"
    "{{product}}, job {{job}}\n";

static const char failure_html[] =
    HTML_HEAD
    "<h1 style=\"font-size:20px\">Your export failed</h1>\n"
    "<p>{{error}}; try again.</p>\n"
    "<table role=\"presentation\" cellpadding=\"4\" cellspacing=\"0\" style=\"font-size:14px\">\n"
    "<tr><td>Export</td><td><b>{{kind}}</b></td></tr>\n"
    "<tr><td>File</td><td>{{file}}</td></tr>\n"
    "</table>\n"
    "<p>If it fails again, please contact support and mention job {{job}}.</p>\n" HTML_FOOT;

static const char *const builtin[MAIL_TPL_COUNT] = {success_txt, success_html, failure_txt, failure_html};

const char *mail_template_builtin(int which)
{
    return which >= 0 && which < MAIL_TPL_COUNT ? builtin[which] : "";
}

static const char *const names[] = {"product", "kind", "file", "format", "rows", "size",
                                    "bytes", "expires", "url", "job", "error"};

/* The value of placeholder [p, p+n), or NULL when the name is unknown. */
static const char *lookup(const mail_vars *v, const char *p, size_t n, bool *known)
{
    const char *vals[] = {v ? v->product : NULL, v ? v->kind : NULL, v ? v->file : NULL, v ? v->format : NULL,
                          v ? v->rows : NULL, v ? v->size : NULL, v ? v->bytes : NULL, v ? v->expires : NULL,
                          v ? v->url : NULL, v ? v->job : NULL, v ? v->error : NULL};
    *known = false;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strlen(names[i]) == n && memcmp(names[i], p, n) == 0) {
            *known = true;
            return vals[i] ? vals[i] : "";
        }
    }
    return NULL;
}

static int append_escaped(eq_buf *out, const char *s, bool html, eq_err *err)
{
    if (!html)
        return eq_buf_puts(out, s, err);
    for (; *s; s++) {
        const char *e = NULL;
        switch (*s) {
        case '&': e = "&amp;"; break;
        case '<': e = "&lt;"; break;
        case '>': e = "&gt;"; break;
        case '"': e = "&quot;"; break;
        case '\'': e = "&#39;"; break;
        default: break;
        }
        if (e ? eq_buf_puts(out, e, err) < 0 : eq_buf_append(out, s, 1, err) < 0)
            return -1;
    }
    return 0;
}

/* Walks tpl: literal text and placeholders; out NULL = only check. */
static int walk(const char *tpl, const mail_vars *v, bool html, eq_buf *out, eq_err *err)
{
    const char *p = tpl;
    for (;;) {
        const char *open = strstr(p, "{{"), *close;
        const char *val;
        bool known;
        size_t n;
        if (!open)
            return out ? eq_buf_puts(out, p, err) : 0;
        if (out && eq_buf_append(out, p, (size_t)(open - p), err) < 0)
            return -1;
        close = strstr(open + 2, "}}");
        if (!close)
            return eq_fail(err, EQ_ERR_CONFIG, "template: '{{' without '}}'");
        n = (size_t)(close - open - 2);
        val = lookup(v, open + 2, n, &known);
        if (!known)
            return eq_fail(err, EQ_ERR_CONFIG, "template: unknown placeholder {{%.*s}} (known: product, kind, "
                           "file, format, rows, size, bytes, expires, url, job, error)",
                           (int)(n > 40 ? 40 : n), open + 2);
        if (out && append_escaped(out, val, html, err) < 0)
            return -1;
        p = close + 2;
    }
}

int mail_template_check(const char *tpl, eq_err *err)
{
    return walk(tpl, NULL, false, NULL, err);
}

int mail_template_render(const char *tpl, const mail_vars *v, bool html, eq_buf *out, eq_err *err)
{
    return walk(tpl, v, html, out, err);
}

void mail_templates_cleanup(mail_templates *t)
{
    if (!t)
        return;
    for (int i = 0; i < MAIL_TPL_COUNT; i++) {
        free(t->text[i]);
        t->text[i] = NULL;
    }
}

/* Reads dir/name into *out (malloc'ed); 1 = read, 0 = no such file. */
static int read_file(const char *dir, const char *name, char **out, eq_err *err)
{
    char path[4096];
    FILE *f;
    size_t n;
    char *buf;
    *out = NULL;
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_MAIL_TEMPLATES: the directory name is too long");
    if (!(f = fopen(path, "rb"))) {
        if (errno == ENOENT)
            return 0;
        return eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_MAIL_TEMPLATES: cannot read %s: %s", path, strerror(errno));
    }
    if (!(buf = malloc(MAIL_TEMPLATE_MAX + 1))) {
        fclose(f);
        return eq_fail(err, EQ_ERR_NOMEM, "mail templates: out of memory");
    }
    n = fread(buf, 1, MAIL_TEMPLATE_MAX + 1, f);
    if (ferror(f) || n > MAIL_TEMPLATE_MAX) {
        bool big = n > MAIL_TEMPLATE_MAX;
        fclose(f);
        free(buf);
        return eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_MAIL_TEMPLATES: %s: %s", path,
                       big ? "larger than 64 KiB" : "read error");
    }
    fclose(f);
    buf[n] = '\0';
    if (strlen(buf) != n) {
        free(buf);
        return eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_MAIL_TEMPLATES: %s holds a NUL byte", path);
    }
    *out = buf;
    return 1;
}

int mail_templates_load(const char *dir, mail_templates *t, eq_err *err)
{
    memset(t, 0, sizeof *t);
    for (int i = 0; i < MAIL_TPL_COUNT; i++) {
        int r = dir && *dir ? read_file(dir, files[i], &t->text[i], err) : 0;
        if (r < 0)
            goto fail;
        if (r == 0 && !(t->text[i] = strdup(builtin[i]))) {
            eq_fail(err, EQ_ERR_NOMEM, "mail templates: out of memory");
            goto fail;
        }
        if (mail_template_check(t->text[i], err) < 0) {
            eq_err_context(err, "EXPORTQ_MAIL_TEMPLATES: %s", files[i]);
            goto fail;
        }
    }
    return 0;
fail:
    mail_templates_cleanup(t);
    return -1;
}
