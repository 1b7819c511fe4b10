/* fuzz_mail_message.c - libFuzzer target for the mail builder (mail_message.c).
 *
 * The input is split (NUL-separated, see fuzz_input.h) into: a flags byte
 * string, kind, file name, URL, recipient, error text. Whatever they hold,
 * a message the builder accepts must be a well-formed RFC 5322 message:
 *  - headers: only CRLF line ends (no bare CR or LF), no 8-bit byte, no other
 *    control character; every line is a continuation (starts with a space) or
 *    one of the headers the builder writes (an injected "Bcc:" is caught);
 *  - body (quoted-printable): CRLF line ends only, every line at most 76
 *    characters, printable ASCII only;
 *  - the success mail's link comes back byte-exact from the decoded body, and
 *    the failure mail never carries the error text (only a short code).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "mail/mail_message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const known_headers[] = {
    "Date:", "Message-ID:", "From:", "To:", "Subject:", "MIME-Version:",
    "Content-Type:", "Content-Transfer-Encoding:", "Auto-Submitted:", NULL,
};

static void check_headers(const char *h, size_t n)
{
    size_t line = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)h[i];
        if (c >= 0x80)
            abort(); /* 8-bit byte in a header */
        if (c == '\r' && (i + 1 >= n || h[i + 1] != '\n'))
            abort(); /* bare CR */
        if (c == '\n' && (i == 0 || h[i - 1] != '\r'))
            abort(); /* bare LF */
        if (c < 0x20 && c != '\r' && c != '\n' && c != '\t')
            abort();
        if (c == '\n' || i + 1 == n) {
            /* the line [line, i) */
            if (h[line] != ' ' && h[line] != '\t') {
                bool ok = false;
                for (int k = 0; known_headers[k]; k++)
                    if (strncmp(h + line, known_headers[k], strlen(known_headers[k])) == 0)
                        ok = true;
                if (!ok)
                    abort(); /* a header the builder does not write: injected */
            }
            line = i + 1;
        }
    }
}

static int hexv(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Checks the quoted-printable body and decodes it into out (size >= n + 1). */
static void check_body(const char *b, size_t n, char *out)
{
    size_t col = 0, o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)b[i];
        if (c == '\r') {
            if (i + 1 >= n || b[i + 1] != '\n')
                abort(); /* bare CR */
            continue;
        }
        if (c == '\n') {
            if (i == 0 || b[i - 1] != '\r')
                abort(); /* bare LF */
            col = 0;
            out[o++] = '\n';
            continue;
        }
        if (c >= 0x7f || (c < 0x20 && c != '\t'))
            abort(); /* not 7-bit printable */
        if (++col > 76)
            abort(); /* quoted-printable line longer than 76 */
        if (c == '=') {
            if (i + 2 < n && b[i + 1] == '\r' && b[i + 2] == '\n') { /* soft break */
                i += 2;
                col = 0;
                continue;
            }
            if (i + 2 >= n || hexv(b[i + 1]) < 0 || hexv(b[i + 2]) < 0)
                abort(); /* '=' neither a soft break nor =XX */
            out[o++] = (char)(hexv(b[i + 1]) * 16 + hexv(b[i + 2]));
            i += 2;
            col += 2;
            if (col > 76)
                abort();
            continue;
        }
        out[o++] = (char)c;
    }
    out[o] = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data;
    size_t left = size;
    char *flags = fuzz_piece(&p, &left), *kind = fuzz_piece(&p, &left), *file = fuzz_piece(&p, &left),
         *url = fuzz_piece(&p, &left), *to = fuzz_piece(&p, &left), *error = fuzz_piece(&p, &left);
    bool success = flags[0] & 1;
    mail_export_info info = {
        .job_id = 1 + (flags[0] ? (unsigned char)flags[1] : 0),
        .kind = kind,
        .filename = (flags[0] & 2) ? NULL : file,
        .rows = (long long)strlen(error) * 1000003,
        .bytes = (long long)strlen(url) << 20,
        .url = url,
        .link_expires_at = 1700000000,
        .to = to[0] ? to : "someone@example.com",
        .date = 1700000000,
    };
    eq_buf out;
    eq_err err;
    int rc;
    eq_buf_init(&out, MAIL_MESSAGE_MAX);
    rc = success ? mail_build_success(&info, "exports@example.com", &out, &err)
                 : mail_build_failure(&info, error, "exports@example.com", &out, &err);
    if (rc == 0) {
        const char *sep = out.data ? memmem(out.data, out.len, "\r\n\r\n", 4) : NULL;
        char *decoded;
        if (!sep)
            abort(); /* no end of headers */
        check_headers(out.data, (size_t)(sep - out.data) + 2);
        decoded = malloc(out.len + 1);
        if (!decoded)
            abort();
        check_body(sep + 4, out.len - (size_t)(sep + 4 - out.data), decoded);
        if (success && !strstr(decoded, url))
            abort(); /* the link does not come back byte-exact */
        if (!success && strlen(error) >= 8 && strstr(decoded, error))
            abort(); /* the failure mail quotes the error text */
        free(decoded);
    }
    eq_buf_cleanup(&out);
    free(flags);
    free(kind);
    free(file);
    free(url);
    free(to);
    free(error);
    return 0;
}
