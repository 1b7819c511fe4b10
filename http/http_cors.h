/* http_cors.h - CORS for the browser pages of EXPORTQ_CORS_ORIGINS (exact
 * origins, none by default). Pure: the server (http_server.c) adds the
 * headers these choose.
 *
 * A listed Origin gets Access-Control-Allow-Origin with that origin (never
 * "*", never Access-Control-Allow-Credentials: the API takes bearer tokens,
 * not cookies) and Access-Control-Expose-Headers; a preflight (OPTIONS with
 * Access-Control-Request-Method) on a known path is 204 with the path's
 * methods and the request headers the API reads. An unlisted Origin gets no
 * CORS header at all. Every response carries Vary: Origin once origins are
 * configured, so caches keep the answers apart.
 */
#ifndef EXPORTQ_HTTP_CORS_H
#define EXPORTQ_HTTP_CORS_H

#include <stdbool.h>

#define HTTP_CORS_ALLOW_HEADERS "Authorization, Content-Type, Idempotency-Key, Prefer"
#define HTTP_CORS_EXPOSE_HEADERS "Location, Retry-After, Content-Disposition, Preference-Applied"
#define HTTP_CORS_MAX_AGE "600"

/* True when `origin` is one of the comma-separated exact origins of `list`
 * (byte for byte; NULL list or origin: false). */
bool http_cors_origin_allowed(const char *list, const char *origin);

#endif
