/* it_mail.c - mail delivery against the harness's SMTP server (aiosmtpd:
 * STARTTLS required, AUTH required, certificate from the harness's own CA),
 * with the environment of servers.env (EXPORTQ_SMTP_*, EXPORTQ_TEST_MAILDIR).
 *
 * What a user would check: the stored .eml has the right To and Subject and
 * the link decodes to exactly the URL we sent; many sends work in one
 * process; a wrong password, an untrusted certificate, a server without
 * STARTTLS and a closed port give clear errors (retryable or not) and never
 * the password.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "mail/mail_message.h"
#include "mail/mail_send.h"

static long long next_job_id;

/* ------------------------------------------------------------ helpers */

static void load_config(eq_config *cfg)
{
    eq_err err;
    if (eq_config_load(cfg, NULL, &err) < 0)
        fail_msg("config: %s", err.msg);
    if (eq_config_require(cfg, EQ_NEED_SMTP, &err) < 0)
        fail_msg("config: %s", err.msg);
    assert_non_null(cfg->smtp_ca_file);
    assert_non_null(getenv("EXPORTQ_TEST_MAILDIR"));
}

/* Sets cfg->smtp_url to the harness URL with `pass` as password. */
static void set_password(eq_config *cfg, const char *pass)
{
    mail_url u;
    eq_err err;
    char url[600];
    assert_int_equal(mail_url_parse(cfg->smtp_url, cfg->smtp_tls, &u, &err), 0);
    snprintf(url, sizeof url, "smtp://%s:%s@%s:%d", u.user, pass, u.host, u.port);
    free(cfg->smtp_url);
    cfg->smtp_url = strdup(url);
}

static void set_port(eq_config *cfg, int port)
{
    mail_url u;
    eq_err err;
    char url[600];
    assert_int_equal(mail_url_parse(cfg->smtp_url, cfg->smtp_tls, &u, &err), 0);
    snprintf(url, sizeof url, "smtp://%s:%s@127.0.0.1:%d", u.user, u.pass, port);
    free(cfg->smtp_url);
    cfg->smtp_url = strdup(url);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *data;
    long n;
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    data = calloc(1, (size_t)n + 1);
    if (fread(data, 1, (size_t)n, f) != (size_t)n) {
        free(data);
        data = NULL;
    }
    fclose(f);
    return data;
}

/* The stored message whose Message-ID is `msgid` (the server stores before it
 * answers 250, so it is there once mail_send returned 0), or NULL. Sets
 * `env_out` to the envelope file's text when not NULL. */
static char *find_eml(const char *msgid, char **env_out)
{
    const char *dir = getenv("EXPORTQ_TEST_MAILDIR");
    char needle[256], path[4096];
    DIR *d = opendir(dir);
    struct dirent *e;
    char *found = NULL;
    assert_non_null(d);
    snprintf(needle, sizeof needle, "\r\nMessage-ID: %s\r\n", msgid);
    while (!found && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        char *text;
        if (n < 5 || strcmp(e->d_name + n - 4, ".eml") != 0 || e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        text = read_file(path);
        if (text && strstr(text, needle)) {
            found = text;
            if (env_out) {
                snprintf(path + strlen(path) - 4, 5, ".env");
                *env_out = read_file(path);
            }
        } else {
            free(text);
        }
    }
    closedir(d);
    return found;
}

static int count_with(const char *msgid)
{
    char *m = find_eml(msgid, NULL);
    int n = m != NULL;
    free(m);
    return n;
}

/* Header value with folding undone; caller frees. */
static char *header_value(const char *msg, const char *name)
{
    size_t nl = strlen(name), o = 0;
    const char *p = msg, *end = strstr(msg, "\r\n\r\n");
    char *out = calloc(1, 4096);
    assert_non_null(end);
    while (p < end) {
        const char *eol = strstr(p, "\r\n");
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            p += nl + 1;
            while (*p == ' ')
                p++;
            for (;;) {
                memcpy(out + o, p, (size_t)(eol - p));
                o += (size_t)(eol - p);
                p = eol + 2;
                if (*p != ' ' && *p != '\t')
                    return out;
                eol = strstr(p, "\r\n");
            }
        }
        p = eol + 2;
    }
    fail_msg("header %s missing", name);
    return NULL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Quoted-printable body decoded (CRLF -> \n); caller frees. */
static char *qp_body(const char *msg)
{
    const char *s = strstr(msg, "\r\n\r\n");
    char *out;
    size_t o = 0;
    assert_non_null(s);
    s += 4;
    out = calloc(1, strlen(s) + 1);
    while (*s) {
        if (s[0] == '=' && s[1] == '\r' && s[2] == '\n') {
            s += 3;
        } else if (s[0] == '=' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
            out[o++] = (char)(hexval(s[1]) * 16 + hexval(s[2]));
            s += 3;
        } else if (s[0] == '\r' && s[1] == '\n') {
            out[o++] = '\n';
            s += 2;
        } else {
            out[o++] = *s++;
        }
    }
    return out;
}

static mail_export_info sample(long long job_id, const char *url)
{
    mail_export_info info = {
        .job_id = job_id,
        .kind = "user_activity",
        .filename = "activity.csv",
        .rows = 1000000,
        .bytes = 123456789,
        .url = url,
        .link_expires_at = time(NULL) + 86400,
        .to = "alice@example.org",
    };
    return info;
}

/* A free TCP port on 127.0.0.1 with nothing listening on it. */
static int closed_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* ------------------------------------------------------------ tests */

static void test_send_starttls_auth(void **state)
{
    eq_config cfg;
    eq_err err;
    eq_buf msg;
    char url[3000], msgid[128], *eml, *env = NULL, *v, *body, want[3100];
    long long job = next_job_id++;
    size_t n;
    mail_export_info info;
    load_config(&cfg);
    /* a long presigned-looking URL full of '=', '&' and '%' */
    n = (size_t)snprintf(url, sizeof url,
                         "https://s3.example.test/exportq-test/exports/o%%201/%lld/k9/activity.csv?"
                         "response-content-disposition=attachment%%3B%%20filename%%3D%%22activity.csv%%22"
                         "&X-Amz-Security-Token=",
                         job);
    for (; n < 2000; n++)
        url[n] = "Zz09+/=%"[n % 8];
    snprintf(url + n, sizeof url - n, "&X-Amz-Signature=%064x", 0xabcdefu);
    info = sample(job, url);
    eq_buf_init(&msg, MAIL_MESSAGE_MAX);
    assert_int_equal(mail_build_success(&info, cfg.smtp_from, &msg, &err), 0);
    if (mail_send(&cfg, info.to, msg.data, msg.len, &err) < 0)
        fail_msg("mail_send: %s", err.msg);

    snprintf(msgid, sizeof msgid, "<export-%lld-success.none@example.test>", job);
    eml = find_eml(msgid, &env);
    assert_non_null(eml);
    v = header_value(eml, "To");
    assert_string_equal(v, "alice@example.org");
    free(v);
    v = header_value(eml, "Subject");
    assert_string_equal(v, "Your export is ready: activity.csv");
    free(v);
    v = header_value(eml, "From");
    assert_string_equal(v, cfg.smtp_from);
    free(v);
    body = qp_body(eml);
    snprintf(want, sizeof want, "\n%s\n", url);
    assert_non_null(strstr(body, want)); /* the link, byte for byte */
    assert_non_null(strstr(body, "117.7 MiB"));
    assert_non_null(strstr(body, "1,000,000"));
    /* envelope: recipient, authenticated, over TLS */
    assert_non_null(env);
    assert_non_null(strstr(env, "RCPT_TO=alice@example.org\n"));
    assert_non_null(strstr(env, "AUTH_USER=exportq\n"));
    assert_non_null(strstr(env, "TLS=1\n"));
    free(body);
    free(env);
    free(eml);
    eq_buf_cleanup(&msg);
    eq_config_cleanup(&cfg);
}

/* libESMTP#30: a long-running worker sends many mails from one process. */
static void test_many_sends_one_process(void **state)
{
    eq_config cfg;
    eq_err err;
    eq_buf msg;
    enum { N = 8 };
    long long first = next_job_id;
    load_config(&cfg);
    eq_buf_init(&msg, MAIL_MESSAGE_MAX);
    for (int i = 0; i < N; i++) {
        long long job = next_job_id++;
        mail_export_info info = sample(job, "https://s3.example.test/b/k.csv?X-Amz-Signature=00");
        if (i % 2) {
            assert_int_equal(mail_build_failure(&info, "COPY failed: canceled", cfg.smtp_from, &msg, &err), 0);
        } else {
            assert_int_equal(mail_build_success(&info, cfg.smtp_from, &msg, &err), 0);
        }
        if (mail_send(&cfg, info.to, msg.data, msg.len, &err) < 0)
            fail_msg("send %d of %d: %s", i + 1, N, err.msg);
    }
    for (int i = 0; i < N; i++) {
        char msgid[128];
        snprintf(msgid, sizeof msgid, "<export-%lld-%s.none@example.test>", first + i, i % 2 ? "failure" : "success");
        if (count_with(msgid) != 1)
            fail_msg("message %s not stored", msgid);
    }
    eq_buf_cleanup(&msg);
    eq_config_cleanup(&cfg);
}

/* Two threads sending at once (a worker with concurrency > 1). */
static void *send_thread(void *arg)
{
    long long job = *(long long *)arg;
    eq_config cfg;
    eq_err err;
    eq_buf msg;
    mail_export_info info = sample(job, "https://s3.example.test/b/k.csv?X-Amz-Signature=11");
    intptr_t failed = 0;
    load_config(&cfg);
    eq_buf_init(&msg, MAIL_MESSAGE_MAX);
    for (int i = 0; i < 3 && !failed; i++) {
        info.job_id = job + i;
        if (mail_build_success(&info, cfg.smtp_from, &msg, &err) < 0 ||
            mail_send(&cfg, info.to, msg.data, msg.len, &err) < 0) {
            fprintf(stderr, "thread send: %s\n", err.msg);
            failed = 1;
        }
    }
    eq_buf_cleanup(&msg);
    eq_config_cleanup(&cfg);
    return (void *)failed;
}

static void test_concurrent_sends(void **state)
{
    pthread_t t[2];
    long long base[2];
    void *rv;
    for (int i = 0; i < 2; i++) {
        base[i] = next_job_id;
        next_job_id += 3;
        assert_int_equal(pthread_create(&t[i], NULL, send_thread, &base[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(t[i], &rv), 0);
        assert_null(rv);
    }
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 3; k++) {
            char msgid[128];
            snprintf(msgid, sizeof msgid, "<export-%lld-success.none@example.test>", base[i] + k);
            assert_int_equal(count_with(msgid), 1);
        }
}

static void test_wrong_password(void **state)
{
    eq_config cfg;
    eq_err err;
    eq_buf msg;
    char msgid[128];
    long long job = next_job_id++;
    mail_export_info info = sample(job, "https://s3.example.test/b/k.csv");
    load_config(&cfg);
    set_password(&cfg, "Wr0ng-Pa55word");
    eq_buf_init(&msg, MAIL_MESSAGE_MAX);
    assert_int_equal(mail_build_success(&info, cfg.smtp_from, &msg, &err), 0);
    assert_int_equal(mail_send(&cfg, info.to, msg.data, msg.len, &err), -1);
    fprintf(stderr, "    (wrong password: %s)\n", err.msg);
    assert_int_equal(err.code, EQ_ERR_SMTP);
    assert_non_null(strstr(err.msg, "AUTH"));
    assert_non_null(strstr(err.msg, "rejected"));
    assert_non_null(strstr(err.msg, "535"));
    assert_null(strstr(err.msg, "Wr0ng-Pa55word"));
    assert_false(err.retryable); /* 5xx: permanent */
    snprintf(msgid, sizeof msgid, "<export-%lld-success.none@example.test>", job);
    assert_int_equal(count_with(msgid), 0);
    /* and the process still works afterwards */
    set_password(&cfg, "smtp-secret");
    if (mail_send(&cfg, info.to, msg.data, msg.len, &err) < 0)
        fail_msg("send after a failed AUTH: %s", err.msg);
    assert_int_equal(count_with(msgid), 1);
    eq_buf_cleanup(&msg);
    eq_config_cleanup(&cfg);
}

static void test_untrusted_certificate(void **state)
{
    eq_config cfg;
    eq_err err;
    eq_buf msg;
    char msgid[128];
    long long job = next_job_id++;
    mail_export_info info = sample(job, "https://s3.example.test/b/k.csv");
    load_config(&cfg);
    free(cfg.smtp_ca_file); /* only the system CAs: the harness CA is unknown */
    cfg.smtp_ca_file = NULL;
    eq_buf_init(&msg, MAIL_MESSAGE_MAX);
    assert_int_equal(mail_build_success(&info, cfg.smtp_from, &msg, &err), 0);
    for (int tls = EQ_SMTP_TLS_STARTTLS; tls <= EQ_SMTP_TLS_OPTIONAL; tls++) {
        cfg.smtp_tls = tls; /* "optional" still verifies a certificate it uses */
        assert_int_equal(mail_send(&cfg, info.to, msg.data, msg.len, &err), -1);
        fprintf(stderr, "    (untrusted, tls=%d: %s)\n", tls, err.msg);
        assert_int_equal(err.code, EQ_ERR_SMTP);
        assert_non_null(strstr(err.msg, "STARTTLS"));
        assert_non_null(strstr(err.msg, "certificate"));
        assert_null(strstr(err.msg, "smtp-secret"));
    }
    snprintf(msgid, sizeof msgid, "<export-%lld-success.none@example.test>", job);
    assert_int_equal(count_with(msgid), 0);
    eq_buf_cleanup(&msg);
    eq_config_cleanup(&cfg);
}

static void test_server_down_is_retryable(void **state)
{
    eq_config cfg;
    eq_err err;
    eq_buf msg;
    mail_export_info info = sample(next_job_id++, "https://s3.example.test/b/k.csv");
    load_config(&cfg);
    set_port(&cfg, closed_port());
    eq_buf_init(&msg, MAIL_MESSAGE_MAX);
    assert_int_equal(mail_build_success(&info, cfg.smtp_from, &msg, &err), 0);
    assert_int_equal(mail_send(&cfg, info.to, msg.data, msg.len, &err), -1);
    fprintf(stderr, "    (server down: %s)\n", err.msg);
    assert_int_equal(err.code, EQ_ERR_SMTP);
    assert_true(err.retryable);
    assert_non_null(strstr(err.msg, "refused"));
    assert_null(strstr(err.msg, "smtp-secret"));
    eq_buf_cleanup(&msg);
    eq_config_cleanup(&cfg);
}

/* TLS off against a server that requires it: refused with the 5xx, no
 * credentials sent in clear text (the server does not offer AUTH before TLS). */
static void test_tls_none_refused(void **state)
{
    eq_config cfg;
    eq_err err;
    eq_buf msg;
    mail_export_info info = sample(next_job_id++, "https://s3.example.test/b/k.csv");
    load_config(&cfg);
    cfg.smtp_tls = EQ_SMTP_TLS_NONE;
    eq_buf_init(&msg, MAIL_MESSAGE_MAX);
    assert_int_equal(mail_build_success(&info, cfg.smtp_from, &msg, &err), 0);
    assert_int_equal(mail_send(&cfg, info.to, msg.data, msg.len, &err), -1);
    fprintf(stderr, "    (tls none: %s)\n", err.msg);
    assert_non_null(strstr(err.msg, "530"));
    assert_false(err.retryable);
    assert_null(strstr(err.msg, "smtp-secret"));
    eq_buf_cleanup(&msg);
    eq_config_cleanup(&cfg);
}

/* ---- a server that does not offer STARTTLS (a downgrade, or a misconfigured
 * relay): a tiny SMTP responder in a thread that records what it was sent. */
typedef struct plain_server {
    int listen_fd;
    int port;
    char seen[4096];
} plain_server;

static void *plain_server_run(void *arg)
{
    plain_server *ps = arg;
    int fd = accept(ps->listen_fd, NULL, NULL);
    char buf[1024];
    size_t used = 0;
    if (fd < 0)
        return NULL;
    if (write(fd, "220 plain.test ESMTP\r\n", 22) < 0)
        goto done;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf - 1);
        const char *reply;
        if (n <= 0)
            break;
        buf[n] = '\0';
        if (used + (size_t)n < sizeof ps->seen) {
            memcpy(ps->seen + used, buf, (size_t)n);
            used += (size_t)n;
        }
        if (strncasecmp(buf, "EHLO", 4) == 0)
            reply = "250-plain.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n";
        else if (strncasecmp(buf, "QUIT", 4) == 0)
            reply = "221 bye\r\n";
        else
            reply = "250 ok\r\n";
        if (write(fd, reply, strlen(reply)) < 0 || strncasecmp(buf, "QUIT", 4) == 0)
            break;
    }
done:
    close(fd);
    return NULL;
}

static void test_starttls_not_offered(void **state)
{
    eq_config cfg;
    eq_err err;
    eq_buf msg;
    plain_server ps = {0};
    pthread_t t;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    mail_export_info info = sample(next_job_id++, "https://s3.example.test/b/k.csv");
    ps.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(ps.listen_fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(ps.listen_fd, 1), 0);
    assert_int_equal(getsockname(ps.listen_fd, (struct sockaddr *)&a, &len), 0);
    assert_int_equal(pthread_create(&t, NULL, plain_server_run, &ps), 0);
    load_config(&cfg);
    set_port(&cfg, ntohs(a.sin_port));
    eq_buf_init(&msg, MAIL_MESSAGE_MAX);
    assert_int_equal(mail_build_success(&info, cfg.smtp_from, &msg, &err), 0);
    assert_int_equal(mail_send(&cfg, info.to, msg.data, msg.len, &err), -1);
    pthread_join(t, NULL);
    close(ps.listen_fd);
    fprintf(stderr, "    (no STARTTLS: %s)\n", err.msg);
    assert_non_null(strstr(err.msg, "does not offer STARTTLS"));
    /* nothing but EHLO and QUIT went over the clear-text connection */
    assert_null(strstr(ps.seen, "AUTH"));
    assert_null(strstr(ps.seen, "MAIL"));
    assert_null(strstr(ps.seen, "RCPT"));
    assert_non_null(strstr(ps.seen, "EHLO"));
    eq_buf_cleanup(&msg);
    eq_config_cleanup(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_send_starttls_auth),
        cmocka_unit_test(test_many_sends_one_process),
        cmocka_unit_test(test_concurrent_sends),
        cmocka_unit_test(test_wrong_password),
        cmocka_unit_test(test_untrusted_certificate),
        cmocka_unit_test(test_server_down_is_retryable),
        cmocka_unit_test(test_tls_none_refused),
        cmocka_unit_test(test_starttls_not_offered),
    };
    /* job ids unique across runs: the maildir keeps earlier messages */
    next_job_id = ((long long)time(NULL) % 100000000) * 1000 + (getpid() % 1000);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
