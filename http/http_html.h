/* http_html.h - pure helpers of the HTML pages (http_pages.c, http_admin.c):
 * HTML escaping, form bodies, cookies, human-readable sizes and durations,
 * the CSP hash of an inline block, and HMAC tokens compared in constant time.
 *
 * Nothing here touches a socket or a database; unit-tested in
 * tests/unit/test_http_html.c. Appending functions write into a caller-owned
 * eq_buf (bounded by its max) and fail with EQ_ERR_NOMEM when it is full.
 */
#ifndef EXPORTQ_HTTP_HTML_H
#define EXPORTQ_HTTP_HTML_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/error.h"

#define HTTP_HTML_MAX (256 * 1024) /* bytes of one rendered page at most */
#define HTTP_MAC_HEX 65            /* HMAC-SHA256 as hex + NUL */
#define HTTP_CSP_HASH_MAX 64       /* "'sha256-" + 44 base64 + "'" + NUL fits */

/* Appends s with & < > " ' escaped (text and quoted attribute values alike).
 * Bytes that are not valid UTF-8 and control characters other than tab and
 * newline become U+FFFD, so the page stays well-formed whatever s holds. */
int http_html_escape(eq_buf *b, const char *s, eq_err *err) EQ_MUST;
/* The same into out[outsz] (always NUL-terminated); -1 when it did not fit. */
int http_html_escape_to(const char *s, char *out, size_t outsz) EQ_MUST;

/* printf into b, then HTML-escaped: the value of %s etc. is escaped. */
int http_html_printf(eq_buf *b, eq_err *err, const char *fmt, ...) EQ_PRINTF(3, 4) EQ_MUST;

/* The value of field `name` of an application/x-www-form-urlencoded body
 * (%XX and '+' decoded) into out[outsz]. -1 when absent, malformed (bad %XX,
 * a NUL byte) or too long for out. The first occurrence wins. */
int http_form_get(const char *body, size_t len, const char *name, char *out, size_t outsz) EQ_MUST;

/* The value of cookie `name` in a Cookie header into out[outsz]; -1 when
 * absent or too long. */
int http_cookie_get(const char *header, const char *name, char *out, size_t outsz) EQ_MUST;

/* "0 B", "512 B", "1.5 KB", "12.3 MB", "4.0 GB" (powers of 1000, as disks say). */
void http_human_bytes(long long bytes, char *out, size_t outsz);
/* "1,234,567" (thousands separated by commas). */
void http_human_count(long long n, char *out, size_t outsz);
/* "less than a minute", "about 3 minutes", "about 2 hours", "about 3 days". */
void http_human_duration(long long seconds, char *out, size_t outsz);

/* The CSP source of an inline <script> or <style> whose text is `text`:
 * 'sha256-BASE64' into out[HTTP_CSP_HASH_MAX]. */
void http_csp_hash(const char *text, char out[HTTP_CSP_HASH_MAX]);

/* HMAC-SHA256(key, a | 0x1f | b) as lowercase hex into out[HTTP_MAC_HEX]. */
void http_mac_hex(const char *key, size_t keylen, const char *a, const char *b, char out[HTTP_MAC_HEX]);
/* Equality of two NUL-terminated secrets: their SHA-256 digests are compared
 * with CRYPTO_memcmp, so the time says nothing about their bytes. */
bool http_secret_equal(const char *a, const char *b);

#endif
