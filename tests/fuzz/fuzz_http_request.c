/* fuzz_http_request.c - libFuzzer target for what API clients send.
 *
 * The input is split at its first NUL bytes into: a request path, an
 * Authorization value, an Accept-Encoding value, and a POST body. Properties:
 *  - nothing crashes, leaks or reads out of bounds (ASan/UBSan);
 *  - an accepted body gives a kind that export_kind_name_valid() accepts, an
 *    object of scalar params, and an email (if any) that mail_address_valid() accepts;
 *  - a refused body gives a 400/413 problem whose JSON is valid;
 *  - a matched route's job id is positive and its kind a single path segment;
 *  - a bearer token, when found, is non-empty and made of token characters;
 *  - Content-Disposition, when it fits, is printable ASCII.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_request.h"
#include "mail/mail_message.h"
#include "http/http_route.h"
#include "export/export_kind.h"
#include "tests/fuzz/fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data;
    size_t left = size;
    char *path = fuzz_piece(&p, &left), *authz = fuzz_piece(&p, &left), *ae = fuzz_piece(&p, &left);
    const char *body = (const char *)p;
    http_route r;
    http_export_req req;
    http_problem prob;
    char tok[HTTP_TOKEN_MAX + 1], disp[600];
    int st;

    st = http_route_match("GET", path, &r);
    if (st != 200 && st != 404 && st != 405)
        abort();
    if (st == 200 && (r.endpoint == HTTP_EP_EXPORT || r.endpoint == HTTP_EP_EXPORT_DOWNLOAD) && r.job_id <= 0)
        abort();
    if (st == 200 && r.endpoint == HTTP_EP_STREAM && (!r.kind[0] || strchr(r.kind, '/')))
        abort();

    if (http_bearer_token(authz, tok, sizeof tok) == 0 &&
        (!tok[0] || strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=") !=
                        strlen(tok)))
        abort();
    (void)http_accepts_gzip(ae);

    if (http_export_req_parse(body, left, &req, &prob) == 0) {
        const char *key;
        json_t *v;
        if (!export_kind_name_valid(req.kind) || !json_is_object(req.params))
            abort();
        if (req.email[0] && !mail_address_valid(req.email))
            abort();
        json_object_foreach(req.params, key, v) {
            if (json_is_object(v) || json_is_array(v) || !http_param_name_valid(key))
                abort();
        }
        if (http_params_bind_owner(req.params, "owner-1", &prob) < 0)
            abort();
        http_export_req_cleanup(&req);
    } else {
        char *j = http_problem_json(&prob);
        json_t *doc;
        if ((prob.status != 400 && prob.status != 413) || !j)
            abort();
        doc = json_loads(j, 0, NULL);
        if (!doc)
            abort();
        json_decref(doc);
        free(j);
    }

    if (http_content_disposition(path, disp, sizeof disp) == 0)
        for (const char *c = disp; *c; c++)
            if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
                abort();
    free(path);
    free(authz);
    free(ae);
    return 0;
}
