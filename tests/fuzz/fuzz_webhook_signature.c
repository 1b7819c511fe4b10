/* fuzz_webhook_signature.c - the Exportq-Signature and the allowed-hosts match
 * on arbitrary secrets, times, bodies, headers and host lists. Properties:
 *  - webhook_signature() writes exactly "t=T,v1=" + 64 lowercase hex digits,
 *    and the hex is HMAC-SHA256(secret, "T." + body) as OpenSSL's one-shot
 *    HMAC() computes it over the concatenated message (an independent path);
 *  - webhook_signature_verify() accepts that header for that body, and
 *    refuses it when one byte of the body or the time changes;
 *  - verify() of an arbitrary header never crashes, and accepts only a header
 *    that holds the right v1 for some t;
 *  - webhook_host_allowed() returns one of its four values, EXACT/LOOPBACK
 *    only when an entry of the list equals the host (case-insensitively). */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz_input.h"
#include "webhook/webhook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_signature(const char *secret, size_t slen, long long t, const uint8_t *body, size_t blen)
{
    char sig[WEBHOOK_SIG_MAX], want[WEBHOOK_SIG_MAX], prefix[32];
    unsigned char mac[EVP_MAX_MD_SIZE], *msg;
    unsigned int maclen = 0;
    int plen = snprintf(prefix, sizeof prefix, "%lld.", t);
    static const unsigned char zero[1] = {0};

    if (webhook_signature(secret, slen, t, body, blen, sig, sizeof sig) != 0)
        abort();
    msg = malloc((size_t)plen + blen + 1);
    if (!msg)
        abort();
    memcpy(msg, prefix, (size_t)plen);
    if (blen)
        memcpy(msg + plen, body, blen);
    if (!HMAC(EVP_sha256(), slen ? (const void *)secret : zero, (int)slen, msg, (size_t)plen + blen, mac, &maclen) ||
        maclen != 32)
        abort();
    free(msg);
    {
        int n = snprintf(want, sizeof want, "t=%lld,v1=", t);
        for (unsigned i = 0; i < 32; i++)
            n += snprintf(want + n, sizeof want - (size_t)n, "%02x", mac[i]);
    }
    if (strcmp(sig, want) != 0)
        abort();
    if (!webhook_signature_verify(secret, slen, sig, body, blen, t, 0))
        abort();
    if (blen) { /* one changed byte of the body */
        uint8_t *copy = malloc(blen);
        if (!copy)
            abort();
        memcpy(copy, body, blen);
        copy[blen / 2] ^= 0x01;
        if (webhook_signature_verify(secret, slen, sig, copy, blen, t, 0))
            abort();
        free(copy);
    }
    if (t < 1000000000000LL) { /* another time, same v1 */
        char other[2 * WEBHOOK_SIG_MAX];
        snprintf(other, sizeof other, "t=%lld,%s", t + 1, strstr(sig, "v1="));
        if (webhook_signature_verify(secret, slen, other, body, blen, t + 1, 0))
            abort();
    }
}

static void check_hosts(const char *host, const char *list)
{
    int m = webhook_host_allowed(host, list);
    size_t hl = strlen(host);
    if (m < WEBHOOK_HOST_NO || m > WEBHOOK_HOST_LOOPBACK)
        abort();
    if (hl > 1 && host[hl - 1] == '.')
        hl--;
    if (m >= WEBHOOK_HOST_EXACT) { /* an entry equal to the host must exist */
        const char *p = list;
        int found = 0;
        while (*p && !found) {
            size_t n;
            while (*p == ' ' || *p == ',')
                p++;
            n = strcspn(p, ", ");
            found = n == hl && n && strncasecmp(p, host, n) == 0;
            p += n;
        }
        if (!found)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data;
    size_t left = size;
    long long t;
    char *secret, *header, *host, *list;
    if (size < 8)
        return 0;
    memcpy(&t, p, 8);
    p += 8;
    left -= 8;
    if (t < 0)
        t = -(t + 1);
    t %= 100000000000LL;
    secret = fuzz_piece(&p, &left);
    header = fuzz_piece(&p, &left);
    host = fuzz_piece(&p, &left);
    list = fuzz_piece(&p, &left);
    /* the rest is the body, NULs included */
    check_signature(secret, strlen(secret), t, p, left);
    (void)webhook_signature_verify(secret, strlen(secret), header, p, left, t, 300);
    check_hosts(host, list);
    free(secret);
    free(header);
    free(host);
    free(list);
    return 0;
}
