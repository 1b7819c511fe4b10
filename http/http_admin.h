/* http_admin.h - the operator's dashboard as HTML (GET /admin), rendered by
 * pure functions from what the queue functions returned (http_admin_page.c,
 * SVG charts in http_admin_chart.c); the handlers, the session cookie and the
 * CSRF tokens are in http_admin.c, the JSON API in http_admin_api.c.
 *
 * Every value from the database is HTML-escaped (http_html.h). The page has
 * no script; its one <style> is allowed by hash (http_admin_css()), so the
 * Content-Security-Policy is strict. Every action is a POST form carrying
 * the CSRF token.
 */
#ifndef EXPORTQ_HTTP_ADMIN_H
#define EXPORTQ_HTTP_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/error.h"
#include "queue/queue.h"

#define HTTP_ADMIN_SERIES 60 /* minutes in the charts */

typedef struct http_admin_view {
    const queue_state_count *states; /* totals by state (exportq.job_counts) */
    size_t nstates;
    const queue_kind_count *kinds;   /* by state and kind: live and the last 24 h */
    size_t nkinds;
    const queue_status_row *running, *queued, *failed, *succeeded;
    int nrunning, nqueued, nfailed, nsucceeded;
    const queue_minute *series;      /* oldest first */
    size_t nseries;
    const char *csrf;                /* the session's CSRF token */
    const char *flash;               /* a message after an action, NULL = none */
    bool flash_error;
    long long now;                   /* Unix seconds */
} http_admin_view;

/* The dashboard into out. */
int http_admin_render(const http_admin_view *v, eq_buf *out, eq_err *err) EQ_MUST;
/* The login form (message: NULL, or why the last try failed). */
int http_admin_render_login(const char *message, eq_buf *out, eq_err *err) EQ_MUST;
/* The text of the page's <style> (for its CSP hash). */
const char *http_admin_css(void);

/* One bar chart of n values (one per minute, oldest first; < 0 = no value)
 * as inline SVG with a title, an accessible description, the max on its axis
 * and the minutes on the other, values formatted with `unit` ("jobs", "s"). */
int http_admin_chart(eq_buf *b, const char *title, const char *unit, const double *values, size_t n,
                     eq_err *err) EQ_MUST;

#endif
