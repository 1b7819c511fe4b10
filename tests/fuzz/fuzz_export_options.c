/* fuzz_export_options.c - libFuzzer target for a kind's options (the jsonb text
 * of exportq.kinds.options, parsed by export_options_parse) and the SMTP URL
 * parser (mail_url_parse, EXPORTQ_SMTP_URL). The input is split at the first
 * NUL: options text, SMTP URL. Properties:
 *  - nothing crashes or reads out of bounds (ASan/UBSan);
 *  - accepted options are in range (gzip level 1..9); a refusal has a message;
 *  - an accepted SMTP URL has a non-empty host, a port 1..65535, NUL-terminated
 *    fields, and no refusal message ever contains the URL's password.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "export/export_kind.h"
#include "mail/mail_send.h"

/* the fixed usage text of mail_url_parse()'s and the config's refusals */
#define SMTP_URL_USAGE "smtp://[user:pass@]host[:port]"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t n = nul ? (size_t)(nul - data) : size;
    char *opts = malloc(n + 1), *url;
    export_options o;
    mail_url mu;
    eq_err err;

    if (!opts)
        abort();
    memcpy(opts, data, n);
    opts[n] = '\0';
    url = strndup(nul ? (const char *)nul + 1 : "", nul ? size - n - 1 : 0);
    if (!url)
        abort();

    if (export_options_parse(opts, &o, &err) == 0) {
        if (o.gzip_level < 1 || o.gzip_level > 9)
            abort();
    } else if (!err.msg[0]) {
        abort();
    }

    for (int tls = EQ_SMTP_TLS_STARTTLS; tls <= EQ_SMTP_TLS_NONE; tls++) {
        memset(&mu, 0, sizeof mu);
        if (mail_url_parse(url, tls, &mu, &err) == 0) {
            if (!mu.host[0] || mu.port < 1 || mu.port > 65535 || !memchr(mu.host, 0, sizeof mu.host) ||
                !memchr(mu.user, 0, sizeof mu.user) || !memchr(mu.pass, 0, sizeof mu.pass))
                abort();
        } else {
            /* the password: between the first ':' after "//" and the last '@' */
            const char *s = strstr(url, "//"), *at = strrchr(url, '@');
            const char *colon = s ? strchr(s + 2, ':') : NULL;
            if (colon && at && colon < at && at - colon > 8) {
                char pw[256];
                size_t m = (size_t)(at - colon - 1);
                if (m < sizeof pw) {
                    memcpy(pw, colon + 1, m);
                    pw[m] = '\0';
                    /* unique in the URL, so only the password can have put it there;
                     * errors quote the host ('host'), which may happen to contain
                     * the same bytes: such a match is the host's, not a leak */
                    char qhost[512], msg[sizeof err.msg];
                    snprintf(qhost, sizeof qhost, "'%s'", at + 1);
                    /* nor is a match inside the fixed usage text every refusal
                     * may carry ("smtp://[user:pass@]host[:port]"): blank it */
                    snprintf(msg, sizeof msg, "%s", err.msg);
                    for (char *u; (u = strstr(msg, SMTP_URL_USAGE));)
                        memset(u, '.', strlen(SMTP_URL_USAGE));
                    if (strstr(msg, pw) && strstr(url, pw) == colon + 1 && !strstr(colon + 2, pw) &&
                        !strstr(qhost, pw))
                        abort();
                }
            }
        }
    }
    free(opts);
    free(url);
    return 0;
}
