/* http_route.h - the API's routing table: (method, path) -> endpoint.
 *
 * Pure functions, no allocation: http_route_match() fills a caller-owned
 * http_route with the endpoint and the path's arguments (job id, kind name).
 * Unknown paths are 404, known paths with another method are 405 and
 * http_route_allow() gives the Allow header for them.
 */
#ifndef EXPORTQ_HTTP_ROUTE_H
#define EXPORTQ_HTTP_ROUTE_H

#include <stdint.h>

#include "export/export_kind.h"

typedef enum http_endpoint {
    HTTP_EP_NONE = 0,
    HTTP_EP_HEALTHZ,         /* /healthz */
    HTTP_EP_METRICS,         /* /metrics */
    HTTP_EP_EXPORTS,         /* /v1/exports */
    HTTP_EP_EXPORT,          /* /v1/exports/{id} */
    HTTP_EP_EXPORT_DOWNLOAD, /* /v1/exports/{id}/download */
    HTTP_EP_EXPORT_RETRY,    /* /v1/exports/{id}/retry */
    HTTP_EP_STREAM,          /* /v1/stream/{kind} */
    HTTP_EP_ADMIN,           /* /admin (the dashboard, or its login form) */
    HTTP_EP_ADMIN_LOGIN,     /* /admin/login */
    HTTP_EP_ADMIN_LOGOUT,    /* /admin/logout */
    HTTP_EP_ADMIN_ACTION,    /* /admin/exports/{id}/{retry|cancel|revoke} (the dashboard's forms) */
    HTTP_EP_ADMIN_EXPORTS,   /* /v1/admin/exports */
    HTTP_EP_ADMIN_EXPORT,    /* /v1/admin/exports/{id} */
    HTTP_EP_ADMIN_RETRY,     /* /v1/admin/exports/{id}/retry */
    HTTP_EP_ADMIN_SUMMARY,   /* /v1/admin/summary */
    HTTP_EP_PAGE,            /* /exports/{id} (the status page) */
    HTTP_EP_PAGE_STATUS,     /* /exports/{id}/status (its JSON, polled) */
    HTTP_EP_PAGE_CANCEL,     /* /exports/{id}/cancel (its cancel form) */
    HTTP_EP_OPENAPI,         /* /v1/openapi.json */
    HTTP_EP_COUNT            /* not an endpoint: how many there are */
} http_endpoint;

typedef enum http_action {
    HTTP_ACT_NONE = 0,
    HTTP_ACT_RETRY,
    HTTP_ACT_CANCEL,
    HTTP_ACT_REVOKE,
} http_action;

typedef enum http_method {
    HTTP_M_OTHER = 0,
    HTTP_M_GET = 1 << 0,
    HTTP_M_HEAD = 1 << 1,
    HTTP_M_POST = 1 << 2,
    HTTP_M_DELETE = 1 << 3,
} http_method;

#define HTTP_KIND_MAX (EXPORT_KIND_NAME_MAX + 1) /* bytes of a kind name, NUL included */

typedef struct http_route {
    http_endpoint endpoint;
    http_method method;
    int64_t job_id;           /* /v1/exports/{id}[/...], the admin and page routes */
    http_action action;       /* HTTP_EP_ADMIN_ACTION */
    char kind[HTTP_KIND_MAX]; /* HTTP_EP_STREAM: the path segment, not yet validated */
} http_route;

http_method http_method_parse(const char *method);

/* Returns 200 when the route matched, 404 for an unknown path (or a job id that
 * is not a positive decimal number, or an over-long kind), 405 for a known path
 * with a method it does not take (out->endpoint is then set for the Allow header). */
int http_route_match(const char *method, const char *path, http_route *out);

/* The Allow header value of an endpoint, e.g. "GET, HEAD, POST". */
const char *http_route_allow(http_endpoint ep);

/* The endpoint's path template ("/v1/exports/{id}"), as in docs/openapi.json;
 * for logs and metrics too. */
const char *http_endpoint_name(http_endpoint ep);

#endif
