/* pg.c - see pg.h */
#include "common/pg.h"
#include "common/hex.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Replaces every occurrence of secret[0..slen) in msg (cap bytes) with "***". */
static void redact_value(char *msg, size_t cap, const char *secret, size_t slen)
{
    char *p = msg;
    if (slen < 2) /* a 1-character secret would blank every such letter */
        return;
    while ((p = memmem(p, strlen(p), secret, slen)) != NULL) {
        size_t at = (size_t)(p - msg), tail = strlen(p + slen);
        if (at + 3 >= cap) {
            *p = '\0';
            break;
        }
        if (at + 3 + tail >= cap)
            tail = cap - 1 - at - 3;
        memmove(p + 3, p + slen, tail);
        p[3 + tail] = '\0';
        memcpy(p, "***", 3);
        p += 3;
    }
}

/* Best-effort percent-decoding of in[0..n) into out (n + 1 bytes). */
static void pct_decode(const char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i] == '%' && i + 2 < n && eq_hex_value(in[i + 1]) >= 0 && eq_hex_value(in[i + 2]) >= 0) {
            out[o++] = (char)(eq_hex_value(in[i + 1]) * 16 + eq_hex_value(in[i + 2]));
            i += 2;
        } else {
            out[o++] = in[i];
        }
    }
    out[o] = '\0';
}

/* Redacts one raw value (and its percent-decoded form) from msg. */
static void redact_raw(char *msg, size_t cap, const char *v, size_t n)
{
    char *dec;
    if (n == 0)
        return;
    redact_value(msg, cap, v, n);
    if ((dec = malloc(n + 1)) != NULL) {
        pct_decode(v, n, dec);
        redact_value(msg, cap, dec, strlen(dec));
        free(dec);
    }
}

/* The values a conninfo string carries that are secret, found in its text
 * (so even a string libpq cannot parse is covered): the password of a URI's
 * user info, and every password=VALUE (key/value form or URI query). */
static void redact_conninfo_text(char *msg, size_t cap, const char *ci)
{
    const char *scheme = strstr(ci, "://");
    if (scheme && (strncmp(ci, "postgresql://", 13) == 0 || strncmp(ci, "postgres://", 11) == 0)) {
        const char *auth = scheme + 3, *end = auth + strcspn(auth, "/?#"), *at = NULL, *colon;
        for (const char *p = auth; p < end; p++)
            if (*p == '@')
                at = p;
        if (at && (colon = memchr(auth, ':', (size_t)(at - auth))) != NULL)
            redact_raw(msg, cap, colon + 1, (size_t)(at - colon - 1));
    }
    for (const char *p = ci; (p = strstr(p, "password")) != NULL;) {
        const char *v = p + 8;
        size_t n;
        p = v;
        while (*v == ' ' || *v == '\t')
            v++;
        if (*v != '=')
            continue;
        v++;
        while (*v == ' ' || *v == '\t')
            v++;
        if (*v == '\'') {
            v++;
            n = strcspn(v, "'");
        } else {
            n = strcspn(v, " \t&#");
        }
        redact_raw(msg, cap, v, n);
    }
}

/* Replaces the text of every "quoted" segment with ***: the parse errors of a
 * conninfo string quote pieces of it, which may be pieces of a password. */
static void redact_quoted(char *msg)
{
    char *p = msg, *q;
    while ((p = strchr(p, '"')) != NULL && (q = strchr(p + 1, '"')) != NULL) {
        size_t tail = strlen(q);
        if (q - p - 1 >= 3) {
            memcpy(p + 1, "***", 3);
            memmove(p + 4, q, tail + 1);
            q = p + 4;
        }
        p = q + 1;
    }
}

void eq_pg_redact(PGconn *conn, const char *conninfo, char *msg, size_t cap)
{
    if (!msg || cap == 0)
        return;
    msg[cap - 1] = '\0';
    if (conn && PQpass(conn))
        redact_raw(msg, cap, PQpass(conn), strlen(PQpass(conn)));
    if (conninfo) {
        char *perr = NULL;
        PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
        redact_conninfo_text(msg, cap, conninfo);
        if (opts) {
            for (PQconninfoOption *o = opts; o->keyword; o++)
                if (o->val && strcmp(o->keyword, "password") == 0)
                    redact_raw(msg, cap, o->val, strlen(o->val));
            PQconninfoFree(opts);
        } else {
            /* libpq could not parse it: the message is about its text */
            redact_quoted(msg);
        }
        PQfreemem(perr);
    }
}

int eq_pg_connect(const char *url, const char *role, PGconn **out, eq_err *err)
{
    char app[64];
    const char *keys[] = {"dbname", "application_name", "connect_timeout", NULL};
    const char *vals[] = {url, app, "10", NULL};
    PGconn *c;
    snprintf(app, sizeof app, "exportq-%s", role ? role : "cli");
    *out = NULL;
    /* expand_dbname=1: `url` may be a URI or a conninfo string; our keys after it
     * only fill what the URL leaves unset, except application_name we want ours */
    c = PQconnectdbParams(keys, vals, 1);
    if (!c)
        return eq_fail_retry(err, EQ_ERR_DB, "database connection (%s): out of memory", role ? role : "cli");
    if (PQstatus(c) != CONNECTION_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(c));
        msg[strcspn(msg, "\n")] = '\0';
        eq_pg_redact(c, url, msg, sizeof msg);
        PQfinish(c);
        return eq_fail_retry(err, EQ_ERR_DB, "cannot connect to the database (%s): %s", role ? role : "cli", msg);
    }
    *out = c;
    return 0;
}

int eq_pg_fail(PGconn *conn, const PGresult *res, const char *what, eq_err *err)
{
    const char *msg = res ? PQresultErrorMessage(res) : NULL;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    char m[700];
    int retry;
    if (!msg || !*msg)
        msg = conn ? PQerrorMessage(conn) : "no connection";
    snprintf(m, sizeof m, "%s", msg);
    m[strcspn(m, "\n")] = '\0';
    eq_pg_redact(conn, NULL, m, sizeof m);
    retry = (conn && PQstatus(conn) != CONNECTION_OK) ||
            (state && (strncmp(state, "08", 2) == 0 || strcmp(state, "40001") == 0 ||
                       strcmp(state, "40P01") == 0 || strcmp(state, "57P01") == 0));
    if (retry)
        return eq_fail_retry(err, EQ_ERR_DB, "%s: %s", what, m);
    return eq_fail(err, EQ_ERR_DB, "%s: %s", what, m);
}

int eq_pg_exec(PGconn *conn, const char *what, const char *sql, int nparams,
               const char *const *params, PGresult **out, eq_err *err)
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (out)
        *out = NULL;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        eq_pg_fail(conn, res, what, err);
        PQclear(res);
        return -1;
    }
    if (out)
        *out = res;
    else
        PQclear(res);
    return 0;
}

int eq_pg_broken(PGconn *conn)
{
    return !conn || PQstatus(conn) != CONNECTION_OK;
}
