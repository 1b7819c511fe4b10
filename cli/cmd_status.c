/* cmd_status.c - `exportq status ID [--json] [--watch]`: a job at a glance,
 * or followed with a progress bar until it finishes. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/pg.h"
#include "queue/queue.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: exportq status ID [--json] [--watch]\n\n"
                 "Shows a job: state, queue position, progress (rows, bytes, percent of the\n"
                 "planner's estimate), expected time to finish, attempts, last error and times.\n\n"
                 "  --json   one JSON object instead (for scripts): id, kind, owner, state,\n"
                 "           position, rows, bytes, attempts, last_error, created_at,\n"
                 "           started_at, finished_at, expires_at, run_at, link_expires_at,\n"
                 "           email, mail_state, rows_estimate, percent, eta_seconds\n"
                 "           (null when unknown)\n"
                 "  --watch  follow the job until it finishes: on a terminal one line with a\n"
                 "           progress bar, redrawn every second; otherwise a line (or with\n"
                 "           --json an object) each time something changes\n\n"
                 "Exit status: 0 shown (--watch: the job succeeded), 1 no such job, failure\n"
                 "(--watch: the job failed, was cancelled or expired), 2 usage error.\n");
}

/* "12.3 MiB" */
static void human_bytes(long long n, char *out, size_t size)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)n;
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, size, "%lld B", n);
    else
        snprintf(out, size, "%.1f %s", v, units[u]);
}

static void print_time(const char *label, long long t)
{
    char iso[32];
    if (t == 0)
        return;
    queue_time_iso(t, iso, sizeof iso);
    printf("%-10s %s\n", label, iso);
}

/* "1h02m", "3m05s", "42s" */
static void human_duration(long long secs, char *out, size_t size)
{
    if (secs >= 3600)
        snprintf(out, size, "%lldh%02lldm", secs / 3600, secs / 60 % 60);
    else if (secs >= 60)
        snprintf(out, size, "%lldm%02llds", secs / 60, secs % 60);
    else
        snprintf(out, size, "%llds", secs);
}

static bool finished(const queue_status_row *s)
{
    return strcmp(s->state, "queued") != 0 && strcmp(s->state, "running") != 0;
}

static void print_text(const queue_status_row *s)
{
    char size[32], eta[32];
    printf("job %lld: %s", s->id, s->kind);
    if (s->owner[0])
        printf(" (owner %s)", s->owner);
    printf("\n");
    if (strcmp(s->state, "queued") == 0 && s->position < 0) {
        printf("%-10s queued, waiting for its run time", "state");
        if (s->attempts > 0)
            printf(" (retry after %d attempt%s)", s->attempts, s->attempts == 1 ? "" : "s");
        printf("\n");
    } else if (strcmp(s->state, "queued") == 0) {
        printf("%-10s queued, position %lld", "state", s->position);
        if (s->attempts > 0)
            printf(" (retry after %d attempt%s)", s->attempts, s->attempts == 1 ? "" : "s");
        printf("\n");
    } else {
        printf("%-10s %s\n", "state", s->state);
    }
    human_bytes(s->bytes, size, sizeof size);
    printf("%-10s %lld rows, %s", "progress", s->rows, size);
    if (s->percent >= 0)
        printf(", %d%%", s->percent);
    if (s->rows_estimate >= 0 && strcmp(s->state, "running") == 0)
        printf(" (estimate %lld rows)", s->rows_estimate);
    printf("\n");
    if (s->eta_seconds >= 0 && !finished(s)) {
        human_duration(s->eta_seconds, eta, sizeof eta);
        printf("%-10s done in about %s\n", "eta", eta);
    }
    printf("%-10s %d\n", "attempts", s->attempts);
    if (s->last_error[0])
        printf("%-10s %s\n", "error", s->last_error);
    print_time("created", s->created_at);
    if (strcmp(s->state, "queued") == 0)
        print_time("runs at", s->run_at);
    print_time("started", s->started_at);
    print_time("finished", s->finished_at);
    if (strcmp(s->state, "succeeded") == 0)
        print_time("link until", s->link_expires_at);
    print_time(strcmp(s->state, "expired") == 0 ? "expired" : "expires", s->expires_at);
    if (s->email[0])
        printf("%-10s %s (%s)\n", "email", s->email, s->mail_state);
}

/* One line: "running [#########-----------]  45%  1.2M rows  ETA 3m05s". */
static void format_line(const queue_status_row *s, char *out, size_t size)
{
    char bar[32], eta[32] = "", rows[48];
    int width = 20, filled = s->percent >= 0 ? s->percent * width / 100 : 0;
    for (int i = 0; i < width; i++)
        bar[i] = i < filled ? '#' : '-';
    bar[width] = '\0';
    if (s->eta_seconds >= 0 && !finished(s)) {
        char d[24];
        human_duration(s->eta_seconds, d, sizeof d);
        snprintf(eta, sizeof eta, "  ETA %s", d);
    }
    snprintf(rows, sizeof rows, "%lld rows", s->rows);
    if (strcmp(s->state, "queued") == 0 && s->position > 0)
        snprintf(out, size, "job %lld queued, position %lld [%s]%s", s->id, s->position, bar, eta);
    else if (strcmp(s->state, "queued") == 0)
        snprintf(out, size, "job %lld queued, waiting for its run time%s", s->id, eta);
    else if (s->percent >= 0)
        snprintf(out, size, "job %lld %s [%s] %3d%%  %s%s", s->id, s->state, bar, s->percent, rows, eta);
    else
        snprintf(out, size, "job %lld %s [%s]   ?%%  %s%s", s->id, s->state, bar, rows, eta);
}

static volatile sig_atomic_t watch_stop;
static void on_signal(int sig)
{
    (void)sig;
    watch_stop = 1;
}

static int print_json(const queue_status_row *row, eq_err *err)
{
    json_t *o = queue_status_json(row);
    if (!o || json_dumpf(o, stdout, JSON_COMPACT) < 0) {
        json_decref(o);
        return eq_fail(err, EQ_ERR_NOMEM, "status: cannot write JSON");
    }
    json_decref(o);
    printf("\n");
    fflush(stdout);
    return 0;
}

/* Follows the job until it finishes (or SIGINT/SIGTERM). */
static int watch(PGconn *conn, long long id, bool json, eq_err *err)
{
    bool tty = !json && isatty(STDOUT_FILENO);
    char line[256], last[256] = "";
    queue_status_row row;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    for (;;) {
        if (queue_status(conn, id, &row, err) < 0)
            return -1;
        format_line(&row, line, sizeof line);
        if (tty) {
            /* redraw in place: carriage return, the line, erase what is left */
            printf("\r%s\033[K", line);
            fflush(stdout);
        } else if (strcmp(line, last) != 0) {
            if (json) {
                if (print_json(&row, err) < 0)
                    return -1;
            } else {
                printf("%s\n", line);
                fflush(stdout);
            }
            snprintf(last, sizeof last, "%s", line);
        }
        if (finished(&row) || watch_stop)
            break;
        struct timespec ts = {1, 0};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !watch_stop)
            ;
    }
    if (tty)
        printf("\n");
    if (watch_stop)
        return eq_fail(err, EQ_ERR_CANCELLED, "status: interrupted");
    if (strcmp(row.state, "succeeded") != 0)
        return eq_fail(err, EQ_ERR_CONFLICT, "job %lld %s%s%s", row.id, row.state,
                       row.last_error[0] ? ": " : "", row.last_error);
    return 0;
}

int cmd_status(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"watch", no_argument, NULL, 'w'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    eq_config cfg = {0};
    eq_err err;
    PGconn *conn = NULL;
    queue_status_row row;
    bool json = false, follow = false;
    long long id;
    int c, rc = CLI_FAIL;
    eq_err_clear(&err);
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'j') {
            json = true;
        } else if (c == 'w') {
            follow = true;
        } else if (c == 'h') {
            usage(stdout);
            return CLI_OK;
        } else {
            return cli_usage_error("status", "unknown option");
        }
    }
    if (cli_job_id_operand(argc, argv, "status", &id) != 0)
        return CLI_USAGE;
    if (cli_load_config(&cfg, EQ_NEED_DB) < 0)
        return CLI_FAIL;
    if (eq_pg_connect(cfg.database_url, "status", &conn, &err) < 0) {
        rc = cli_fail(&err);
        goto out;
    }
    if (follow) {
        rc = watch(conn, id, json, &err) < 0 ? cli_fail(&err) : CLI_OK;
        goto out;
    }
    if (queue_status(conn, id, &row, &err) < 0) {
        rc = cli_fail(&err);
        goto out;
    }
    if (json) {
        if (print_json(&row, &err) < 0) {
            rc = cli_fail(&err);
            goto out;
        }
    } else {
        print_text(&row);
    }
    rc = CLI_OK;
out:
    PQfinish(conn);
    eq_config_cleanup(&cfg);
    return rc;
}
