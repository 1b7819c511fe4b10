/* mail_send.h - delivering one message over SMTP (libesmtp 1.1).
 *
 * EXPORTQ_SMTP_URL is smtp://[user:pass@]host[:port] (user and password
 * percent-decoded; port defaults to 587 with TLS starttls/optional, 25 with
 * none). smtps:// (implicit TLS) is rejected: libesmtp 1.1 can only do STARTTLS.
 * EXPORTQ_SMTP_TLS: starttls = STARTTLS required and the server certificate
 * must verify (system CAs + EXPORTQ_SMTP_CA_FILE) for the host name; optional =
 * STARTTLS when offered (still verified when used); none = plain text. AUTH
 * (PLAIN/LOGIN) is used when the URL has credentials.
 *
 * Errors say what failed (connect, STARTTLS not offered, certificate, AUTH
 * rejected, sender/recipient refused, with the SMTP status) and never contain
 * the password. Connection problems and 4xx are retryable (err->retryable),
 * 5xx and configuration problems are permanent.
 */
#ifndef EXPORTQ_WORKER_MAIL_SEND_H
#define EXPORTQ_WORKER_MAIL_SEND_H

#include <stdbool.h>
#include <stddef.h>

#include "common/config.h"
#include "common/error.h"

/* EXPORTQ_SMTP_URL taken apart. Strings are NUL-terminated, owned by the struct. */
typedef struct mail_url {
    char host[256];
    int port;
    char user[256]; /* "" when no credentials */
    char pass[256]; /* secret: never log */
    bool has_auth;
} mail_url;

/* Parses `url` for TLS mode `tls` (eq_smtp_tls), filling the default port.
 * libcurl's URL parser (CURLU) does the work, with percent-decoding of user
 * and password (control characters refused); on top of it: only smtp://, no
 * path or query, a raw '@' in the password taken as data (the last '@' ends
 * the userinfo), malformed %-escapes and an empty user refused, host names
 * of [A-Za-z0-9.-] or an [IPv6] address. No I/O; the error message never
 * contains the password. */
int mail_url_parse(const char *url, int tls, mail_url *out, eq_err *err) EQ_MUST;

/* Start-up check of the mail settings (URL form, smtps:// rejected, sender
 * valid, CA file readable): call it once where EQ_NEED_SMTP is required, so a
 * bad setting stops the program with a message naming the variable. */
int mail_config_check(const eq_config *cfg, eq_err *err) EQ_MUST;

/* One delivery attempt of `message` (len bytes, a complete CRLF message as
 * built by mail_message.h) from cfg->smtp_from to `to`. Safe to call many times
 * in a long-running process (see mail_send.c about libESMTP#30). */
int mail_send(const eq_config *cfg, const char *to, const char *message, size_t len, eq_err *err) EQ_MUST;

#define MAIL_SEND_TIMEOUT_DEFAULT 120

/* Cuts a send short: should_stop(ud) is asked every 100 ms. */
typedef struct mail_stop {
    bool (*should_stop)(void *ud);
    void *ud;
} mail_stop;

/* mail_send, bounded in all by cfg->smtp_timeout (EXPORTQ_SMTP_TIMEOUT;
 * connect() excepted, which the kernel bounds) and stopped within ~100 ms
 * when stop says so (stop may be NULL). A send cut short fails retryable,
 * unless the server had accepted the message already (then it is sent). */
int mail_send_stoppable(const eq_config *cfg, const char *to, const char *message, size_t len,
                        const mail_stop *stop, eq_err *err) EQ_MUST;

/* The mail lease for a sender with these settings: longer than the worst
 * case of one send (2 x EXPORTQ_SMTP_TIMEOUT + 60 s, so that even a connect
 * the kernel lets run its course ends first), so two workers never send the
 * same mail at once. */
int mail_lease_seconds(const eq_config *cfg);

#endif
