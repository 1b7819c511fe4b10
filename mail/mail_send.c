/* mail_send.c - one SMTP delivery attempt with libesmtp 1.1; see mail_send.h.
 *
 * How libesmtp 1.1 behaves, and what this file does about it (read from the
 * libESMTP sources, checked against the test server):
 *  - smtp_starttls_set_ctx() up-references our SSL_CTX and frees it with the
 *    session. libesmtp verifies nothing itself during the handshake; after it,
 *    it rejects a certificate whose SSL_get_verify_result() is not OK unless
 *    the event callback says otherwise (we never do), then matches the host
 *    name itself against DNS names only (no IP addresses). We let OpenSSL check
 *    the name or IP (X509_VERIFY_PARAM_set1_host/_ip_asc on our SSL_CTX) and
 *    accept libesmtp's "wrong peer certificate" event only when OpenSSL's
 *    verification, which includes that check, succeeded.
 *  - A failed AUTH is not an error to libesmtp: it tries the next mechanism and
 *    then carries on with MAIL FROM. We watch the server's replies to AUTH with
 *    the monitor callback (replies only: our own lines carry the credentials)
 *    so the error says "AUTH rejected" instead of the later "530 MAIL refused".
 *  - It writes with write(2): SIGPIPE is blocked for the calling thread during
 *    a session and a pending one is consumed afterwards.
 *
 * libESMTP#30 (segfault on the second STARTTLS send in one process) is real in
 * Debian 12's libesmtp 1.1.0: when the application sets no SSL_CTX, libesmtp
 * caches the one it creates in a static variable but frees it when the first
 * session is destroyed; the next session calls SSL_new() on freed memory
 * (reproduced: SIGSEGV in SSL_new from smtp_start_session on the 2nd send;
 * fixed upstream after 1.1.0 by "Don't bother trying to cache the SSL_CTX").
 * We never reach that cache: every session gets its own SSL_CTX through
 * smtp_starttls_set_ctx() (never NULL: 1.1.0 would crash on that too), so no
 * child process is needed; it_mail sends many messages in one process.
 *
 * A second libesmtp 1.1 problem, found here: with TLS 1.3 the server's
 * post-handshake NewSessionTicket records can make the socket readable before
 * libesmtp writes the EHLO that follows STARTTLS; libesmtp then reads (the
 * tickets) and waits for a reply to a command it has not sent, until the
 * timeout, and the session fails (about 1 send in 5 against the test server;
 * disabling tickets on the client does not stop servers sending them). TLS 1.2
 * has no post-handshake records, so the context is capped at TLS 1.2 until
 * libesmtp is fixed.
 *
 * libesmtp has no way to stop a session from outside, and its timeouts apply
 * per reply (greeting, each command, the final "." up to 2 minutes): a slow
 * server can hold a send for many minutes, longer than any lease. A watchdog
 * thread bounds the whole send by EXPORTQ_SMTP_TIMEOUT and stops it at once
 * when the caller asks (a second SIGTERM): at SMTP_EV_CONNECT we find the
 * session's socket (the one connected to the server's port that was not there
 * before the session) and keep a dup of it; the watchdog shuts it down, so
 * libesmtp's poll() returns and the session ends. The dup stays ours until the
 * session is over, so the shutdown never reaches a reused descriptor. What
 * was accepted before (the server's 250 to the ".") still counts as sent.
 * connect() itself is not covered (the kernel bounds it).
 */
#include "mail/mail_send.h"

#include <auth-client.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libesmtp.h>

#include "common/log.h"
#include "mail/mail_message.h"

/* ---------------------------------------------------------------- URL */

/* True when every '%' of s[0..n) starts a %XX escape (libcurl leaves a
 * malformed one as it is; a password must not silently keep a typo). */
static bool pct_well_formed(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == '%' && (i + 2 >= n || !isxdigit((unsigned char)s[i + 1]) || !isxdigit((unsigned char)s[i + 2])))
            return false;
    return true;
}

/* Copies a decoded part of u into out (outsz); an absent part is "". */
static int url_part(CURLU *u, CURLUPart part, char *out, size_t outsz)
{
    char *v = NULL;
    CURLUcode rc = curl_url_get(u, part, &v, CURLU_URLDECODE);
    int ret = 0;
    out[0] = '\0';
    if (rc == CURLUE_NO_USER || rc == CURLUE_NO_PASSWORD || rc == CURLUE_NO_PORT || rc == CURLUE_NO_QUERY ||
        rc == CURLUE_NO_FRAGMENT)
        return 0;
    if (rc != CURLUE_OK || strlen(v) >= outsz)
        ret = -1;
    else
        memcpy(out, v, strlen(v) + 1);
    if (v) {
        explicit_bzero(v, strlen(v));
        curl_free(v);
    }
    return ret;
}

int mail_url_parse(const char *url, int tls, mail_url *out, eq_err *err)
{
    const char *auth, *end, *at = NULL;
    char *fixed = NULL, portbuf[16], rest[8];
    CURLU *u = NULL;
    size_t n, f = 0;
    int rc = -1;

    memset(out, 0, sizeof *out);
    if (!url || !*url)
        return eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_SMTP_URL is empty");
    if (strncmp(url, "smtps://", 8) == 0)
        return eq_fail(err, EQ_ERR_CONFIG,
                       "EXPORTQ_SMTP_URL: smtps:// (implicit TLS, port 465) is not supported: libesmtp 1.1 can "
                       "only do STARTTLS; use smtp://host:587 with EXPORTQ_SMTP_TLS=starttls");
    if (strncmp(url, "smtp://", 7) != 0)
        return eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_SMTP_URL: must look like smtp://[user:pass@]host[:port]");
    auth = url + 7;
    end = auth + strcspn(auth, "/?#");
    for (const char *p = auth; p < end; p++)
        if (*p == '@')
            at = p;
    if (at && !pct_well_formed(auth, (size_t)(at - auth)))
        return eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_SMTP_URL: bad user name or password (percent-encode special "
                                           "characters)");
    if (end > auth && end[-1] == ':')
        return eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_SMTP_URL: bad port");
    /* a raw '@' in the password: the last '@' ends the userinfo (libcurl
     * takes the first), so the earlier ones are encoded before parsing */
    n = strlen(url);
    if (!(fixed = malloc(n * 3 + 1)))
        return eq_fail(err, EQ_ERR_NOMEM, "EXPORTQ_SMTP_URL: out of memory");
    for (const char *p = url; *p; p++) {
        if (*p == '@' && p < at) {
            memcpy(fixed + f, "%40", 3);
            f += 3;
        } else {
            fixed[f++] = *p;
        }
    }
    fixed[f] = '\0';
    if (!(u = curl_url())) {
        eq_fail(err, EQ_ERR_NOMEM, "EXPORTQ_SMTP_URL: out of memory");
        goto done;
    }
    if (curl_url_set(u, CURLUPART_URL, fixed, 0) != CURLUE_OK) {
        eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_SMTP_URL: must look like smtp://[user:pass@]host[:port] (a bad host, "
                                    "port or [IPv6] address)");
        goto done;
    }
    if (url_part(u, CURLUPART_PATH, rest, sizeof rest) < 0 || (rest[0] && strcmp(rest, "/") != 0) ||
        url_part(u, CURLUPART_QUERY, rest, sizeof rest) < 0 || rest[0] ||
        url_part(u, CURLUPART_FRAGMENT, rest, sizeof rest) < 0 || rest[0]) {
        eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_SMTP_URL: unexpected path or query after host[:port]");
        goto done;
    }
    if (at) {
        if (url_part(u, CURLUPART_USER, out->user, sizeof out->user) < 0 || !out->user[0]) {
            eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_SMTP_URL: bad user name (percent-encode special characters)");
            goto done;
        }
        if (url_part(u, CURLUPART_PASSWORD, out->pass, sizeof out->pass) < 0) {
            eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_SMTP_URL: bad password (percent-encode special characters)");
            goto done;
        }
        out->has_auth = true;
    }
    if (url_part(u, CURLUPART_HOST, out->host, sizeof out->host) < 0 || !out->host[0]) {
        eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_SMTP_URL: missing or too long host name");
        goto done;
    }
    if (out->host[0] != '[' &&
        strspn(out->host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != strlen(out->host)) {
        eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_SMTP_URL: host '%s' has characters a host name cannot have", out->host);
        goto done;
    }
    if (url_part(u, CURLUPART_PORT, portbuf, sizeof portbuf) < 0) {
        eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_SMTP_URL: bad port");
        goto done;
    }
    if (portbuf[0]) {
        long port = 0;
        for (const char *p = portbuf; *p; p++)
            port = port * 10 + (*p - '0');
        if (port < 1 || port > 65535) {
            eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_SMTP_URL: port %ld out of range", port);
            goto done;
        }
        out->port = (int)port;
    } else {
        out->port = tls == EQ_SMTP_TLS_NONE ? 25 : 587;
    }
    rc = 0;
done:
    if (rc < 0)
        explicit_bzero(out, sizeof *out);
    explicit_bzero(fixed, f);
    free(fixed);
    curl_url_cleanup(u);
    return rc;
}

int mail_config_check(const eq_config *cfg, eq_err *err)
{
    mail_url u;
    if (!cfg->smtp_url)
        return eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_SMTP_URL is required to send email");
    if (mail_url_parse(cfg->smtp_url, cfg->smtp_tls, &u, err) < 0)
        return -1;
    explicit_bzero(u.pass, sizeof u.pass);
    if (!mail_address_valid(cfg->smtp_from))
        return eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_SMTP_FROM: '%s' is not a plain address (local@domain)",
                       cfg->smtp_from ? cfg->smtp_from : "");
    if (cfg->smtp_ca_file && access(cfg->smtp_ca_file, R_OK) < 0)
        return eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_SMTP_CA_FILE: %s: %s", cfg->smtp_ca_file, strerror(errno));
    return 0;
}

/* ---------------------------------------------------------------- watchdog */

#define WATCH_MAX_FDS 32
#define WATCH_STEP_MS 100

typedef struct watch {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t tid;
    bool started, done, fired, stopped;
    int fd;                /* our dup of the session's socket, -1 until known */
    int port;              /* the server's port */
    int before[WATCH_MAX_FDS], nbefore; /* sockets to that port before the session */
    struct timespec deadline; /* CLOCK_MONOTONIC */
    const mail_stop *stop;
} watch;

/* Sockets of this process connected to `port`, into fds (at most max). */
static int sockets_to_port(int port, int *fds, int max)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;
    if (!d)
        return 0;
    while ((e = readdir(d)) && n < max) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        int type = 0;
        socklen_t tl = sizeof type;
        if (*end || end == e->d_name || fd < 0 || fd == dirfd(d))
            continue;
        if (getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_STREAM ||
            getpeername((int)fd, (struct sockaddr *)&ss, &len) < 0)
            continue;
        if ((ss.ss_family == AF_INET && ntohs(((struct sockaddr_in *)&ss)->sin_port) == port) ||
            (ss.ss_family == AF_INET6 && ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) == port))
            fds[n++] = (int)fd;
    }
    closedir(d);
    return n;
}

/* At SMTP_EV_CONNECT: keep a dup of the new socket (shut at once if the
 * watchdog already fired). */
static void watch_connected(watch *w)
{
    int now[WATCH_MAX_FDS], n = sockets_to_port(w->port, now, WATCH_MAX_FDS), found = -1, matches = 0;
    for (int i = 0; i < n; i++) {
        bool old = false;
        for (int j = 0; j < w->nbefore; j++)
            old |= w->before[j] == now[i];
        if (!old) {
            found = now[i];
            matches++;
        }
    }
    pthread_mutex_lock(&w->mu);
    if (matches == 1 && w->fd < 0 && (w->fd = fcntl(found, F_DUPFD_CLOEXEC, 0)) >= 0 && w->fired)
        shutdown(w->fd, SHUT_RDWR);
    pthread_mutex_unlock(&w->mu);
    if (matches != 1)
        eq_debug(NULL, "smtp: cannot tell the session's socket (%d candidates): the send is bounded by "
                       "libesmtp's own timeouts only", matches);
}

static void *watch_main(void *arg)
{
    watch *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->done) {
        struct timespec now, until;
        clock_gettime(CLOCK_MONOTONIC, &now);
        until = now;
        until.tv_nsec += WATCH_STEP_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->cv, &w->mu, &until);
        if (w->done || w->fired)
            continue;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (w->stop && w->stop->should_stop && w->stop->should_stop(w->stop->ud))
            w->stopped = true;
        if (w->stopped || now.tv_sec > w->deadline.tv_sec ||
            (now.tv_sec == w->deadline.tv_sec && now.tv_nsec >= w->deadline.tv_nsec)) {
            w->fired = true;
            if (w->fd >= 0)
                shutdown(w->fd, SHUT_RDWR);
        }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void watch_start(watch *w, int port, int timeout_s, const mail_stop *stop)
{
    pthread_condattr_t ca;
    memset(w, 0, sizeof *w);
    w->fd = -1;
    w->port = port;
    w->stop = stop;
    w->nbefore = sockets_to_port(port, w->before, WATCH_MAX_FDS);
    clock_gettime(CLOCK_MONOTONIC, &w->deadline);
    w->deadline.tv_sec += timeout_s;
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    w->started = pthread_create(&w->tid, NULL, watch_main, w) == 0;
}

static void watch_stop(watch *w)
{
    pthread_mutex_lock(&w->mu);
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (w->started)
        pthread_join(w->tid, NULL);
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
}

/* ---------------------------------------------------------------- session */

typedef struct attempt {
    const mail_url *url;
    watch *watch;
    bool connected;
    bool starttls_missing;
    bool tls_ok;
    char cert_problem[256];
    /* AUTH, seen through the monitor callback */
    bool in_auth;
    int auth_code; /* last final reply to AUTH: 235 ok, 4xx/5xx refused */
    char auth_text[200];
} attempt;

/* Copies a server reply for an error message: printable, bounded. */
static void clean_reply(const char *in, char *out, size_t outsz)
{
    size_t o = 0;
    if (!outsz)
        return;
    for (; in && *in && o + 1 < outsz; in++) {
        unsigned char c = (unsigned char)*in;
        if (c == '\r' || c == '\n' || c == '\t')
            c = ' ';
        if (c < 0x20 || c >= 0x7f)
            continue;
        if (c == ' ' && (o == 0 || out[o - 1] == ' '))
            continue;
        out[o++] = (char)c;
    }
    while (o > 0 && out[o - 1] == ' ')
        o--;
    out[o] = '\0';
}

static void on_event(smtp_session_t session, int event_no, void *arg, ...)
{
    attempt *a = arg;
    va_list ap;
    va_start(ap, arg);
    switch (event_no) {
    case SMTP_EV_CONNECT:
        a->connected = true;
        if (a->watch)
            watch_connected(a->watch);
        break;
    case SMTP_EV_EXTNA_STARTTLS:
        a->starttls_missing = true;
        break;
    case SMTP_EV_STARTTLS_OK:
        a->tls_ok = true;
        break;
    case SMTP_EV_INVALID_PEER_CERTIFICATE: {
        long result = va_arg(ap, long);
        int *ok = va_arg(ap, int *);
        *ok = 0;
        snprintf(a->cert_problem, sizeof a->cert_problem, "server certificate does not verify: %s",
                 X509_verify_cert_error_string(result));
        break;
    }
    case SMTP_EV_NO_PEER_CERTIFICATE: {
        int *ok = va_arg(ap, int *);
        *ok = 0;
        snprintf(a->cert_problem, sizeof a->cert_problem, "server sent no certificate");
        break;
    }
    case SMTP_EV_WRONG_PEER_CERTIFICATE: {
        int *ok = va_arg(ap, int *);
        const char *name = va_arg(ap, const char *);
        SSL *ssl = va_arg(ap, SSL *);
        char shown[128];
        /* libesmtp matches DNS names only. Our SSL_CTX always asks OpenSSL to
         * check the host name or IP address (tls_context_new), so a
         * verification that succeeded has matched it. */
        if (ssl && SSL_get_verify_result(ssl) == X509_V_OK) {
            *ok = 1;
            break;
        }
        *ok = 0;
        clean_reply(name, shown, sizeof shown);
        snprintf(a->cert_problem, sizeof a->cert_problem, "server certificate is for '%s', not for '%s'", shown,
                 a->url->host);
        break;
    }
    case SMTP_EV_WEAK_CIPHER: {
        int bits = va_arg(ap, int);
        int *ok = va_arg(ap, int *);
        *ok = 0;
        snprintf(a->cert_problem, sizeof a->cert_problem, "TLS cipher too weak (%d bits)", bits);
        break;
    }
    default:
        break;
    }
    va_end(ap);
}

/* Watches AUTH: our line "AUTH ..." starts it (nothing of it is kept: it may
 * carry credentials), the server's first non-334 reply ends it. */
static void on_monitor(const char *buf, int len, int writing, void *arg)
{
    attempt *a = arg;
    if (len <= 0)
        return;
    if (writing) {
        if (len >= 5 && strncasecmp(buf, "AUTH ", 5) == 0)
            a->in_auth = true;
        return;
    }
    if (!a->in_auth || len < 3 || buf[0] < '2' || buf[0] > '5' || buf[0] == '3')
        return;
    a->in_auth = false;
    a->auth_code = (buf[0] - '0') * 100 + (buf[1] - '0') * 10 + (buf[2] - '0');
    {
        char raw[sizeof a->auth_text];
        size_t n = (size_t)len < sizeof raw - 1 ? (size_t)len : sizeof raw - 1;
        memcpy(raw, buf, n);
        raw[n] = '\0';
        clean_reply(raw, a->auth_text, sizeof a->auth_text);
    }
}

/* Answers the SASL mechanism's questions from the URL's credentials. */
static int on_auth_interact(auth_client_request_t request, char **result, int fields, void *arg)
{
    mail_url *u = arg;
    for (int i = 0; i < fields; i++) {
        if (request[i].flags & AUTH_USER)
            result[i] = u->user;
        else if (request[i].flags & AUTH_PASS)
            result[i] = u->pass;
        else
            return 0;
    }
    return 1;
}

static SSL_CTX *tls_context_new(const eq_config *cfg, const mail_url *u, eq_err *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    X509_VERIFY_PARAM *param;
    char host[sizeof u->host];
    size_t hl = strlen(u->host);
    if (!ctx) {
        eq_fail(err, EQ_ERR_SMTP, "smtp: cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* TLS 1.3 stalls libesmtp 1.1 (see the top of this file) */
    SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        eq_fail(err, EQ_ERR_CONFIG, "smtp: cannot load the system CA certificates");
        goto fail;
    }
    if (cfg->smtp_ca_file && SSL_CTX_load_verify_locations(ctx, cfg->smtp_ca_file, NULL) != 1) {
        eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_SMTP_CA_FILE: %s: cannot load CA certificates from it",
                cfg->smtp_ca_file);
        goto fail;
    }
    /* The handshake itself does not stop on a bad certificate: libesmtp
     * checks SSL_get_verify_result() right after it and quits, and our event
     * callback turns the reason into a clear message. */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    param = SSL_CTX_get0_param(ctx);
    if (u->host[0] == '[') {
        memcpy(host, u->host + 1, hl - 2);
        host[hl - 2] = '\0';
    } else {
        memcpy(host, u->host, hl + 1);
    }
    {
        unsigned char addr[16];
        bool is_ip = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
        if ((is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host) : X509_VERIFY_PARAM_set1_host(param, host, 0)) != 1) {
            eq_fail(err, EQ_ERR_CONFIG, "smtp: cannot set up host name verification for '%s'", host);
            goto fail;
        }
    }
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    ERR_clear_error();
    return ctx;
fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

/* Class of an SMTP status for the caller: 4xx and no answer retryable. */
static int status_fail(eq_err *err, int code, const char *fmt, ...) EQ_PRINTF(3, 4);
static int status_fail(eq_err *err, int code, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (code >= 500)
        return eq_fail(err, EQ_ERR_SMTP, "%s", msg);
    return eq_fail_retry(err, EQ_ERR_SMTP, "%s", msg);
}

/* The send was cut by the watchdog: say why instead of libesmtp's guess. */
static int cut_short(const eq_config *cfg, const watch *w, const char *where, eq_err *err)
{
    if (w->stopped)
        return eq_fail_retry(err, EQ_ERR_SMTP, "%s: send interrupted: the worker is stopping", where);
    return eq_fail_retry(err, EQ_ERR_SMTP, "%s: no answer within %d s (EXPORTQ_SMTP_TIMEOUT)", where,
                         cfg->smtp_timeout);
}

static int deliver(const eq_config *cfg, const mail_url *u, const char *to, const char *message,
                   const mail_stop *stop, eq_err *err)
{
    watch w;
    smtp_session_t session = NULL;
    smtp_message_t msg;
    smtp_recipient_t rcpt;
    auth_context_t authctx = NULL;
    SSL_CTX *ctx = NULL;
    attempt a;
    char server[sizeof u->host + 8], reply[300], where[sizeof server + 8];
    const smtp_status_t *st;
    int rc = -1;

    memset(&a, 0, sizeof a);
    a.url = u;
    a.watch = &w;
    watch_start(&w, u->port, cfg->smtp_timeout > 0 ? cfg->smtp_timeout : MAIL_SEND_TIMEOUT_DEFAULT, stop);
    snprintf(server, sizeof server, "%s:%d", u->host, u->port);
    snprintf(where, sizeof where, "smtp %s", server);

    if (!(session = smtp_create_session()) || !(msg = smtp_add_message(session))) {
        eq_fail(err, EQ_ERR_NOMEM, "%s: cannot create a libesmtp session", where);
        goto fail;
    }
    smtp_set_server(session, server);
    smtp_set_eventcb(session, on_event, &a);
    smtp_set_monitorcb(session, on_monitor, &a, 0);
    /* RFC 5321's minimums are minutes; a worker wants to know sooner */
    smtp_set_timeout(session, Timeout_GREETING | Timeout_OVERRIDE_RFC2822_MINIMUM, 30000);
    smtp_set_timeout(session, Timeout_ENVELOPE | Timeout_OVERRIDE_RFC2822_MINIMUM, 60000);
    smtp_set_timeout(session, Timeout_DATA | Timeout_OVERRIDE_RFC2822_MINIMUM, 60000);
    smtp_set_timeout(session, Timeout_TRANSFER | Timeout_OVERRIDE_RFC2822_MINIMUM, 60000);
    smtp_set_timeout(session, Timeout_DATA2 | Timeout_OVERRIDE_RFC2822_MINIMUM, 120000);

    if (cfg->smtp_tls != EQ_SMTP_TLS_NONE) {
        if (!(ctx = tls_context_new(cfg, u, err)))
            goto fail;
        if (!smtp_starttls_set_ctx(session, ctx) ||
            !smtp_starttls_enable(session, cfg->smtp_tls == EQ_SMTP_TLS_STARTTLS ? Starttls_REQUIRED
                                                                                 : Starttls_ENABLED)) {
            eq_fail(err, EQ_ERR_SMTP, "%s: this libesmtp has no STARTTLS support", where);
            goto fail;
        }
    } else {
        smtp_starttls_enable(session, Starttls_DISABLED);
    }
    if (u->has_auth) {
        if (!(authctx = auth_create_context())) {
            eq_fail(err, EQ_ERR_NOMEM, "%s: cannot create an AUTH context", where);
            goto fail;
        }
        auth_set_mechanism_flags(authctx, AUTH_PLUGIN_PLAIN, 0);
        auth_set_interact_cb(authctx, on_auth_interact, (void *)u);
        smtp_auth_set_context(session, authctx);
    }
    smtp_set_reverse_path(msg, cfg->smtp_from);
    smtp_set_message_str(msg, (void *)message);
    if (!(rcpt = smtp_add_recipient(msg, to))) {
        eq_fail(err, EQ_ERR_NOMEM, "%s: cannot add the recipient", where);
        goto fail;
    }

    if (!smtp_start_session(session)) {
        int e = smtp_errno();
        char text[128];
        if (w.fired)
            cut_short(cfg, &w, where, err);
        else if (a.cert_problem[0])
            eq_fail_retry(err, EQ_ERR_SMTP, "%s: STARTTLS: %s", where, a.cert_problem);
        else if (a.starttls_missing)
            eq_fail_retry(err, EQ_ERR_SMTP,
                          "%s: the server does not offer STARTTLS, which EXPORTQ_SMTP_TLS=starttls requires", where);
        else
            eq_fail_retry(err, EQ_ERR_SMTP, "%s: %s: %s", where, a.connected ? "connection lost" : "cannot connect",
                          smtp_strerror(e, text, sizeof text) ? text : "session failed");
        goto fail;
    }
    /* The session ran; now find out how far it got. */
    if (a.cert_problem[0]) {
        eq_fail_retry(err, EQ_ERR_SMTP, "%s: STARTTLS: %s", where, a.cert_problem);
        goto fail;
    }
    if (a.starttls_missing) {
        eq_fail_retry(err, EQ_ERR_SMTP, "%s: the server does not offer STARTTLS, which EXPORTQ_SMTP_TLS=starttls requires",
                      where);
        goto fail;
    }
    if (u->has_auth && a.auth_code >= 400) {
        status_fail(err, a.auth_code, "%s: AUTH as '%s' rejected: %s", where, u->user, a.auth_text);
        goto fail;
    }
    /* accepted before the watchdog fired: sent */
    st = smtp_message_transfer_status(msg);
    if (w.fired && (!st || st->code / 100 != 2)) {
        cut_short(cfg, &w, where, err);
        goto fail;
    }
    st = smtp_reverse_path_status(msg);
    if (!st || st->code == 0) {
        int e = smtp_errno();
        char text[128];
        eq_fail_retry(err, EQ_ERR_SMTP, "%s: connection ended before MAIL FROM: %s", where,
                      smtp_strerror(e, text, sizeof text) ? text : "no reply");
        goto fail;
    }
    if (st->code / 100 != 2) {
        clean_reply(st->text, reply, sizeof reply);
        if (u->has_auth && a.auth_code == 0 && st->code == 530)
            status_fail(err, st->code, "%s: sender %s refused: %d %s (the server offered no usable AUTH mechanism)",
                        where, cfg->smtp_from, st->code, reply);
        else
            status_fail(err, st->code, "%s: sender %s refused: %d %s", where, cfg->smtp_from, st->code, reply);
        goto fail;
    }
    st = smtp_recipient_status(rcpt);
    if (!st || st->code / 100 != 2) {
        clean_reply(st ? st->text : "", reply, sizeof reply);
        status_fail(err, st ? st->code : 0, "%s: recipient %s refused: %d %s", where, to, st ? st->code : 0, reply);
        goto fail;
    }
    st = smtp_message_transfer_status(msg);
    if (!st || st->code / 100 != 2) {
        clean_reply(st ? st->text : "", reply, sizeof reply);
        status_fail(err, st ? st->code : 0, "%s: message refused: %d %s", where, st ? st->code : 0, reply);
        goto fail;
    }
    eq_debug(NULL, "smtp %s: delivered to %s (%s)", server, to, a.tls_ok ? "TLS" : "no TLS");
    rc = 0;
fail:
    if (session)
        smtp_destroy_session(session);
    if (authctx)
        auth_destroy_context(authctx);
    SSL_CTX_free(ctx); /* libesmtp held its own reference */
    watch_stop(&w);
    return rc;
}

/* ---------------------------------------------------------------- API */

int mail_send(const eq_config *cfg, const char *to, const char *message, size_t len, eq_err *err)
{
    return mail_send_stoppable(cfg, to, message, len, NULL, err);
}

int mail_lease_seconds(const eq_config *cfg)
{
    int t = cfg && cfg->smtp_timeout > 0 ? cfg->smtp_timeout : MAIL_SEND_TIMEOUT_DEFAULT;
    return 2 * t + 60;
}

int mail_send_stoppable(const eq_config *cfg, const char *to, const char *message, size_t len,
                        const mail_stop *stop, eq_err *err)
{
    mail_url u;
    sigset_t pipe_set, old;
    int rc;
    if (!cfg || !cfg->smtp_url || !cfg->smtp_from)
        return eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_SMTP_URL and EXPORTQ_SMTP_FROM are required to send email");
    if (!mail_address_valid(to))
        return eq_fail(err, EQ_ERR_INVALID, "mail: recipient is not a valid plain address");
    if (!mail_address_valid(cfg->smtp_from))
        return eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_SMTP_FROM: not a plain address (local@domain)");
    if (!message || len == 0 || strlen(message) != len)
        return eq_fail(err, EQ_ERR_INVALID, "mail: the message is empty or contains a NUL byte");
    if (mail_url_parse(cfg->smtp_url, cfg->smtp_tls, &u, err) < 0)
        return -1;

    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    rc = deliver(cfg, &u, to, message, stop, err);
    {
        /* a write to a closed connection left a SIGPIPE pending: drop it */
        struct timespec zero = {0, 0};
        sigset_t pending;
        sigpending(&pending);
        if (sigismember(&pending, SIGPIPE) && !sigismember(&old, SIGPIPE))
            (void)sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    explicit_bzero(u.pass, sizeof u.pass);
    return rc;
}
