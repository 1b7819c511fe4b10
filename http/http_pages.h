/* http_pages.h - the status page of one export (GET /exports/{id}?t=TOKEN,
 * the status_url of common/link.h) as HTML and as the small JSON it polls,
 * rendered by pure functions (http_pages_view.c); the handlers, the link
 * checks and the per-job cache are in http_pages.c.
 *
 * The page is one self-contained document: its <style> and <script> are
 * constants allowed by hash in the Content-Security-Policy (no nonce, no
 * external asset). It is complete without script (a <noscript> meta refresh
 * reloads it); with script it polls /exports/{id}/status?t= (ETag, the
 * server's poll_after, backoff on errors, slower in a hidden tab) and updates
 * #export's data-state, data-position, data-percent and data-eta (an
 * attribute whose value is unknown is absent; data-eta in whole seconds),
 * the <progress> bar, the texts, the download link a[data-download] and the
 * cancel form in place. All texts come from the server (http_status_texts).
 */
#ifndef EXPORTQ_HTTP_PAGES_H
#define EXPORTQ_HTTP_PAGES_H

#include <jansson.h>
#include <stdbool.h>

#include "common/buf.h"
#include "common/error.h"
#include "queue/queue.h"

/* What a person reads about a job: every text of the page. */
typedef struct http_status_texts {
    char title[160];   /* the file name, else the kind */
    char message[256]; /* one sentence on the state */
    char eta[64];      /* "about 3 minutes", "" = unknown or not relevant */
    char rows[48];     /* "12,345 rows" or "12,345 of about 1,000,000 rows" */
    char size[32];     /* "1.2 MB" */
    bool cancellable;  /* queued or running */
    int poll_after;    /* seconds until the next poll; 0 = final, stop */
} http_status_texts;

void http_status_texts_of(const queue_status_row *row, http_status_texts *t);

typedef struct http_status_view {
    const queue_status_row *row;
    const char *poll_url;     /* /exports/{id}/status?t=TOKEN */
    const char *cancel_url;   /* /exports/{id}/cancel?t=TOKEN */
    const char *csrf;         /* the cancel form's token */
    const char *download_url; /* the stable download link; NULL until succeeded */
    const char *notice;       /* a message after a cancel without script; NULL = none */
} http_status_view;

int http_status_render(const http_status_view *v, eq_buf *out, eq_err *err) EQ_MUST;
/* The page for a bad link (404: nothing about any job) or an expired one (410). */
int http_status_render_gone(int status, eq_buf *out, eq_err *err) EQ_MUST;
/* The JSON the page polls: state, position, percent, eta_seconds, rows,
 * bytes, rows_estimate (null when unknown), the texts, cancellable,
 * download_url (null until succeeded) and poll_after. New reference. */
json_t *http_status_json(const queue_status_row *row, const char *download_url);

const char *http_status_css(void);
const char *http_status_js(void);

#endif
