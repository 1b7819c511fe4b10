/* http_pages_view.c - see http_pages.h: the status page, its JSON, its style
 * and its script. Pure: a job row in, text out. */
#include "http/http_pages.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "http/http_html.h"
#include "mail/mail_message.h"

static const char css[] =
    ":root{color-scheme:light dark;--fg:#1b1f24;--bg:#fff;--mute:#57606a;--line:#d0d7de;--accent:#0969da;"
    "--accent-fg:#fff;--bad:#cf222e}"
    "@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#0d1117;--mute:#8d96a0;--line:#30363d;"
    "--accent:#4493f8;--accent-fg:#0d1117;--bad:#f85149}}"
    "body{font:16px/1.5 system-ui,sans-serif;color:var(--fg);background:var(--bg);margin:0;padding:1rem}"
    "main{max-width:34rem;margin:2rem auto;border:1px solid var(--line);border-radius:10px;padding:1.2rem 1.5rem}"
    "h1{font-size:1.3rem;margin:0 0 .6rem;word-break:break-word}"
    "#message{font-size:1.05rem;margin:.4rem 0 1rem}"
    "[data-state=failed] #message,[data-state=expired] #message,[data-state=cancelled] #message{color:var(--bad)}"
    "progress{width:100%;height:1.1rem;accent-color:var(--accent)}"
    "dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:1rem 0}"
    "dl>div{display:contents}dt{color:var(--mute)}dd{margin:0;font-variant-numeric:tabular-nums}"
    ".actions{display:flex;gap:.8rem;flex-wrap:wrap;align-items:center;margin-top:1rem}"
    "a.button{display:inline-block;background:var(--accent);color:var(--accent-fg);padding:.55rem 1.1rem;"
    "border-radius:8px;text-decoration:none;font-weight:600}"
    "button{font:inherit;padding:.5rem 1rem;border-radius:8px;border:1px solid var(--line);background:transparent;"
    "color:var(--fg);cursor:pointer}"
    "a:focus-visible,button:focus-visible{outline:3px solid var(--accent);outline-offset:2px}"
    "[hidden]{display:none!important}.mute{color:var(--mute);font-size:.9rem}";

static const char js[] =
    "(function(){'use strict';"
    "var root=document.getElementById('export');var url=document.body.getAttribute('data-poll');"
    "var delay=2000,etag=null,timer=null,stopped=false;"
    "function attr(n,v){if(v===null||v===undefined)root.removeAttribute(n);else root.setAttribute(n,String(v));}"
    "function text(id,t){var e=document.getElementById(id);if(e)e.textContent=t;}"
    "function show(id,on){var e=document.getElementById(id);if(e)e.hidden=!on;}"
    "function apply(j){attr('data-state',j.state);"
    "attr('data-position',j.position>0?j.position:null);attr('data-percent',j.percent);"
    "attr('data-eta',j.eta_seconds);text('title',j.title);text('message',j.message);"
    "var bar=document.getElementById('bar');"
    "if(j.percent===null){bar.removeAttribute('value');bar.textContent='';}"
    "else{bar.value=j.percent;bar.textContent=j.percent+'%';}"
    "text('position',j.position>0?String(j.position):'');show('row-position',j.position>0);"
    "text('eta',j.eta_text);show('row-eta',j.eta_text!=='');text('rows',j.rows_text);text('size',j.size_text);"
    "var a=document.querySelector('a[data-download]');"
    "if(j.download_url){a.href=j.download_url;a.hidden=false;}else{a.removeAttribute('href');a.hidden=true;}"
    "show('cancel',j.cancellable);document.title=j.title+': '+j.state;return j.poll_after;}"
    "function schedule(ms){clearTimeout(timer);if(!stopped)timer=setTimeout(poll,"
    "document.hidden?Math.max(ms,30000):ms);}"
    "function poll(){var h={'Accept':'application/json'};if(etag)h['If-None-Match']=etag;"
    "fetch(url,{headers:h,cache:'no-store',credentials:'omit'}).then(function(r){"
    "if(r.status===304){schedule(delay);return;}"
    "if(r.status===404||r.status===410){['data-state','data-position','data-percent','data-eta']"
    ".forEach(function(n){root.removeAttribute(n);});"
    "text('message',r.status===410?'This link has expired.':'This link is no longer valid.');"
    "show('cancel',false);stopped=true;return;}"
    "if(!r.ok)throw new Error('HTTP '+r.status);etag=r.headers.get('ETag');"
    "return r.json().then(function(j){var next=apply(j);"
    "if(next>0){delay=next*1000;schedule(delay);}else{stopped=true;}});"
    "}).catch(function(){delay=Math.min(delay*2,60000);schedule(delay);});}"
    "document.addEventListener('visibilitychange',function(){if(!document.hidden&&!stopped)schedule(0);});"
    "var f=document.getElementById('cancel');"
    "if(f)f.addEventListener('submit',function(ev){ev.preventDefault();"
    "var b=f.querySelector('button');b.disabled=true;"
    "fetch(f.action,{method:'POST',body:new URLSearchParams(new FormData(f)),credentials:'omit',"
    "redirect:'manual'}).then(function(){etag=null;b.disabled=false;schedule(0);},"
    "function(){b.disabled=false;});});"
    "schedule(Number(root.getAttribute('data-poll-after')||2)*1000);})();";

const char *http_status_css(void)
{
    return css;
}

const char *http_status_js(void)
{
    return js;
}

void http_status_texts_of(const queue_status_row *row, http_status_texts *t)
{
    char n[32], est[32];
    const char *st = row->state;
    memset(t, 0, sizeof *t);
    snprintf(t->title, sizeof t->title, "%s", row->filename[0] ? row->filename : row->kind);
    http_human_count(row->rows, n, sizeof n);
    if (row->rows_estimate > 0 && strcmp(st, "running") == 0) {
        http_human_count(row->rows_estimate, est, sizeof est);
        snprintf(t->rows, sizeof t->rows, "%s of about %s", n, est);
    } else {
        snprintf(t->rows, sizeof t->rows, "%s", n);
    }
    http_human_bytes(row->bytes, t->size, sizeof t->size);
    if (row->eta_seconds > 0 && (strcmp(st, "queued") == 0 || strcmp(st, "running") == 0))
        http_human_duration(row->eta_seconds, t->eta, sizeof t->eta);
    t->cancellable = strcmp(st, "queued") == 0 || strcmp(st, "running") == 0;
    if (strcmp(st, "queued") == 0) {
        if (row->position > 0)
            snprintf(t->message, sizeof t->message, "Your export is waiting in line: %lld %s ahead of it.",
                     row->position - 1, row->position == 2 ? "export is" : "exports are");
        else
            snprintf(t->message, sizeof t->message, "Your export will be tried again shortly.");
        /* under EXPORTQ_HTTP_HEADER_TIMEOUT's default (10 s): the page's keep-alive connection stays */
        t->poll_after = row->position > 20 ? 8 : row->position > 5 ? 5 : 2;
    } else if (strcmp(st, "running") == 0) {
        snprintf(t->message, sizeof t->message, "Your export is being prepared.");
        t->poll_after = 2;
    } else if (strcmp(st, "succeeded") == 0) {
        if (row->expires_at > 0 && row->expires_at <= (long long)time(NULL))
            snprintf(t->message, sizeof t->message, "This export has expired and its file was deleted.");
        else
            snprintf(t->message, sizeof t->message, "Your export is ready.");
    } else if (strcmp(st, "failed") == 0) {
        snprintf(t->message, sizeof t->message, "The export failed (%s). Please ask for a new one.",
                 mail_failure_code(row->last_error));
    } else if (strcmp(st, "cancelled") == 0) {
        snprintf(t->message, sizeof t->message, "This export was cancelled.");
    } else {
        snprintf(t->message, sizeof t->message, "This export has expired and its file was deleted.");
    }
}

json_t *http_status_json(const queue_status_row *row, const char *download_url)
{
    http_status_texts t;
    json_t *doc;
    http_status_texts_of(row, &t);
    doc = json_pack("{s:I,s:s,s:o,s:o,s:o,s:I,s:I,s:o,s:s,s:s,s:s,s:s,s:s,s:b,s:o,s:i}", "id", (json_int_t)row->id,
                    "state", row->state, "position", row->position >= 0 ? json_integer(row->position) : json_null(),
                    "percent", row->percent >= 0 ? json_integer(row->percent) : json_null(), "eta_seconds",
                    row->eta_seconds >= 0 ? json_integer(row->eta_seconds) : json_null(), "rows",
                    (json_int_t)row->rows, "bytes", (json_int_t)row->bytes, "rows_estimate",
                    row->rows_estimate >= 0 ? json_integer(row->rows_estimate) : json_null(), "title", t.title,
                    "message", t.message, "eta_text", t.eta, "rows_text", t.rows, "size_text", t.size,
                    "cancellable", t.cancellable, "download_url",
                    download_url ? json_string(download_url) : json_null(), "poll_after", t.poll_after);
    return doc;
}

static int head(eq_buf *b, const char *title, bool refresh, eq_err *err)
{
    if (eq_buf_puts(b, "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                       "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
                       "<meta name=\"color-scheme\" content=\"light dark\">"
                       "<meta name=\"referrer\" content=\"no-referrer\"><meta name=\"robots\" content=\"noindex\">"
                       "<link rel=\"icon\" href=\"data:,\">",
                    err) < 0)
        return -1;
    if (refresh && eq_buf_puts(b, "<noscript><meta http-equiv=\"refresh\" content=\"10\"></noscript>", err) < 0)
        return -1;
    if (eq_buf_puts(b, "<title>", err) < 0 || http_html_escape(b, title, err) < 0 ||
        eq_buf_printf(b, err, "</title><style>%s</style></head>", css) < 0)
        return -1;
    return 0;
}

int http_status_render(const http_status_view *v, eq_buf *b, eq_err *err)
{
    const queue_status_row *row = v->row;
    http_status_texts t;
    http_status_texts_of(row, &t);
    if (head(b, t.title, t.poll_after > 0, err) < 0 || eq_buf_puts(b, "<body data-poll=\"", err) < 0 ||
        http_html_escape(b, v->poll_url, err) < 0 ||
        eq_buf_printf(b, err, "\"><main id=\"export\" data-state=\"%s\" data-poll-after=\"%d\"", row->state,
                      t.poll_after) < 0)
        return -1;
    if (row->position > 0 && eq_buf_printf(b, err, " data-position=\"%lld\"", row->position) < 0)
        return -1;
    if (row->percent >= 0 && eq_buf_printf(b, err, " data-percent=\"%d\"", row->percent) < 0)
        return -1;
    if (row->eta_seconds >= 0 && eq_buf_printf(b, err, " data-eta=\"%lld\"", row->eta_seconds) < 0)
        return -1;
    if (eq_buf_puts(b, "><h1 id=\"title\">", err) < 0 || http_html_escape(b, t.title, err) < 0 ||
        eq_buf_puts(b, "</h1>", err) < 0)
        return -1;
    if (v->notice && (eq_buf_puts(b, "<p class=\"mute\" id=\"notice\">", err) < 0 ||
                      http_html_escape(b, v->notice, err) < 0 || eq_buf_puts(b, "</p>", err) < 0))
        return -1;
    if (eq_buf_puts(b, "<p id=\"message\" role=\"status\" aria-live=\"polite\">", err) < 0 ||
        http_html_escape(b, t.message, err) < 0 ||
        eq_buf_puts(b, "</p><label class=\"mute\" for=\"bar\">Progress</label>", err) < 0)
        return -1;
    if (row->percent >= 0) {
        if (eq_buf_printf(b, err, "<progress id=\"bar\" max=\"100\" value=\"%d\">%d%%</progress>", row->percent,
                          row->percent) < 0)
            return -1;
    } else if (eq_buf_puts(b, "<progress id=\"bar\" max=\"100\"></progress>", err) < 0) {
        return -1;
    }
    if (eq_buf_printf(b, err, "<dl><div id=\"row-position\"%s><dt>Place in line</dt><dd id=\"position\">",
                      row->position > 0 ? "" : " hidden") < 0)
        return -1;
    if (row->position > 0 && eq_buf_printf(b, err, "%lld", row->position) < 0)
        return -1;
    if (eq_buf_printf(b, err, "</dd></div><div id=\"row-eta\"%s><dt>Time left</dt><dd id=\"eta\">",
                      t.eta[0] ? "" : " hidden") < 0 ||
        http_html_escape(b, t.eta, err) < 0 || eq_buf_puts(b, "</dd></div><dt>Rows</dt><dd id=\"rows\">", err) < 0 ||
        http_html_escape(b, t.rows, err) < 0 || eq_buf_puts(b, "</dd><dt>Size</dt><dd id=\"size\">", err) < 0 ||
        http_html_escape(b, t.size, err) < 0 || eq_buf_puts(b, "</dd></dl><div class=\"actions\">", err) < 0)
        return -1;
    /* the link and the form are always there (hidden when not relevant) so
     * the script only toggles them */
    if (v->download_url) {
        if (eq_buf_puts(b, "<a class=\"button\" data-download href=\"", err) < 0 ||
            http_html_escape(b, v->download_url, err) < 0 || eq_buf_puts(b, "\">Download ", err) < 0 ||
            http_html_escape(b, t.title, err) < 0 || eq_buf_puts(b, "</a>", err) < 0)
            return -1;
    } else if (eq_buf_puts(b, "<a class=\"button\" data-download hidden>Download ", err) < 0 ||
               http_html_escape(b, t.title, err) < 0 || eq_buf_puts(b, "</a>", err) < 0) {
        return -1;
    }
    if (eq_buf_puts(b, "<form id=\"cancel\" method=\"post\" action=\"", err) < 0 ||
        http_html_escape(b, v->cancel_url, err) < 0 ||
        eq_buf_printf(b, err, "\"%s><input type=\"hidden\" name=\"csrf\" value=\"", t.cancellable ? "" : " hidden") < 0 ||
        http_html_escape(b, v->csrf, err) < 0 ||
        eq_buf_puts(b, "\"><button type=\"submit\">Cancel this export</button></form></div>"
                       "<p class=\"mute\">This page updates by itself.</p></main>",
                    err) < 0)
        return -1;
    return eq_buf_printf(b, err, "<script>%s</script></body></html>", js);
}

int http_status_render_gone(int status, eq_buf *b, eq_err *err)
{
    const char *title = status == 410 ? "This link has expired" : "This link is not valid";
    const char *text = status == 410 ? "Ask for a new export, or for a new link to it."
                                     : "Check that you copied the whole link.";
    if (head(b, title, false, err) < 0)
        return -1;
    return eq_buf_printf(b, err,
                         "<body><main id=\"export\"><h1>%s</h1><p id=\"message\">%s</p></main></body></html>", title,
                         text);
}
