/* fuzz_link.c - link_token_verify() on any bytes: never crashes, accepts
 * only a token that minting the decoded (scope, id, expiry) gives back byte
 * for byte; and a minted token from fuzzed fields always verifies. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/link.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char secret[] = "fuzz-secret-0123456789abcdef-0123456789";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1), again[LINK_TOKEN_MAX];
    int64_t id, exp;
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    for (int scope = LINK_SCOPE_DOWNLOAD; scope <= LINK_SCOPE_STATUS; scope++) {
        if (link_token_verify(secret, sizeof secret - 1, s, (link_scope)scope, &id, &exp) == 0) {
            if (link_token_mint(secret, sizeof secret - 1, (link_scope)scope, id, exp, again) != 0 ||
                strcmp(again, s) != 0)
                abort(); /* a second spelling of a token, or a forgery */
        } else if (id != 0 || exp != 0) {
            abort();
        }
    }
    /* minting fuzzed fields: verifies with its own scope only */
    if (size >= 16) {
        uint64_t a, b;
        char t[LINK_TOKEN_MAX];
        memcpy(&a, data, 8);
        memcpy(&b, data + 8, 8);
        a &= INT64_MAX;
        b &= INT64_MAX;
        if (a >= 1) {
            if (link_token_mint(secret, sizeof secret - 1, LINK_SCOPE_STATUS, (int64_t)a, (int64_t)b, t) != 0 ||
                link_token_verify(secret, sizeof secret - 1, t, LINK_SCOPE_STATUS, &id, &exp) != 0 ||
                (uint64_t)id != a || (uint64_t)exp != b ||
                link_token_verify(secret, sizeof secret - 1, t, LINK_SCOPE_DOWNLOAD, &id, &exp) == 0)
                abort();
        }
    }
    free(s);
    return 0;
}
