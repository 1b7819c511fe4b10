/* webhook.h - signed webhook deliveries (DESIGN.md "Notifications").
 *
 * One delivery attempt is a POST of the event body (JSON) with
 *   Content-Type: application/json
 *   Exportq-Signature: t=UNIX,v1=HEX(HMAC-SHA256(secret, "UNIX." + body))
 * where t is the time of this attempt and HEX is lowercase (as Stripe does).
 *
 * SSRF: the operator's EXPORTQ_WEBHOOK_URL is trusted (loopback included).
 * A kind's options.webhook_url is not: its host must match
 * EXPORTQ_WEBHOOK_ALLOWED_HOSTS (exact names or IP literals, or "*.example.com"
 * for any subdomain), and every address it resolves to must be allowed:
 * link-local and cloud metadata addresses (169.254.0.0/16, fe80::/10,
 * fd00:ec2::/32, 100.64.0.0/10), unspecified, multicast, reserved and
 * broadcast addresses never; loopback only when the allowed entry is
 * localhost, 127.0.0.1 or ::1 itself; private ranges (10/8, 172.16/12,
 * 192.168/16, fc00::/7) only for a host named exactly (not by a wildcard).
 * IPv4 embedded in IPv6 (mapped, compatible, NAT64, 6to4) is judged as IPv4.
 * The address checked is the address connected to (CURLOPT_RESOLVE pins it),
 * so DNS rebinding cannot swap it; redirects are never followed and no proxy
 * is used, for any URL. A refused URL fails before any connection.
 *
 * The signature, the event body and the URL checks are pure functions (unit
 * tests, fuzzing). Buffers are the caller's unless said otherwise.
 */
#ifndef EXPORTQ_WEBHOOK_WEBHOOK_H
#define EXPORTQ_WEBHOOK_WEBHOOK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "common/error.h"

#define WEBHOOK_SIG_MAX 96        /* "t=" + 20 digits + ",v1=" + 64 hex + NUL fits */
#define WEBHOOK_BODY_MAX (1 << 20) /* an event body is at most 1 MiB */
#define WEBHOOK_REPLY_MAX 65536   /* bytes of a receiver's reply read at most */

/* "t=T,v1=<64 lowercase hex of HMAC-SHA256(secret, "T." + body)>" into
 * out[outsz]. Returns 0, or -1 when outsz is too small or the MAC fails (out
 * is then ""). secret may hold any bytes (secret_len). */
int webhook_signature(const void *secret, size_t secret_len, long long t, const void *body, size_t len, char *out,
                      size_t outsz) EQ_MUST;

/* Checks an Exportq-Signature header value as a receiver does: finds t and
 * every v1 (other schemes are ignored), recomputes the MAC and compares in
 * constant time; t must be within tolerance seconds of now (tolerance <= 0:
 * not checked). true when one v1 matches. */
bool webhook_signature_verify(const void *secret, size_t secret_len, const char *header, const void *body,
                              size_t len, long long now, long long tolerance);

/* The event body: {"id":ID,"type":TYPE,"created":CREATED,"data":DATA} as
 * compact JSON (heap, caller frees; data is borrowed). NULL when out of memory
 * or larger than WEBHOOK_BODY_MAX. */
char *webhook_event_body(const char *id, const char *type, long long created, json_t *data);

/* How a host matched EXPORTQ_WEBHOOK_ALLOWED_HOSTS (comma-separated names,
 * IP literals or "*.domain"): WEBHOOK_HOST_NO (not at all), _WILDCARD, _EXACT
 * (named), or _LOOPBACK (the entry is localhost, 127.0.0.1 or ::1 itself).
 * Case-insensitive; a trailing dot of the host is ignored. */
enum { WEBHOOK_HOST_NO = 0, WEBHOOK_HOST_WILDCARD, WEBHOOK_HOST_EXACT, WEBHOOK_HOST_LOOPBACK };
int webhook_host_allowed(const char *host, const char *allowed);

/* Whether a kind's URL may connect to this address, given how its host
 * matched (see the top of this file). */
bool webhook_address_allowed(const struct sockaddr *sa, int match);

/* The outcome of one attempt. */
typedef struct webhook_result {
    int status;    /* the HTTP status, 0 when no response came */
    bool refused;  /* refused before any connection (URL not allowed): do not retry */
} webhook_result;

/* Asked about every second during an attempt: true stops it at once (a
 * second SIGTERM). */
typedef struct webhook_stop {
    bool (*stopped)(void *ud);
    void *ud;
} webhook_stop;

/* One delivery attempt: POST body to url, signed at the current time.
 * trusted: the operator's URL (no host or address checks). Returns 0 when a
 * response came (any status: the caller decides), -1 with err when refused
 * before connecting (res->refused), or on a network error or timeout
 * (retryable). timeout_s bounds the whole attempt (connect at most 5 s);
 * the reply is read up to WEBHOOK_REPLY_MAX bytes, then dropped. stop (may be
 * NULL) cuts an attempt short (retryable error). */
int webhook_post(const char *url, bool trusted, const char *allowed_hosts, const char *secret, const char *body,
                 size_t len, int timeout_s, const webhook_stop *stop, webhook_result *res, eq_err *err) EQ_MUST;

#endif
