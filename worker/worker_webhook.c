/* worker_webhook.c - the webhook delivery loop; see worker_webhook.h */
#include "worker/worker_webhook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/pg.h"
#include "export/object_key.h"
#include "webhook/webhook.h"
#include "worker/job_run.h"

#define IDLE_MS 1000       /* between looks at the table when nothing was due */
#define LEASE_MARGIN_S 60  /* lease = attempt timeout + this (name lookup, recording) */

static void nap(const worker_webhooks *ww, int ms)
{
    while (ms > 0 && atomic_load(ww->stop) < JOB_STOP_NOW) {
        int step = ms < 100 ? ms : 100;
        struct timespec ts = {0, (long)step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

json_t *worker_webhook_data(const queue_webhook *ev, s3_client *s3, eq_err *err)
{
    json_t *doc = queue_status_json(&ev->job);
    long long now = (long long)time(NULL);
    if (!doc) {
        eq_fail(err, EQ_ERR_NOMEM, "webhook %s: out of memory", ev->id);
        return NULL;
    }
    /* as GET /v1/exports/{id}: a fresh link while the object is there */
    if (s3 && strcmp(ev->job.state, "succeeded") == 0 && strcmp(ev->job_state_now, "succeeded") == 0 &&
        ev->job.object_key[0] && (ev->job.expires_at <= 0 || ev->job.expires_at > now)) {
        const char *filename = object_key_basename(ev->job.object_key);
        long expires = ev->job.link_expires_at > now ? (long)(ev->job.link_expires_at - now) : 0;
        char *url = NULL;
        if (expires <= 0 || expires > 604800)
            expires = 86400;
        if (ev->job.expires_at > 0 && ev->job.expires_at - now < expires)
            expires = (long)(ev->job.expires_at - now);
        if (s3_presign_get(s3, ev->job.object_key, expires < 1 ? 1 : expires, filename[0] ? filename : NULL, &url,
                           err) < 0) {
            json_decref(doc);
            return NULL;
        }
        json_object_set_new(doc, "download_url", json_string(url));
        free(url);
    }
    return doc;
}

static bool stopping_now(void *ud)
{
    const worker_webhooks *ww = ud;
    return atomic_load(ww->stop) >= JOB_STOP_NOW;
}

/* One attempt of a claimed event, and its outcome recorded. */
static void deliver(const worker_webhooks *ww, PGconn *conn, s3_client *s3, const queue_webhook *ev)
{
    const eq_config *cfg = ww->cfg;
    const char *url = ev->url ? ev->url : cfg->webhook_url;
    char ctx[128], error[sizeof ((eq_err *)0)->msg + 64], state[QUEUE_STATE_MAX];
    bool delivered = false, final = false;
    webhook_result wr = {0, false};
    webhook_stop stop = {stopping_now, (void *)ww};
    json_t *data = NULL;
    char *body = NULL;
    eq_err err, e2;

    snprintf(ctx, sizeof ctx, "job=%lld webhook=%s attempt=%d", ev->job.id, ev->id, ev->attempt);
    error[0] = '\0';
    if (!url) { /* cannot happen: the claim skips those without a global URL */
        snprintf(error, sizeof error, "no webhook URL configured");
        final = true;
    } else if (!cfg->webhook_secret) {
        snprintf(error, sizeof error,
                 "not sent: the kind '%s' has options.webhook_url but EXPORTQ_WEBHOOK_SECRET is not set", ev->job.kind);
        final = true;
    } else if (!(data = worker_webhook_data(ev, s3, &err))) {
        snprintf(error, sizeof error, "%s", err.msg);
    } else if (!(body = webhook_event_body(ev->id, ev->type, ev->created_at, data))) {
        snprintf(error, sizeof error, "the event body cannot be built (out of memory or over %d bytes)",
                 WEBHOOK_BODY_MAX);
        final = true;
    } else if (webhook_post(url, ev->url == NULL, cfg->webhook_allowed_hosts, cfg->webhook_secret, body, strlen(body),
                            cfg->webhook_timeout, &stop, &wr, &err) < 0) {
        snprintf(error, sizeof error, "%s", err.msg);
        final = wr.refused;
    } else if (wr.status >= 200 && wr.status < 300) {
        delivered = true;
    } else {
        snprintf(error, sizeof error, "receiver answered HTTP %d", wr.status);
    }
    json_decref(data);
    free(body);
    if (queue_webhook_settle(conn, ev, delivered, wr.status, delivered ? NULL : error, final, state, &e2) < 0) {
        eq_warn(ctx, "webhook outcome not recorded (the lease runs out and it is sent again): %s", e2.msg);
        return;
    }
    if (delivered)
        eq_info(ctx, "webhook %s delivered (HTTP %d)", ev->type, wr.status);
    else if (strcmp(state, "pending") == 0)
        eq_warn(ctx, "webhook %s not delivered, will retry: %s", ev->type, error);
    else if (strcmp(state, "failed") == 0)
        eq_error(ctx, "webhook %s failed for good: %s", ev->type, error);
    else
        eq_info(ctx, "webhook %s outcome not recorded: the event is %s", ev->type, state);
}

/* A kind with options.webhook_url on a worker without a secret: its events
 * fail (they cannot be signed); say so at start-up, naming the setting. */
static void warn_unsigned_kinds(PGconn *conn, const char *lctx)
{
    PGresult *res = PQexec(conn, "SELECT string_agg(name, ', ' ORDER BY name) FROM exportq.kinds "
                                 "WHERE options ? 'webhook_url'");
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
        eq_error(lctx, "EXPORTQ_WEBHOOK_SECRET is not set, but kind(s) %.300s have options.webhook_url: "
                       "their webhooks are refused (failed) until it is set", PQgetvalue(res, 0, 0));
    PQclear(res);
}

void worker_webhooks_run(const worker_webhooks *ww)
{
    const eq_config *cfg = ww->cfg;
    const char *lctx = "thread=webhooks";
    int lease = cfg->webhook_timeout + LEASE_MARGIN_S, delay = 500;
    PGconn *conn = NULL;
    s3_client *s3 = NULL;
    eq_err err;

    if (s3_client_new(cfg, &s3, &err) < 0) {
        /* no links then, but events still go out */
        eq_warn(lctx, "no S3 client, webhooks carry no download_url: %s", err.msg);
        s3 = NULL;
    }
    while (atomic_load(ww->stop) < JOB_STOP_NOW) {
        bool others_done = atomic_load(ww->threads_alive) <= 1, got = false;
        queue_webhook ev;
        if (!conn || PQstatus(conn) != CONNECTION_OK) {
            if (conn)
                PQfinish(conn);
            conn = NULL;
            if (eq_pg_connect(cfg->database_url, "worker-webhooks", &conn, &err) < 0) {
                eq_warn(lctx, "queue database: %s (retrying in %d ms)", err.msg, delay);
                if (others_done && (ww->drain || atomic_load(ww->stop) != JOB_RUN))
                    break;
                nap(ww, delay);
                delay = delay < 8000 ? delay * 2 : 8000;
                continue;
            }
            delay = 500;
            if (!cfg->webhook_secret)
                warn_unsigned_kinds(conn, lctx);
        }
        if (queue_webhook_claim(conn, lease, cfg->webhook_url != NULL, &ev, &got, &err) < 0) {
            eq_warn(lctx, "claim webhook: %s", err.msg);
        } else if (got) {
            deliver(ww, conn, s3, &ev);
            queue_webhook_cleanup(&ev);
            continue;
        }
        if (others_done && (ww->drain || atomic_load(ww->stop) != JOB_RUN))
            break; /* the threads that make events are gone and none is due */
        nap(ww, IDLE_MS);
    }
    if (conn)
        PQfinish(conn);
    s3_client_free(s3);
}
