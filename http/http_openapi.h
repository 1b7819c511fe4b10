/* http_openapi.h - the OpenAPI 3.1 document of the HTTP API, docs/openapi.json
 * embedded at build time (http/CMakeLists.txt), served at GET
 * /v1/openapi.json. tests/unit/test_http_openapi.c keeps it true: every route
 * and method of http_route.c is in it and nothing else, and its error codes
 * are docs/api.md's. Static data: nothing to free. */
#ifndef EXPORTQ_HTTP_OPENAPI_H
#define EXPORTQ_HTTP_OPENAPI_H

#include <stddef.h>

extern const char http_openapi_json[]; /* NUL-terminated */
extern const size_t http_openapi_json_len; /* bytes, the NUL excluded */

#endif
