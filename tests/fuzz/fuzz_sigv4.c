/* fuzz_sigv4.c - the SigV4 canonical query, the signer and Content-Disposition
 * on arbitrary names and values. Properties:
 *  - the canonical query is exactly the input pairs: each name and value
 *    percent-encoded with S3's unreserved set (upper-case hex), written
 *    "name=value", sorted by encoded name then value, joined with '&';
 *  - the signer accepts them, puts that same canonical query on the third line
 *    of its canonical request, and answers a well-formed Authorization with a
 *    64-hex signature that is the same on a second call and changes with the
 *    secret;
 *  - Content-Disposition starts with attachment; filename=" and holds no
 *    control byte (a header injection). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "s3/s3_presign.h"
#include "s3/sigv4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NQ 8

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.' || c == '~';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1; /* lower-case hex is not canonical */
}

/* Decodes the canonical encoding of s[0..n) into out (room for n + 1); aborts
 * on anything S3 would not write: a reserved byte left raw, bad escapes. */
static size_t decode(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi, lo;
            if (i + 2 >= n)
                abort();
            hi = hexval(s[i + 1]);
            lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                abort();
            out[o] = (char)(hi * 16 + lo);
            if (unreserved((unsigned char)out[o]))
                abort(); /* an unreserved byte must stay raw */
            o++;
            i += 2;
        } else if (unreserved((unsigned char)s[i])) {
            out[o++] = s[i];
        } else {
            abort();
        }
    }
    out[o] = '\0';
    return o;
}

static int span_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

static void check_canonical(const sigv4_kv *q, size_t n, const char *cq, size_t len)
{
    int used[NQ] = {0};
    size_t pairs = 0, pn = 0, pv = 0;
    const char *p = cq, *end = cq + len, *prevn = NULL, *prevv = NULL;
    char *name = malloc(len + 1), *value = malloc(len + 1);
    if (!name || !value)
        abort();
    while (len > 0) { /* every '&' separates two pairs: an empty pair aborts */
        const char *amp = memchr(p, '&', (size_t)(end - p)), *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        size_t k, nn, vn;
        if (!eq)
            abort(); /* every pair is name=value, "name=" without one */
        nn = (size_t)(eq - p);
        vn = (size_t)(stop - eq - 1);
        decode(p, nn, name);
        decode(eq + 1, vn, value);
        if (prevn) { /* sorted by encoded name, then encoded value */
            int c = span_cmp(prevn, pn, p, nn);
            if (c > 0 || (c == 0 && span_cmp(prevv, pv, eq + 1, vn) > 0))
                abort();
        }
        prevn = p;
        pn = nn;
        prevv = eq + 1;
        pv = vn;
        for (k = 0; k < n; k++)
            if (!used[k] && strcmp(q[k].name, name) == 0 && strcmp(q[k].value ? q[k].value : "", value) == 0)
                break;
        if (k == n)
            abort(); /* a pair that was not in the input */
        used[k] = 1;
        pairs++;
        if (!amp)
            break;
        p = amp + 1;
    }
    if (pairs != n)
        abort();
    free(name);
    free(value);
}

static int sign(const sigv4_kv *q, size_t n, const char *secret, char *auth, size_t authsz, eq_buf *canon)
{
    static const sigv4_kv headers[] = {{"host", "127.0.0.1:7480"},
                                       {"x-amz-content-sha256", SIGV4_EMPTY_SHA256},
                                       {"x-amz-date", "20261124T235959Z"}};
    sigv4_request r = {.method = "GET",
                       .uri = "/bucket/key.csv",
                       .query = q,
                       .nquery = n,
                       .headers = headers,
                       .nheaders = 3,
                       .payload_hash = SIGV4_EMPTY_SHA256,
                       .region = "us-east-1",
                       .service = "s3",
                       .amz_date = "20261124T235959Z"};
    sigv4_creds cr = {.access_key = "AKIDEXAMPLE", .secret_key = secret, .session_token = NULL};
    eq_err err;
    return sigv4_authorization(&r, &cr, auth, authsz, canon, &err);
}

static void check_signer(const sigv4_kv *q, size_t n, const eq_buf *cq)
{
    char a1[512], a2[512], a3[512];
    eq_buf canon;
    const char *line, *sig;
    eq_buf_init(&canon, 1 << 22);
    if (sign(q, n, "secret-one", a1, sizeof a1, &canon) != 0)
        abort();
    /* GET \n /bucket/key.csv \n <canonical query> \n ... */
    line = memchr(canon.data, '\n', canon.len);
    line = line ? memchr(line + 1, '\n', canon.len - (size_t)(line + 1 - canon.data)) : NULL;
    if (!line || canon.len - (size_t)(line + 1 - canon.data) < cq->len + 1 ||
        (cq->len && memcmp(line + 1, cq->data, cq->len) != 0) || line[1 + cq->len] != '\n')
        abort();
    {
        static const char want[] =
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261124/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=";
        if (strncmp(a1, want, sizeof want - 1) != 0)
            abort();
    }
    sig = strstr(a1, ", Signature=");
    if (!sig || strlen(sig + 12) != 64 || strspn(sig + 12, "0123456789abcdef") != 64)
        abort();
    eq_buf_cleanup(&canon);
    if (sign(q, n, "secret-one", a2, sizeof a2, NULL) != 0 || strcmp(a1, a2) != 0)
        abort();
    if (sign(q, n, "secret-two", a3, sizeof a3, NULL) != 0 || strcmp(a1, a3) == 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    sigv4_kv q[NQ];
    size_t n = 0;
    char *p;
    eq_buf b;
    eq_err err;
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    /* "name=value\nname=value...": the values may hold '=' but never NUL */
    for (p = s; p && *p && n < NQ;) {
        char *nl = strchr(p, '\n'), *eq;
        if (nl)
            *nl = '\0';
        eq = strchr(p, '=');
        if (eq)
            *eq = '\0';
        q[n].name = p;
        q[n].value = eq ? eq + 1 : NULL;
        n++;
        p = nl ? nl + 1 : NULL;
    }
    eq_buf_init(&b, 1 << 20);
    if (sigv4_canonical_query(q, n, &b, &err) == 0) {
        check_canonical(q, n, b.data ? b.data : "", b.len);
        check_signer(q, n, &b);
    }
    eq_buf_cleanup(&b);
    eq_buf_init(&b, 1 << 20);
    if (eq_content_disposition(s, &b, &err) == 0) {
        if (b.len < 22 || strncmp(b.data, "attachment; filename=\"", 22) != 0)
            abort();
        for (size_t i = 0; i < b.len; i++)
            if ((unsigned char)b.data[i] < 0x20 || b.data[i] == 0x7f)
                abort();
    }
    eq_buf_cleanup(&b);
    free(s);
    return 0;
}
