/* http_admin_page.c - see http_admin.h: the dashboard and its login form as
 * HTML. Pure: the view in, the page out. */
#include "http/http_admin.h"

#include <stdio.h>
#include <string.h>

#include "http/http_html.h"

static const char css[] =
    ":root{color-scheme:light dark;--fg:#1b1f24;--bg:#fff;--mute:#57606a;--line:#d0d7de;--accent:#0969da;"
    "--bad:#cf222e;--ok:#1a7f37}"
    "@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#0d1117;--mute:#8d96a0;--line:#30363d;"
    "--accent:#4493f8;--bad:#f85149;--ok:#3fb950}}"
    "body{font:15px/1.45 system-ui,sans-serif;color:var(--fg);background:var(--bg);margin:0 auto;"
    "max-width:1200px;padding:1rem}"
    "header{display:flex;gap:1rem;align-items:center;justify-content:space-between;flex-wrap:wrap}"
    "h1{font-size:1.4rem;margin:.2rem 0}h2{font-size:1.1rem;margin:1.6rem 0 .4rem}"
    "table{border-collapse:collapse;width:100%;font-size:.92rem}"
    "th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}"
    "td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}"
    ".mute{color:var(--mute)}.err{color:var(--bad);word-break:break-word}"
    ".flash{padding:.5rem .8rem;border:1px solid var(--ok);border-radius:6px}"
    ".flash.bad{border-color:var(--bad)}"
    "form.inline{display:inline;margin:0}"
    "button{font:inherit;padding:.2rem .7rem;border-radius:6px;border:1px solid var(--line);"
    "background:transparent;color:var(--accent);cursor:pointer}"
    "button:focus-visible,a:focus-visible,input:focus-visible{outline:2px solid var(--accent);outline-offset:2px}"
    "a{color:var(--accent)}"
    ".charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:1rem}"
    "figure.chart{margin:0}figcaption{font-weight:600;margin-bottom:.3rem}"
    ".axis{stroke:var(--mute);stroke-width:1}.bar{fill:var(--accent)}"
    ".label{fill:var(--mute);font-size:11px}"
    ".totals{display:flex;gap:1.5rem;flex-wrap:wrap;margin:.4rem 0}.totals div{min-width:6rem}"
    ".totals b{display:block;font-size:1.5rem;font-variant-numeric:tabular-nums}"
    "progress{width:8rem}"
    "main.login{max-width:26rem;margin:4rem auto}main.login input{width:100%;font:inherit;padding:.4rem;"
    "margin:.4rem 0 .8rem;box-sizing:border-box}";

const char *http_admin_css(void)
{
    return css;
}

static const char *const state_names[] = {"queued", "running", "succeeded", "failed", "cancelled", "expired"};
#define NSTATES (sizeof state_names / sizeof state_names[0])

static int head(eq_buf *b, const char *title, eq_err *err)
{
    return eq_buf_printf(b, err,
                         "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                         "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
                         "<meta name=\"color-scheme\" content=\"light dark\">"
                         "<meta name=\"referrer\" content=\"no-referrer\">"
                         "<link rel=\"icon\" href=\"data:,\"><title>%s</title><style>%s</style></head><body>",
                         title, css);
}

static void ago(long long now, long long t, char *out, size_t outsz)
{
    char d[48];
    if (t <= 0) {
        snprintf(out, outsz, "-");
        return;
    }
    http_human_duration(now > t ? now - t : 0, d, sizeof d);
    snprintf(out, outsz, "%s ago", d);
}

/* <form> posting `action` for job id, with the CSRF token. */
static int action_form(eq_buf *b, long long id, const char *action, const char *label, const char *csrf,
                       eq_err *err)
{
    return eq_buf_printf(b, err,
                         "<form class=\"inline\" method=\"post\" action=\"/admin/exports/%lld/%s\">"
                         "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
                         "<button type=\"submit\" data-action=\"%s\" aria-label=\"%s export %lld\">%s</button></form>",
                         id, action, csrf, action, label, id, label);
}

/* The cells every job table starts with: id, kind, owner. */
static int job_cells(eq_buf *b, const queue_status_row *j, eq_err *err)
{
    if (eq_buf_printf(b, err, "<tr data-job=\"%lld\" data-state=\"", j->id) < 0 ||
        http_html_escape(b, j->state, err) < 0 || eq_buf_printf(b, err, "\"><td class=\"n\">%lld</td><td>", j->id) < 0 ||
        http_html_escape(b, j->kind, err) < 0 || eq_buf_puts(b, "</td><td>", err) < 0 ||
        http_html_escape(b, j->owner[0] ? j->owner : "(none)", err) < 0 || eq_buf_puts(b, "</td>", err) < 0)
        return -1;
    return 0;
}

static int totals(eq_buf *b, const http_admin_view *v, eq_err *err)
{
    if (eq_buf_puts(b, "<section aria-labelledby=\"h-states\"><h2 id=\"h-states\">Jobs by state</h2>"
                       "<div class=\"totals\" id=\"totals\">", err) < 0)
        return -1;
    for (size_t s = 0; s < NSTATES; s++) {
        long long n = 0;
        char c[32];
        for (size_t i = 0; i < v->nstates; i++)
            if (strcmp(v->states[i].state, state_names[s]) == 0)
                n = v->states[i].jobs;
        http_human_count(n, c, sizeof c);
        if (eq_buf_printf(b, err, "<div data-state=\"%s\" data-count=\"%lld\"><b>%s</b>%s</div>", state_names[s], n,
                          c, state_names[s]) < 0)
            return -1;
    }
    if (eq_buf_puts(b, "</div><table id=\"by-kind\"><caption class=\"mute\">By kind: every queued and running job, "
                       "and the jobs finished in the last 24 hours</caption><thead><tr><th>kind</th>", err) < 0)
        return -1;
    for (size_t s = 0; s < NSTATES; s++)
        if (eq_buf_printf(b, err, "<th class=\"n\">%s</th>", state_names[s]) < 0)
            return -1;
    if (eq_buf_puts(b, "</tr></thead><tbody>", err) < 0)
        return -1;
    for (size_t i = 0; i < v->nkinds; i++) {
        if (i > 0 && strcmp(v->kinds[i].kind, v->kinds[i - 1].kind) == 0)
            continue; /* rows come in kind order: one line per kind */
        if (eq_buf_puts(b, "<tr><td>", err) < 0 || http_html_escape(b, v->kinds[i].kind, err) < 0 ||
            eq_buf_puts(b, "</td>", err) < 0)
            return -1;
        for (size_t s = 0; s < NSTATES; s++) {
            long long n = 0;
            for (size_t k = i; k < v->nkinds && strcmp(v->kinds[k].kind, v->kinds[i].kind) == 0; k++)
                if (strcmp(v->kinds[k].state, state_names[s]) == 0)
                    n = v->kinds[k].jobs;
            if (eq_buf_printf(b, err, "<td class=\"n\">%lld</td>", n) < 0)
                return -1;
        }
        if (eq_buf_puts(b, "</tr>", err) < 0)
            return -1;
    }
    if (v->nkinds == 0 && eq_buf_printf(b, err, "<tr><td colspan=\"%zu\" class=\"mute\">no jobs</td></tr>",
                                        NSTATES + 1) < 0)
        return -1;
    return eq_buf_puts(b, "</tbody></table></section>", err);
}

static int charts(eq_buf *b, const http_admin_view *v, eq_err *err)
{
    double done[HTTP_ADMIN_SERIES], wait[HTTP_ADMIN_SERIES];
    size_t n = v->nseries < HTTP_ADMIN_SERIES ? v->nseries : HTTP_ADMIN_SERIES;
    for (size_t i = 0; i < n; i++) {
        done[i] = (double)v->series[i].succeeded;
        wait[i] = v->series[i].wait_seconds;
    }
    if (eq_buf_puts(b, "<section aria-labelledby=\"h-charts\"><h2 id=\"h-charts\">The last hour</h2>"
                       "<div class=\"charts\" id=\"charts\">", err) < 0 ||
        http_admin_chart(b, "Exports finished per minute", "jobs", done, n, err) < 0 ||
        http_admin_chart(b, "Mean wait before start", "s", wait, n, err) < 0)
        return -1;
    return eq_buf_puts(b, "</div></section>", err);
}

static int running(eq_buf *b, const http_admin_view *v, eq_err *err)
{
    if (eq_buf_printf(b, err, "<section aria-labelledby=\"h-running\"><h2 id=\"h-running\">Running (%d)</h2>"
                              "<table id=\"running\"><thead><tr><th class=\"n\">id</th><th>kind</th><th>owner</th>"
                              "<th>progress</th><th class=\"n\">rows</th><th class=\"n\">size</th><th>worker</th>"
                              "<th>started</th><th></th></tr></thead><tbody>",
                      v->nrunning) < 0)
        return -1;
    for (int i = 0; i < v->nrunning; i++) {
        const queue_status_row *j = &v->running[i];
        char rows[32], size[32], when[64];
        http_human_count(j->rows, rows, sizeof rows);
        http_human_bytes(j->bytes, size, sizeof size);
        ago(v->now, j->started_at, when, sizeof when);
        if (job_cells(b, j, err) < 0)
            return -1;
        if (j->percent >= 0) {
            if (eq_buf_printf(b, err, "<td><progress max=\"100\" value=\"%d\">%d%%</progress> %d%%</td>", j->percent,
                              j->percent, j->percent) < 0)
                return -1;
        } else if (eq_buf_puts(b, "<td><progress max=\"100\">unknown</progress></td>", err) < 0) {
            return -1;
        }
        if (eq_buf_printf(b, err, "<td class=\"n\">%s</td><td class=\"n\">%s</td><td>", rows, size) < 0 ||
            http_html_escape(b, j->worker, err) < 0 || eq_buf_printf(b, err, "</td><td>%s</td><td>", when) < 0 ||
            action_form(b, j->id, "cancel", "Cancel", v->csrf, err) < 0 || eq_buf_puts(b, "</td></tr>", err) < 0)
            return -1;
    }
    if (v->nrunning == 0 && eq_buf_puts(b, "<tr><td colspan=\"9\" class=\"mute\">nothing is running</td></tr>", err) < 0)
        return -1;
    return eq_buf_puts(b, "</tbody></table></section>", err);
}

static int queued(eq_buf *b, const http_admin_view *v, eq_err *err)
{
    if (eq_buf_printf(b, err, "<section aria-labelledby=\"h-queued\"><h2 id=\"h-queued\">Queued (newest %d)</h2>"
                              "<table id=\"queued\"><thead><tr><th class=\"n\">id</th><th>kind</th><th>owner</th>"
                              "<th class=\"n\">position</th><th class=\"n\">attempts</th><th>enqueued</th><th></th>"
                              "</tr></thead><tbody>",
                      v->nqueued) < 0)
        return -1;
    for (int i = 0; i < v->nqueued; i++) {
        const queue_status_row *j = &v->queued[i];
        char when[64], pos[32];
        ago(v->now, j->created_at, when, sizeof when);
        if (j->position > 0)
            snprintf(pos, sizeof pos, "%lld", j->position);
        else
            snprintf(pos, sizeof pos, "waiting to retry");
        if (job_cells(b, j, err) < 0 ||
            eq_buf_printf(b, err, "<td class=\"n\">%s</td><td class=\"n\">%d</td><td>%s</td><td>", pos, j->attempts,
                          when) < 0 ||
            action_form(b, j->id, "cancel", "Cancel", v->csrf, err) < 0 || eq_buf_puts(b, "</td></tr>", err) < 0)
            return -1;
    }
    if (v->nqueued == 0 && eq_buf_puts(b, "<tr><td colspan=\"7\" class=\"mute\">the queue is empty</td></tr>", err) < 0)
        return -1;
    return eq_buf_puts(b, "</tbody></table></section>", err);
}

static int failed(eq_buf *b, const http_admin_view *v, eq_err *err)
{
    if (eq_buf_printf(b, err, "<section aria-labelledby=\"h-failed\"><h2 id=\"h-failed\">Recent failures (%d)</h2>"
                              "<table id=\"failed\"><thead><tr><th class=\"n\">id</th><th>kind</th><th>owner</th>"
                              "<th>error</th><th class=\"n\">attempts</th><th>failed</th><th></th></tr></thead><tbody>",
                      v->nfailed) < 0)
        return -1;
    for (int i = 0; i < v->nfailed; i++) {
        const queue_status_row *j = &v->failed[i];
        char when[64];
        ago(v->now, j->finished_at, when, sizeof when);
        if (job_cells(b, j, err) < 0 || eq_buf_puts(b, "<td class=\"err\">", err) < 0 ||
            http_html_escape(b, j->last_error[0] ? j->last_error : "(no message)", err) < 0 ||
            eq_buf_printf(b, err, "</td><td class=\"n\">%d</td><td>%s</td><td>", j->attempts, when) < 0 ||
            action_form(b, j->id, "retry", "Retry", v->csrf, err) < 0 || eq_buf_puts(b, "</td></tr>", err) < 0)
            return -1;
    }
    if (v->nfailed == 0 && eq_buf_puts(b, "<tr><td colspan=\"7\" class=\"mute\">no failures</td></tr>", err) < 0)
        return -1;
    return eq_buf_puts(b, "</tbody></table></section>", err);
}

static int succeeded(eq_buf *b, const http_admin_view *v, eq_err *err)
{
    if (eq_buf_printf(b, err, "<section aria-labelledby=\"h-done\"><h2 id=\"h-done\">Recently succeeded (%d)</h2>"
                              "<table id=\"succeeded\"><thead><tr><th class=\"n\">id</th><th>kind</th><th>owner</th>"
                              "<th class=\"n\">rows</th><th class=\"n\">size</th><th>finished</th><th></th></tr>"
                              "</thead><tbody>",
                      v->nsucceeded) < 0)
        return -1;
    for (int i = 0; i < v->nsucceeded; i++) {
        const queue_status_row *j = &v->succeeded[i];
        char when[64], rows[32], size[32];
        ago(v->now, j->finished_at, when, sizeof when);
        http_human_count(j->rows, rows, sizeof rows);
        http_human_bytes(j->bytes, size, sizeof size);
        if (job_cells(b, j, err) < 0 ||
            eq_buf_printf(b, err, "<td class=\"n\">%s</td><td class=\"n\">%s</td><td>%s</td><td>", rows, size, when) < 0 ||
            action_form(b, j->id, "revoke", "Revoke", v->csrf, err) < 0 || eq_buf_puts(b, "</td></tr>", err) < 0)
            return -1;
    }
    if (v->nsucceeded == 0 && eq_buf_puts(b, "<tr><td colspan=\"7\" class=\"mute\">none yet</td></tr>", err) < 0)
        return -1;
    return eq_buf_puts(b, "</tbody></table></section>", err);
}

int http_admin_render(const http_admin_view *v, eq_buf *b, eq_err *err)
{
    if (head(b, "exportq admin", err) < 0 ||
        eq_buf_printf(b, err,
                      "<header><h1>exportq admin</h1><nav><a href=\"/admin\">Refresh</a> "
                      "<form class=\"inline\" method=\"post\" action=\"/admin/logout\">"
                      "<input type=\"hidden\" name=\"csrf\" value=\"%s\"><button type=\"submit\">Log out</button>"
                      "</form></nav></header><main id=\"admin\">",
                      v->csrf) < 0)
        return -1;
    if (v->flash && (eq_buf_printf(b, err, "<p class=\"flash%s\" role=\"status\" id=\"flash\">",
                                   v->flash_error ? " bad" : "") < 0 ||
                     http_html_escape(b, v->flash, err) < 0 || eq_buf_puts(b, "</p>", err) < 0))
        return -1;
    if (totals(b, v, err) < 0 || charts(b, v, err) < 0 || running(b, v, err) < 0 || queued(b, v, err) < 0 ||
        failed(b, v, err) < 0 || succeeded(b, v, err) < 0)
        return -1;
    return eq_buf_puts(b, "</main></body></html>", err);
}

int http_admin_render_login(const char *message, eq_buf *b, eq_err *err)
{
    if (head(b, "exportq admin: log in", err) < 0 ||
        eq_buf_puts(b, "<main class=\"login\"><h1>exportq admin</h1>", err) < 0)
        return -1;
    if (message && (eq_buf_puts(b, "<p class=\"flash bad\" role=\"alert\" id=\"flash\">", err) < 0 ||
                    http_html_escape(b, message, err) < 0 || eq_buf_puts(b, "</p>", err) < 0))
        return -1;
    return eq_buf_puts(b,
                       "<form method=\"post\" action=\"/admin/login\" id=\"login\">"
                       "<label for=\"token\">Admin token (EXPORTQ_ADMIN_TOKEN)</label>"
                       "<input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" "
                       "required autofocus><button type=\"submit\">Log in</button></form>"
                       "<p class=\"mute\">The session lasts EXPORTQ_ADMIN_SESSION_TTL seconds and ends when the "
                       "token changes.</p></main></body></html>",
                       err);
}
