/* mail_template.h - the bodies of exportq's mails, from templates an operator
 * may override (EXPORTQ_MAIL_TEMPLATES, a directory with any of success.txt,
 * success.html, failure.txt, failure.html; a missing file keeps the built-in
 * one).
 *
 * A template is UTF-8 text with placeholders {{name}}:
 *   product  EXPORTQ_PRODUCT_NAME        kind     the export kind
 *   file     the download file name      format   csv, tsv, jsonl, xlsx
 *   rows     "1,234,567"                 size     "12.0 MiB"
 *   bytes    "12,582,912"                expires  "2024-05-01 14:30 UTC"
 *   url      the download link           job      the job id
 *   error    the failure reason (failure mails)
 * In .html templates every value is HTML-escaped (& < > " '), so a value can
 * neither close an attribute nor open a tag; the url is an http(s) URL of
 * printable ASCII (checked by the mail builder), so href="{{url}}" is safe.
 * Unknown placeholders are refused when the templates are loaded (the
 * program stops at start-up, naming the file), so a typo is never mailed.
 *
 * Ownership: mail_templates_load fills a caller-owned struct whose strings it
 * allocates; mail_templates_cleanup frees them (accepts a zeroed struct).
 * Rendering appends to a caller-owned eq_buf.
 */
#ifndef EXPORTQ_MAIL_TEMPLATE_H
#define EXPORTQ_MAIL_TEMPLATE_H

#include <stdbool.h>

#include "common/buf.h"
#include "common/error.h"

#define MAIL_TEMPLATE_MAX (64 * 1024) /* bytes of one template file */

enum { MAIL_TPL_SUCCESS_TXT, MAIL_TPL_SUCCESS_HTML, MAIL_TPL_FAILURE_TXT, MAIL_TPL_FAILURE_HTML, MAIL_TPL_COUNT };

typedef struct mail_templates {
    char *text[MAIL_TPL_COUNT];
} mail_templates;

/* The values of one mail; NULL renders as "". */
typedef struct mail_vars {
    const char *product, *kind, *file, *format, *rows, *size, *bytes, *expires, *url, *job, *error;
} mail_vars;

/* Built-in templates, overridden by the files of `dir` (NULL or "": none).
 * EQ_ERR_CONFIG naming EXPORTQ_MAIL_TEMPLATES and the file on any problem. */
int mail_templates_load(const char *dir, mail_templates *t, eq_err *err) EQ_MUST;
void mail_templates_cleanup(mail_templates *t);

/* The built-in template `which` (static storage). */
const char *mail_template_builtin(int which);

/* Checks that every {{...}} in tpl names a known value. */
int mail_template_check(const char *tpl, eq_err *err) EQ_MUST;

/* Renders tpl with v into out (appends); html: escape every value. */
int mail_template_render(const char *tpl, const mail_vars *v, bool html, eq_buf *out, eq_err *err) EQ_MUST;

#endif
