/* worker.c - the worker process: job threads, housekeeping, signals; see worker.h */
#include "worker/worker.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/daemon.h"
#include "common/link.h"
#include "common/log.h"
#include "common/pg.h"
#include "queue/queue.h"
#include "queue/queue_object.h"
#include "worker/job_run.h"
#include "mail/mail_message.h"
#include "mail/mail_send.h"
#include "export/export_format.h"
#include "export/object_key.h"
#include "s3/s3_client.h"
#include "s3/s3_presign.h"
#include "worker/worker_metrics.h"
#include "worker/worker_webhook.h"

#define EXPIRE_LEASE_SECONDS 60
#define RETENTION_EVERY_MS 60000

typedef struct worker {
    const eq_config *cfg;
    worker_opts opts;
    atomic_int stop; /* JOB_RUN, JOB_DRAIN, JOB_STOP_NOW: set by the main thread, read by all */
    atomic_int jobs_running;   /* job threads still looping */
    atomic_int threads_alive;  /* all threads, housekeeper included */
    bool smtp;                 /* mail settings present */
    char host[64];
    mail_templates templates;  /* EXPORTQ_MAIL_TEMPLATES, loaded at start */
} worker;

typedef struct worker_thread {
    worker *w;
    int index;
    pthread_t tid;
    char id[QUEUE_WORKER_MAX];
    char logctx[96];
    PGconn *qconn;
    PGconn *sconn;
    s3_client *s3;
    char installation[MAIL_INSTALLATION_MAX + 1]; /* housekeeper: for Message-IDs, read once */
} worker_thread;

/* Sleeps up to ms, waking early when the worker is told to stop. */
static void nap(worker *w, int ms, int stop_level)
{
    while (ms > 0 && w->stop < stop_level) {
        int step = ms < 200 ? ms : 200;
        struct timespec ts = {0, (long)step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

/* Connects the thread's queue connection, retrying with backoff until it
 * works or the worker stops. */
static int connect_queue(worker_thread *t, bool listen)
{
    int delay = 500;
    while (t->w->stop == JOB_RUN || (t->index < 0 && t->w->stop < JOB_STOP_NOW)) {
        eq_err err;
        if (t->qconn && PQstatus(t->qconn) == CONNECTION_OK)
            return 0;
        if (t->qconn) {
            PQfinish(t->qconn);
            t->qconn = NULL;
        }
        if (eq_pg_connect(t->w->cfg->database_url, t->index < 0 ? "worker-aux" : "worker", &t->qconn, &err) == 0 &&
            (!listen || queue_listen(t->qconn, &err) == 0))
            return 0;
        eq_warn(t->logctx, "queue database: %s (retrying in %d ms)", err.msg, delay);
        nap(t->w, delay, JOB_DRAIN);
        delay = delay < 8000 ? delay * 2 : 8000;
    }
    return -1;
}

static void thread_cleanup(worker_thread *t)
{
    if (t->qconn)
        PQfinish(t->qconn);
    if (t->sconn)
        PQfinish(t->sconn);
    s3_client_free(t->s3);
    t->qconn = t->sconn = NULL;
    t->s3 = NULL;
}

static void *job_thread(void *arg)
{
    worker_thread *t = arg;
    worker *w = t->w;
    const eq_config *cfg = w->cfg;
    eq_err err;
    job_run_ctx ctx = {.cfg = cfg, .sconn = &t->sconn, .stop = &w->stop};

    if (s3_client_new(cfg, &t->s3, &err) < 0) {
        eq_error(t->logctx, "%s", err.msg);
        goto out;
    }
    ctx.s3 = t->s3;
    while (w->stop == JOB_RUN) {
        queue_job job;
        bool claimed = false, notified;
        if (connect_queue(t, true) < 0)
            break;
        memset(&job, 0, sizeof job);
        if (queue_claim(t->qconn, t->id, cfg->lease_seconds, cfg->owner_max_running, &job, &claimed, &err) < 0) {
            eq_warn(t->logctx, "claim failed: %s", err.msg);
            queue_job_cleanup(&job);
            nap(w, 1000, JOB_DRAIN);
            continue;
        }
        if (claimed) {
            ctx.qconn = t->qconn;
            worker_metrics_running(1);
            job_run(&ctx, &job, &err);
            worker_metrics_running(-1);
            queue_job_cleanup(&job);
            /* a heartbeat may have reset the connection (PostgreSQL restarted):
             * LISTEN again, it is idempotent and cheap */
            if (PQstatus(t->qconn) == CONNECTION_OK && queue_listen(t->qconn, &err) < 0)
                eq_warn(t->logctx, "listen: %s", err.msg);
            continue;
        }
        if (w->opts.drain)
            break; /* nothing ready */
        /* idle: wait for a NOTIFY, polling as a fallback; look at stop often */
        for (int waited = 0; waited < cfg->poll_seconds * 1000 && w->stop == JOB_RUN; waited += 500) {
            if (queue_wait(t->qconn, 500, &notified, &err) < 0) {
                eq_warn(t->logctx, "wait: %s", err.msg);
                break;
            }
            if (notified)
                break;
        }
    }
out:
    thread_cleanup(t);
    atomic_fetch_sub(&w->jobs_running, 1);
    atomic_fetch_sub(&w->threads_alive, 1);
    return NULL;
}

/* A send in progress is cut short on the second SIGTERM. */
static bool stopping_now(void *ud)
{
    const worker *w = ud;
    return w->stop >= JOB_STOP_NOW;
}

/* Sends one pending mail. *did = false when none was due. The mail lease is
 * longer than the longest send (mail_lease_seconds), and the outcome is
 * recorded only while the claim is still ours. */
static int mail_one(worker_thread *t, bool *did, eq_err *err)
{
    const eq_config *cfg = t->w->cfg;
    queue_mail m;
    mail_export_info info;
    eq_buf msg;
    char *url = NULL;
    bool got = false;
    int rc = -1;
    char ctx[96], fname[QUEUE_NAME_MAX + 16];
    mail_stop stop = {stopping_now, t->w};
    bool recorded = false;

    eq_buf_init(&msg, MAIL_MESSAGE_MAX);
    *did = false;
    if (queue_mail_claim(t->qconn, t->id, mail_lease_seconds(cfg), cfg->mail_rate_per_owner, &m, &got, err) < 0)
        return -1;
    if (!got)
        return 0;
    *did = true;
    snprintf(ctx, sizeof ctx, "job=%lld mail=%s attempt=%d", m.job_id, m.mail_kind, m.mail_attempt);
    memset(&info, 0, sizeof info);
    info.job_id = m.job_id;
    info.kind = m.kind;
    info.to = m.email;
    info.rows = m.rows;
    info.bytes = m.bytes;
    info.product = cfg->product_name;
    info.format = m.format[0] ? m.format : "csv";
    info.templates = &t->w->templates;
    if (!t->installation[0] && queue_installation_id(t->qconn, t->installation, sizeof t->installation, err) < 0)
        goto fail;
    info.installation = t->installation;
    if (strcmp(m.mail_kind, "success") == 0 && link_configured(cfg)) {
        /* the stable link: exportq's own address, valid until the job's
         * link_expires_at; it presigns when clicked */
        long long now = (long long)time(NULL);
        int64_t exp = link_expiry(cfg, m.link_expires_at, now);
        info.filename = object_key_basename(m.object_key);
        if (m.link_expires_at <= 0) /* a job completed by a release without link_expires_at */
            exp = now + (m.expires_at > now && m.expires_at - now < cfg->link_ttl ? m.expires_at - now : cfg->link_ttl);
        url = malloc(LINK_URL_MAX);
        if (!url || link_url(cfg, LINK_SCOPE_DOWNLOAD, m.job_id, exp, url, LINK_URL_MAX) < 0) {
            eq_fail(err, EQ_ERR_NOMEM, "cannot make the stable link");
            goto fail;
        }
        info.url = url;
        info.link_expires_at = (time_t)exp;
        if (mail_build_success(&info, cfg->smtp_from, &msg, err) < 0)
            goto fail;
    } else if (strcmp(m.mail_kind, "success") == 0) {
        long ttl = cfg->link_ttl, left = (long)(m.link_expires_at - (long long)time(NULL));
        info.filename = object_key_basename(m.object_key);
        /* the link ends no later than the job's link_expires_at (which the
         * credentials' lifetime capped) when that is still ahead; the mail
         * says when it really ends */
        if (m.link_expires_at > 0 && left >= 60 && left < ttl)
            ttl = left;
        /* and never after the object is deleted: min(link TTL, retention) */
        {
            time_t now = time(NULL);
            long to_object = (long)(mail_link_expiry(now, ttl, m.expires_at) - now);
            if (to_object < ttl)
                ttl = to_object;
        }
        if (s3_presign_link(t->s3, m.object_key, ttl, info.filename, &url, &info.link_expires_at, err) < 0)
            goto fail;
        info.url = url;
        if (mail_build_success(&info, cfg->smtp_from, &msg, err) < 0)
            goto fail;
    } else {
        export_format f = EXPORT_FORMAT_CSV;
        eq_err fe;
        if (m.format[0] && export_format_parse(m.format, &f, &fe) < 0)
            f = EXPORT_FORMAT_CSV;
        if (export_format_filename(m.filename, m.kind, f, false, fname, sizeof fname, &fe) == 0)
            info.filename = fname;
        if (mail_build_failure(&info, m.last_error, cfg->smtp_from, &msg, err) < 0)
            goto fail;
    }
    if (mail_send_stoppable(cfg, m.email, msg.data, msg.len, &stop, err) < 0)
        goto fail;
    worker_metrics_mail(1);
    if (queue_mail_done_fenced(t->qconn, m.job_id, m.mail_attempt, &recorded, err) < 0) {
        /* sent but not recorded: it may be sent again (same Message-ID) */
        eq_warn(ctx, "mail sent but not recorded: %s", err->msg);
        goto out;
    }
    if (!recorded)
        eq_warn(ctx, "mail sent, but the claim was no longer ours (settled or taken over meanwhile)");
    else
        eq_info(ctx, "mail sent");
    rc = 0;
    goto out;
fail:
    worker_metrics_mail(0);
    eq_warn(ctx, "mail not sent: %s", err->msg);
    {
        eq_err e2;
        if (queue_mail_fail_fenced(t->qconn, m.job_id, m.mail_attempt, err->msg, cfg->mail_max_attempts,
                                   &recorded, &e2) < 0)
            eq_warn(ctx, "could not record the mail failure: %s", e2.msg);
        else if (!recorded)
            eq_info(ctx, "mail failure not recorded: the claim was no longer ours");
    }
    rc = 0; /* a mail failure is the mail's, not the housekeeper's */
out:
    free(url);
    eq_buf_cleanup(&msg);
    return rc;
}

/* Aborts the multipart uploads that failed or cancelled jobs still record
 * (their worker was gone when the job was cancelled or failed by a rescue). */
static void orphan_pass(worker_thread *t)
{
    const eq_config *cfg = t->w->cfg;
    /* a live worker sees a cancel on its next heartbeat and aborts its own
     * upload; after two leases nobody will */
    int orphan_grace = 2 * cfg->lease_seconds;
    eq_err err;
    for (int i = 0; i < 100 && t->w->stop == JOB_RUN; i++) {
        queue_orphan o;
        char dir[OBJECT_KEY_MAX + 1], ctx[64];
        bool got = false;
        if (queue_orphan_claim(t->qconn, orphan_grace, EXPIRE_LEASE_SECONDS, &o, &got, &err) < 0) {
            eq_warn(t->logctx, "orphaned uploads: %s", err.msg);
            return;
        }
        if (!got)
            return;
        snprintf(ctx, sizeof ctx, "job=%lld", o.job_id);
        if (object_key_dir(cfg->s3_prefix, o.owner, o.job_id, o.object_token, dir, sizeof dir, &err) < 0 ||
            job_abort_uploads(t->s3, dir, ctx, &err) < 0) {
            eq_warn(ctx, "orphaned upload: %s", err.msg);
            continue; /* the lease expires and it is tried again */
        }
        if (queue_orphan_done(t->qconn, o.job_id, o.upload_id, &err) < 0)
            eq_warn(ctx, "orphaned upload: %s", err.msg);
    }
}

/* Deletes objects that an attempt wrote (or may have written) for a job that
 * did not end succeeded with them: a lease lost around Complete, a crash
 * after it. A failed job never keeps a readable object. */
static void stray_pass(worker_thread *t)
{
    eq_err err;
    for (int i = 0; i < 100 && t->w->stop == JOB_RUN; i++) {
        char key[QUEUE_KEY_MAX], ctx[64];
        long long id = 0;
        bool got = false;
        if (queue_stray_claim(t->qconn, EXPIRE_LEASE_SECONDS, &id, key, &got, &err) < 0) {
            eq_warn(t->logctx, "stray objects: %s", err.msg);
            return;
        }
        if (!got)
            return;
        snprintf(ctx, sizeof ctx, "job=%lld", id);
        if (s3_delete_object(t->s3, key, &err) < 0) {
            eq_warn(ctx, "stray object: %s", err.msg);
            continue; /* the lease expires and it is tried again */
        }
        if (queue_stray_done(t->qconn, id, key, &err) < 0)
            eq_warn(ctx, "stray object: %s", err.msg);
        else
            eq_info(ctx, "deleted an object written by an attempt that did not succeed");
    }
}

/* Deletes objects past their retention and purges old job rows. */
static void retention_pass(worker_thread *t)
{
    eq_err err;
    int n = 0;
    for (int i = 0; i < 100 && t->w->stop == JOB_RUN; i++) {
        queue_expired e;
        bool got = false;
        if (queue_expire_claim(t->qconn, EXPIRE_LEASE_SECONDS, &e, &got, &err) < 0) {
            eq_warn(t->logctx, "retention: %s", err.msg);
            return;
        }
        if (!got)
            break;
        if (e.object_key[0] && s3_delete_object(t->s3, e.object_key, &err) < 0) {
            eq_warn(t->logctx, "retention: job %lld: %s", e.job_id, err.msg);
            continue; /* the lease expires and it is tried again */
        }
        if (queue_expire_done(t->qconn, e.job_id, &err) < 0)
            eq_warn(t->logctx, "retention: job %lld: %s", e.job_id, err.msg);
        else
            eq_info(t->logctx, "job %lld expired: object deleted", e.job_id);
    }
    if (queue_purge(t->qconn, t->w->cfg->retention_seconds, &n, &err) < 0)
        eq_warn(t->logctx, "purge: %s", err.msg);
    else if (n)
        eq_info(t->logctx, "purged %d old job rows", n);
}

/* Webhook deliveries, on a thread and connection of their own. */
static void *webhook_thread(void *arg)
{
    worker_thread *t = arg;
    worker_webhooks ww = {t->w->cfg, &t->w->stop, &t->w->threads_alive, t->w->opts.drain};
    worker_webhooks_run(&ww);
    atomic_fetch_sub(&t->w->threads_alive, 1);
    return NULL;
}

static void *housekeeper_thread(void *arg)
{
    worker_thread *t = arg;
    worker *w = t->w;
    const eq_config *cfg = w->cfg;
    long long next_rescue = 0, next_retention = 0;
    eq_err err;

    if (s3_client_new(cfg, &t->s3, &err) < 0) {
        eq_error(t->logctx, "%s", err.msg);
        goto out;
    }
    while (w->stop < JOB_STOP_NOW) {
        long long now = eq_now_ms();
        bool jobs_done = atomic_load(&w->jobs_running) == 0, mailed = false;
        if (connect_queue(t, false) < 0)
            break;
        if (now >= next_rescue) {
            int n = 0;
            if (queue_rescue(t->qconn, cfg->max_attempts, &n, &err) < 0)
                eq_warn(t->logctx, "rescue: %s", err.msg);
            else if (n) {
                worker_metrics_rescued(n);
                eq_info(t->logctx, "rescued %d job(s) whose lease expired", n);
            }
            if (w->stop == JOB_RUN)
                stray_pass(t); /* one cheap query when there is nothing to do */
            next_rescue = now + (cfg->lease_seconds * 1000LL) / 3;
        }
        if (w->smtp) {
            for (int i = 0; i < 50 && w->stop < JOB_STOP_NOW; i++) {
                bool did = false;
                if (mail_one(t, &did, &err) < 0) {
                    eq_warn(t->logctx, "mail pass: %s", err.msg);
                    break;
                }
                if (!did)
                    break;
                mailed = true;
            }
        }
        if (w->stop == JOB_RUN && now >= next_retention) {
            orphan_pass(t);
            retention_pass(t);
            next_retention = now + RETENTION_EVERY_MS;
        }
        if (jobs_done && !mailed && (w->opts.drain || w->stop != JOB_RUN))
            break; /* the job threads are gone and no mail was due */
        /* idle: a short nap, cut short when the job threads are done (a
         * draining worker then exits at once) */
        for (int i = 0; i < 5 && !mailed && w->stop < JOB_STOP_NOW; i++) {
            if (!jobs_done && atomic_load(&w->jobs_running) == 0)
                break;
            nap(w, 100, JOB_STOP_NOW);
        }
    }
out:
    thread_cleanup(t);
    atomic_fetch_sub(&w->threads_alive, 1);
    return NULL;
}

int worker_main(const eq_config *cfg, const worker_opts *opts)
{
    worker w;
    worker_thread *threads = NULL;
    worker_metrics_server *metrics = NULL;
    eq_daemon daemon;
    sigset_t old;
    int n = opts->concurrency < 1 ? 1 : opts->concurrency, started = 0, rc = 0;
    long long drain_deadline_ms = 0;

    memset(&w, 0, sizeof w);
    w.cfg = cfg;
    w.opts = *opts;
    w.smtp = cfg->smtp_url && cfg->smtp_from;
    if (gethostname(w.host, sizeof w.host) < 0)
        snprintf(w.host, sizeof w.host, "localhost");
    w.host[sizeof w.host - 1] = '\0';
    if (!w.smtp)
        eq_warn(NULL, "EXPORTQ_SMTP_URL/EXPORTQ_SMTP_FROM not set: this worker sends no mail "
                      "(pending mails wait for a worker that can)");
    {
        eq_err err;
        if (mail_templates_load(cfg->mail_templates, &w.templates, &err) < 0) {
            eq_error(NULL, "%s", err.msg);
            return 1;
        }
    }

    threads = calloc((size_t)n + 2, sizeof *threads); /* job threads, housekeeper, webhooks */
    if (!threads) {
        eq_error(NULL, "out of memory");
        mail_templates_cleanup(&w.templates);
        return 1;
    }
    {
        eq_err err;
        if (eq_daemon_start(&daemon, &err) < 0) {
            eq_error(NULL, "%s", err.msg);
            free(threads);
            mail_templates_cleanup(&w.templates);
            return 1;
        }
    }
    /* the threads started from here take no signals: the main thread's
     * handler does, and the main loop below decides */
    eq_daemon_block(&old);
    if (cfg->metrics_listen) {
        eq_err err;
        if (worker_metrics_serve(cfg->metrics_listen, &metrics, &err) < 0) {
            eq_error(NULL, "%s", err.msg);
            eq_daemon_unblock(&old);
            eq_daemon_end(&daemon);
            free(threads);
            mail_templates_cleanup(&w.templates);
            return 1;
        }
        eq_info(NULL, "metrics on http://%s/metrics", cfg->metrics_listen);
    }
    atomic_store(&w.jobs_running, n);
    atomic_store(&w.threads_alive, n + 2);
    for (int i = 0; i <= n + 1; i++) {
        worker_thread *t = &threads[i];
        t->w = &w;
        t->index = i < n ? i : -1;
        if (i < n) {
            snprintf(t->id, sizeof t->id, "%s:%d:%d", w.host, (int)getpid(), i);
            snprintf(t->logctx, sizeof t->logctx, "thread=%d", i);
        } else if (i == n) {
            snprintf(t->id, sizeof t->id, "%s:%d:hk", w.host, (int)getpid());
            snprintf(t->logctx, sizeof t->logctx, "thread=housekeeper");
        } else {
            t->index = -2;
            snprintf(t->id, sizeof t->id, "%s:%d:wh", w.host, (int)getpid());
            snprintf(t->logctx, sizeof t->logctx, "thread=webhooks");
        }
        if (pthread_create(&t->tid, NULL, i < n ? job_thread : i == n ? housekeeper_thread : webhook_thread, t) != 0) {
            eq_error(NULL, "cannot start thread %d", i);
            atomic_store(&w.stop, JOB_STOP_NOW);
            atomic_fetch_sub(&w.threads_alive, n + 2 - i);
            atomic_fetch_sub(&w.jobs_running, i < n ? n - i : 0);
            rc = 1;
            break;
        }
        started++;
    }
    eq_daemon_unblock(&old);
    eq_info(NULL, "worker started: %d job thread(s)%s", n, opts->drain ? ", exits when the queue is empty" : "");
    eq_daemon_ready(&daemon, "claiming jobs");

    while (atomic_load(&w.threads_alive) > 0) {
        int sig = eq_daemon_wait(&daemon, 100);
        if (sig == SIGTERM || sig == SIGINT) {
            if (atomic_load(&w.stop) == JOB_RUN) {
                /* the one drain deadline: running jobs see it as JOB_STOP_NOW */
                drain_deadline_ms = eq_now_ms() + cfg->drain_seconds * 1000LL;
                atomic_store(&w.stop, JOB_DRAIN);
                eq_daemon_stopping(&daemon, "draining");
                eq_info(NULL, "signal %d: draining (running jobs have %d s, then are released; "
                              "signal again to stop now)", sig, cfg->drain_seconds);
            } else {
                atomic_store(&w.stop, JOB_STOP_NOW);
                eq_info(NULL, "signal %d again: releasing running jobs now", sig);
            }
        } else if (sig == SIGHUP) {
            eq_info(NULL, "SIGHUP: the worker has nothing to reload (restart it to change settings)");
        }
        if (atomic_load(&w.stop) == JOB_DRAIN && eq_now_ms() >= drain_deadline_ms) {
            eq_info(NULL, "drain deadline (EXPORTQ_DRAIN_SECONDS=%d) reached: releasing running jobs",
                    cfg->drain_seconds);
            atomic_store(&w.stop, JOB_STOP_NOW);
        }
    }
    for (int i = 0; i < started; i++)
        pthread_join(threads[i].tid, NULL);
    free(threads);
    worker_metrics_stop(metrics);
    mail_templates_cleanup(&w.templates);
    eq_daemon_end(&daemon);
    eq_info(NULL, "worker stopped");
    return rc;
}
