/* fuzz_mail_message.c - libFuzzer target for the mail builder (mail_message.c).
 *
 * The input is split (NUL-separated, see fuzz_input.h) into: a flags byte
 * string, kind, file name, URL, recipient, error text. Whatever they hold,
 * a message the builder accepts must be a well-formed RFC 5322 message:
 *  - headers: only CRLF line ends (no bare CR or LF), no 8-bit byte, no other
 *    control character; every line is a continuation (starts with a space) or
 *    one of the headers the builder writes (an injected "Bcc:" is caught);
 *  - body (multipart/alternative, quoted-printable parts): CRLF line ends
 *    only, every line at most 76 characters, printable ASCII only, every '='
 *    a soft break or =XX;
 *  - the success mail's link comes back byte-exact from the decoded text
 *    part, and the failure mail depends on the error text only through its
 *    short code (byte-identical to the mail for a stand-in of the same code).
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
    "Content-Type:", "Auto-Submitted:", NULL,
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

/* Checks the MIME body after the headers (b[0..n)): CRLF line ends only,
 * every line printable 7-bit ASCII of at most 76 characters; inside each
 * part's quoted-printable text, '=' is a soft break or =XX. The first part's
 * (text/plain) decoded text goes to out (size >= n + 1). */
static void check_body(const char *b, size_t n, const char *boundary, char *out)
{
    enum { PREAMBLE, PART_HEADERS, QP } state = PREAMBLE;
    size_t o = 0, blen = strlen(boundary);
    int part = 0;
    out[0] = '\0';
    for (size_t ls = 0; ls < n;) {
        const char *l = b + ls;
        const char *cr = memchr(l, '\r', n - ls);
        size_t len;
        if (!cr || (size_t)(cr - b) + 1 >= n || cr[1] != '\n')
            abort(); /* every line ends with CRLF, bare CR refused */
        len = (size_t)(cr - l);
        if (memchr(l, '\n', len))
            abort(); /* bare LF */
        if (len > 76)
            abort(); /* line longer than 76 */
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)l[i] >= 0x7f || ((unsigned char)l[i] < 0x20 && l[i] != '\t'))
                abort(); /* not 7-bit printable */
        ls += len + 2;
        if (len >= 2 + blen && l[0] == '-' && l[1] == '-' && memcmp(l + 2, boundary, blen) == 0) {
            state = PART_HEADERS;
            part++;
            continue;
        }
        if (state == PART_HEADERS) {
            if (len == 0)
                state = QP;
            continue;
        }
        if (state != QP)
            continue;
        for (size_t i = 0; i < len; i++) {
            if (l[i] == '=') {
                if (i + 1 == len) /* soft break: the line goes on */
                    goto soft;
                if (i + 2 >= len || hexv(l[i + 1]) < 0 || hexv(l[i + 2]) < 0)
                    abort(); /* '=' neither a soft break nor =XX */
                if (part == 1)
                    out[o++] = (char)(hexv(l[i + 1]) * 16 + hexv(l[i + 2]));
                i += 2;
            } else if (part == 1) {
                out[o++] = l[i];
            }
        }
        if (part == 1)
            out[o++] = '\n';
    soft:
        out[o] = '\0';
    }
    if (state != QP && part < 3)
        abort(); /* two parts and the closing boundary */
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
        const char *bnd;
        char boundary[128];
        size_t bn;
        check_headers(out.data, (size_t)(sep - out.data) + 2);
        bnd = strstr(out.data, "\r\nContent-Type: multipart/alternative; boundary=\"");
        if (!bnd || bnd > sep)
            abort();
        bnd += strlen("\r\nContent-Type: multipart/alternative; boundary=\"");
        bn = strcspn(bnd, "\"");
        if (bn == 0 || bn >= sizeof boundary)
            abort();
        memcpy(boundary, bnd, bn);
        boundary[bn] = '\0';
        decoded = malloc(out.len + 1);
        if (!decoded)
            abort();
        check_body(sep + 4, out.len - (size_t)(sep + 4 - out.data), boundary, decoded);
        if (success && !strstr(decoded, url))
            abort(); /* the link does not come back byte-exact */
        free(decoded);
        if (!success) {
            /* the failure mail depends on the error text only through its
             * short code: the same mail as for a stand-in of the same code */
            const char *code = mail_failure_code(error), *stand_in = NULL;
            eq_buf again;
            if (strcmp(code, "worker_lost") == 0)
                stand_in = "lease";
            else if (strcmp(code, "storage_error") == 0)
                stand_in = "S3";
            else if (strcmp(code, "timeout") == 0)
                stand_in = "timeout";
            else if (strcmp(code, "export_failed") == 0)
                stand_in = "x";
            eq_buf_init(&again, MAIL_MESSAGE_MAX);
            if (mail_build_failure(&info, stand_in, "exports@example.com", &again, &err) < 0 ||
                again.len != out.len || memcmp(again.data, out.data, out.len) != 0)
                abort(); /* the error text reached the mail */
            eq_buf_cleanup(&again);
        }
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
