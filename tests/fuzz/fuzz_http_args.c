/* fuzz_http_args.c - libFuzzer target for the small parsers of what API
 * clients send that fuzz_http_request.c does not reach: ?limit=/?cursor=
 * (http_list_args_parse), Idempotency-Key, the HTTP method, and the name and
 * address validators (kind, parameter, email; the mail module's own address
 * check). The input is split at NUL bytes into: limit, cursor, key, method,
 * name, address. Properties:
 *  - nothing crashes or reads out of bounds (ASan/UBSan);
 *  - accepted list arguments are in range (1..HTTP_LIST_MAX, cursor >= 0);
 *    a refusal is a 400 with a code;
 *  - an accepted Idempotency-Key is 1..255 bytes of visible ASCII;
 *  - an accepted kind name is 1..64 bytes of [A-Za-z0-9_.-]; a parameter name
 *    1..64 of [A-Za-z0-9_]; an accepted address has one '@', no CR/LF, space,
 *    comma, quote or angle bracket (no header injection) and, when ASCII, the
 *    mail module accepts it too.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_request.h"
#include "http/http_route.h"
#include "export/export_kind.h"
#include "tests/fuzz/fuzz_input.h"
#include "mail/mail_message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int only(const char *s, const char *set)
{
    return strspn(s, set) == strlen(s);
}

#define ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data;
    size_t left = size;
    char *limit = fuzz_piece(&p, &left), *cursor = fuzz_piece(&p, &left), *key = fuzz_piece(&p, &left);
    char *method = fuzz_piece(&p, &left), *name = fuzz_piece(&p, &left), *addr = fuzz_piece(&p, &left);
    http_problem prob;
    int lim = 0;
    int64_t cur = -1;

    /* an empty piece stands for an absent argument */
    if (http_list_args_parse(limit[0] ? limit : NULL, cursor[0] ? cursor : NULL, &lim, &cur, &prob) == 0) {
        if (lim < 1 || lim > HTTP_LIST_MAX || cur < 0)
            abort();
    } else if (prob.status != 400 || !prob.code[0]) {
        abort();
    }

    if (http_idempotency_key_valid(key)) {
        size_t n = strlen(key);
        if (n < 1 || n > 255)
            abort();
        for (const char *c = key; *c; c++)
            if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
                abort();
    }

    (void)http_method_parse(method);

    if (export_kind_name_valid(name) &&
        (!name[0] || strlen(name) > EXPORT_KIND_NAME_MAX || !only(name, ALNUM "_.-")))
        abort();
    if (http_kind_name_valid(name) != export_kind_name_valid(name))
        abort();
    if (http_param_name_valid(name) && (!name[0] || strlen(name) > HTTP_PARAM_NAME_MAX || !only(name, ALNUM "_")))
        abort();

    if (mail_address_valid(addr)) {
        const char *at = strchr(addr, '@');
        if (!at || strchr(at + 1, '@') || strpbrk(addr, "\r\n ,\"<>") || strlen(addr) > MAIL_ADDRESS_MAX)
            abort();
    }
    free(limit);
    free(cursor);
    free(key);
    free(method);
    free(name);
    free(addr);
    return 0;
}
