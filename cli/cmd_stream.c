/* cmd_stream.c - `exportq stream KIND [--param NAME=VALUE]... [--owner ID] [-o FILE]`
 *
 * The streaming core on the command line: looks kind KIND up in the queue
 * database (EXPORTQ_DATABASE_URL, where exportq.kinds lives), runs its COPY on
 * the source database (EXPORTQ_SOURCE_DATABASE_URL: the queue database or a
 * replica) and writes the filtered CSV to FILE or stdout. A device or FIFO
 * given as FILE is written in place. One poll() loop on the PostgreSQL socket; memory is constant.
 * FILE appears atomically (a temporary file in the same directory, renamed
 * when complete) and never holds a partial export: on any error, SIGINT or
 * SIGTERM the query is cancelled and the temporary file removed.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/log.h"
#include "common/pg.h"
#include "export/export.h"
#include "export/export_kind.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    g_stop = sig;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: exportq stream KIND [--param NAME=VALUE]... [--owner ID] [--format F] [-o FILE]\n\n"
            "Run export kind KIND now and write it (csv, tsv, jsonl or xlsx, with the kind's\n"
            "gzip, BOM and formula-guard options) to FILE or stdout.\n\n"
            "  -p, --param NAME=VALUE  a parameter for the kind's function (repeatable)\n"
            "  -f, --format F          csv, tsv, jsonl or xlsx (default: the kind's format)\n"
            "      --owner ID          export as this owner (sets the parameter \"owner\")\n"
            "  -o, --output FILE       write to FILE, atomically; no partial file on failure\n"
            "  -h, --help              this text\n\n"
            "Needs EXPORTQ_DATABASE_URL (the kind); the rows come from EXPORTQ_SOURCE_DATABASE_URL\n"
            "when set (a replica). Exit 0 on success,\n"
            "1 on failure (with PostgreSQL's message), 2 on a usage error.\n");
}

typedef struct out_file {
    int fd;
    char tmp[PATH_MAX]; /* "" when writing to stdout or to a device */
    bool direct;        /* an existing non-regular file (/dev/null, a FIFO): written in place */
} out_file;

static int fd_sink(void *ctx, const void *data, size_t len, eq_err *err)
{
    const out_file *o = ctx;
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(o->fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return eq_fail(err, EQ_ERR_IO, "writing the output: %s", strerror(errno));
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int out_open(out_file *o, const char *path, eq_err *err)
{
    mode_t mask;
    struct stat st;
    o->fd = -1;
    o->tmp[0] = '\0';
    o->direct = false;
    if (!path) {
        o->fd = STDOUT_FILENO;
        return 0;
    }
    /* A device or a FIFO cannot be replaced atomically, and must not be:
     * renaming a temporary file over /dev/null would replace the device. */
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        if (S_ISDIR(st.st_mode))
            return eq_fail(err, EQ_ERR_INVALID, "%s is a directory", path);
        o->fd = open(path, O_WRONLY | O_CLOEXEC);
        if (o->fd < 0)
            return eq_fail(err, EQ_ERR_IO, "cannot open %s: %s", path, strerror(errno));
        o->direct = true;
        return 0;
    }
    if (snprintf(o->tmp, sizeof o->tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof o->tmp) {
        o->tmp[0] = '\0';
        return eq_fail(err, EQ_ERR_INVALID, "output file name is too long");
    }
    o->fd = mkostemp(o->tmp, O_CLOEXEC);
    if (o->fd < 0) {
        int e = errno;
        o->tmp[0] = '\0';
        return eq_fail(err, EQ_ERR_IO, "cannot create a file next to %s: %s", path, strerror(e));
    }
    /* mkstemp makes 0600; give the result the mode a plain open() would */
    mask = umask(0);
    umask(mask);
    if (fchmod(o->fd, 0666 & ~mask) < 0)
        return eq_fail(err, EQ_ERR_IO, "chmod %s: %s", o->tmp, strerror(errno));
    return 0;
}

static int out_commit(out_file *o, const char *path, eq_err *err)
{
    int fd = o->fd;
    if (o->direct) {
        o->fd = -1;
        o->direct = false;
        if (close(fd) < 0)
            return eq_fail(err, EQ_ERR_IO, "close %s: %s", path, strerror(errno));
        return 0;
    }
    if (!o->tmp[0])
        return 0;
    o->fd = -1;
    if (fsync(fd) < 0) {
        int e = errno;
        close(fd);
        return eq_fail(err, EQ_ERR_IO, "fsync %s: %s", path, strerror(e));
    }
    if (close(fd) < 0)
        return eq_fail(err, EQ_ERR_IO, "close %s: %s", path, strerror(errno));
    if (rename(o->tmp, path) < 0)
        return eq_fail(err, EQ_ERR_IO, "rename to %s: %s", path, strerror(errno));
    o->tmp[0] = '\0';
    return 0;
}

/* Removes an uncommitted temporary file. */
static void out_abort(out_file *o)
{
    if (o->direct) {
        close(o->fd);
        o->direct = false;
    } else if (o->tmp[0]) {
        if (o->fd >= 0)
            close(o->fd);
        unlink(o->tmp);
        o->tmp[0] = '\0';
    }
    o->fd = -1;
}

/* Parses the command line into kind, params (jansson object), owner, output. */
static int parse_args(int argc, char **argv, const char **kind, json_t *params, const char **owner,
                      const char **output, const char **format)
{
    static const struct option opts[] = {
        {"param", required_argument, NULL, 'p'},
        {"format", required_argument, NULL, 'f'},
        {"owner", required_argument, NULL, 'O'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    eq_err err;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "p:o:f:h", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (cli_param_add(params, optarg, &err) < 0)
                return cli_usage_error("stream", "%s", err.msg);
            break;
        case 'O':
            *owner = optarg;
            break;
        case 'o':
            *output = optarg;
            break;
        case 'f': {
            export_format f;
            if (export_format_parse(optarg, &f, &err) < 0)
                return cli_usage_error("stream", "--format: %s", err.msg);
            *format = optarg;
            break;
        }
        case 'h':
            usage(stdout);
            return -1;
        default:
            return cli_usage_error("stream", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind + 1 != argc)
        return cli_usage_error("stream", optind >= argc ? "KIND is required" : "one KIND expected");
    *kind = argv[optind];
    if (!export_kind_name_valid(*kind))
        return cli_usage_error("stream", "invalid kind name '%.64s'", *kind);
    if (*output && !**output)
        return cli_usage_error("stream", "-o needs a file name");
    return 0;
}

/* Runs the export to its end, waiting on the database socket. */
static int pump(export_stream *x, eq_err *err)
{
    for (;;) {
        int r;
        if (g_stop) {
            (void)export_cancel(x);
            return eq_fail(err, EQ_ERR_CANCELLED, "interrupted by signal %d", (int)g_stop);
        }
        r = export_next(x, err);
        if (r < 0) {
            (void)export_cancel(x);
            return -1;
        }
        if (r == EXPORT_DONE)
            return 0;
        if (r == EXPORT_READY)
            continue;
        /* EXPORT_WOULD_BLOCK */
        struct pollfd p = {.fd = export_socket(x), .events = export_events(x)};
        if (p.fd < 0)
            return eq_fail(err, EQ_ERR_DB, "export query: lost the database connection");
        if (poll(&p, 1, 1000) < 0 && errno != EINTR)
            return eq_fail(err, EQ_ERR_IO, "poll: %s", strerror(errno));
    }
}

int cmd_stream(int argc, char **argv)
{
    eq_config cfg;
    eq_err err;
    json_t *params = json_object();
    const char *kind_name = NULL, *owner = NULL, *output = NULL, *format = NULL;
    char *given = NULL;
    PGconn *qconn = NULL;
    export_kind kind;
    export_stream *x = NULL;
    out_file out = {.fd = -1, .tmp = ""};
    struct sigaction sa;
    char ctx[128];
    int rc = CLI_FAIL, a;

    memset(&cfg, 0, sizeof cfg);
    eq_err_clear(&err);
    if (!params) {
        fprintf(stderr, "exportq: out of memory\n");
        return CLI_FAIL;
    }
    a = parse_args(argc, argv, &kind_name, params, &owner, &output, &format);
    if (a != 0) {
        json_decref(params);
        return a < 0 ? CLI_OK : a;
    }
    if (cli_load_config(&cfg, EQ_NEED_DB) < 0) {
        json_decref(params);
        return CLI_FAIL;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: poll() returns EINTR at once */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a closed stdout is an EPIPE error, handled */
    snprintf(ctx, sizeof ctx, "kind=%s", kind_name);

    if (!(given = json_dumps(params, JSON_COMPACT))) {
        eq_fail(&err, EQ_ERR_NOMEM, "out of memory");
        goto fail;
    }
    /* kinds live with the queue; the rows come from the source (a replica) */
    if (eq_pg_connect(cfg.database_url, "stream", &qconn, &err) < 0 ||
        export_kind_get(qconn, kind_name, &kind, &err) < 0)
        goto fail;
    PQfinish(qconn); /* not held for the length of the stream */
    qconn = NULL;
    /* --format, else the kind's default; one the kind offers */
    if (format && export_format_parse(format, &kind.options.format, &err) < 0)
        goto fail;
    if (!(kind.options.formats & EXPORT_FORMAT_BIT(kind.options.format))) {
        eq_fail(&err, EQ_ERR_INVALID, "kind '%s' does not offer format %s", kind.name,
                export_format_name(kind.options.format));
        goto fail;
    }
    {
        export_spec spec = {.source_url = cfg.source_database_url,
                            .app_role = "stream",
                            .function = kind.function,
                            .options = kind.options,
                            .params_json = given,
                            .owner = owner,
                            .tmpdir = cfg.tmpdir};
        if (out_open(&out, output, &err) < 0 || export_open(&spec, fd_sink, &out, &x, &err) < 0)
            goto fail;
    }
    if (pump(x, &err) < 0 || out_commit(&out, output, &err) < 0)
        goto fail;
    {
        char warning[1024];
        export_warning(x, warning, sizeof warning);
        if (warning[0])
            eq_warn(ctx, "%s", warning);
    }
    eq_info(ctx, "streamed %llu rows, %llu COPY bytes, %llu bytes written to %s",
            (unsigned long long)export_rows(x), (unsigned long long)export_bytes_csv(x),
            (unsigned long long)export_bytes_out(x), output ? output : "stdout");
    rc = CLI_OK;
fail:
    if (rc != CLI_OK) {
        out_abort(&out);
        cli_fail(&err);
    }
    export_close(x); /* cancels and drains an unfinished COPY */
    if (qconn)
        PQfinish(qconn);
    free(given);
    json_decref(params);
    eq_config_cleanup(&cfg);
    return rc;
}
