/* http_route.c - see http_route.h */
#include "http/http_route.h"

#include <string.h>

#include "common/id.h"

typedef struct route_def {
    http_endpoint ep;
    unsigned methods;
    const char *allow;
    const char *name;
} route_def;

static const route_def defs[] = {
    {HTTP_EP_NONE, 0, "", "unknown"},
    {HTTP_EP_HEALTHZ, HTTP_M_GET | HTTP_M_HEAD, "GET, HEAD", "/healthz"},
    {HTTP_EP_METRICS, HTTP_M_GET | HTTP_M_HEAD, "GET, HEAD", "/metrics"},
    {HTTP_EP_EXPORTS, HTTP_M_GET | HTTP_M_HEAD | HTTP_M_POST, "GET, HEAD, POST", "/v1/exports"},
    {HTTP_EP_EXPORT, HTTP_M_GET | HTTP_M_HEAD | HTTP_M_DELETE, "GET, HEAD, DELETE", "/v1/exports/{id}"},
    {HTTP_EP_EXPORT_DOWNLOAD, HTTP_M_GET | HTTP_M_HEAD, "GET, HEAD", "/v1/exports/{id}/download"},
    {HTTP_EP_EXPORT_RETRY, HTTP_M_POST, "POST", "/v1/exports/{id}/retry"},
    {HTTP_EP_STREAM, HTTP_M_GET, "GET", "/v1/stream/{kind}"},
    {HTTP_EP_ADMIN, HTTP_M_GET | HTTP_M_HEAD, "GET, HEAD", "/admin"},
    {HTTP_EP_ADMIN_LOGIN, HTTP_M_POST, "POST", "/admin/login"},
    {HTTP_EP_ADMIN_LOGOUT, HTTP_M_POST, "POST", "/admin/logout"},
    {HTTP_EP_ADMIN_ACTION, HTTP_M_POST, "POST", "/admin/exports/{id}/{action}"},
    {HTTP_EP_ADMIN_EXPORTS, HTTP_M_GET | HTTP_M_HEAD, "GET, HEAD", "/v1/admin/exports"},
    {HTTP_EP_ADMIN_EXPORT, HTTP_M_GET | HTTP_M_HEAD | HTTP_M_DELETE, "GET, HEAD, DELETE", "/v1/admin/exports/{id}"},
    {HTTP_EP_ADMIN_RETRY, HTTP_M_POST, "POST", "/v1/admin/exports/{id}/retry"},
    {HTTP_EP_ADMIN_SUMMARY, HTTP_M_GET | HTTP_M_HEAD, "GET, HEAD", "/v1/admin/summary"},
    {HTTP_EP_PAGE, HTTP_M_GET | HTTP_M_HEAD, "GET, HEAD", "/exports/{id}"},
    {HTTP_EP_PAGE_STATUS, HTTP_M_GET | HTTP_M_HEAD, "GET, HEAD", "/exports/{id}/status"},
    {HTTP_EP_PAGE_CANCEL, HTTP_M_POST, "POST", "/exports/{id}/cancel"},
    {HTTP_EP_OPENAPI, HTTP_M_GET | HTTP_M_HEAD, "GET, HEAD", "/v1/openapi.json"},
};
_Static_assert(sizeof defs / sizeof defs[0] == HTTP_EP_COUNT, "one route_def per endpoint, in enum order");

static int finish(const char *method, http_endpoint ep, http_route *out);

/* "{id}" or "{id}/rest" after a prefix: the job id into out->job_id and the
 * rest (after the slash, "" when none) into *rest. -1 when not a job id. */
static int id_segment(const char *p, http_route *out, const char **rest)
{
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    long long id;
    if (eq_id_parse(p, n, &id) < 0)
        return -1;
    out->job_id = id;
    *rest = slash ? slash + 1 : NULL;
    return 0;
}

/* /admin..., /v1/admin... and /exports/...: the pages and the admin API. */
static int match_pages(const char *method, const char *path, http_route *out)
{
    const char *rest = NULL;
    if (strcmp(path, "/admin") == 0 || strcmp(path, "/admin/") == 0)
        return finish(method, HTTP_EP_ADMIN, out);
    if (strcmp(path, "/admin/login") == 0)
        return finish(method, HTTP_EP_ADMIN_LOGIN, out);
    if (strcmp(path, "/admin/logout") == 0)
        return finish(method, HTTP_EP_ADMIN_LOGOUT, out);
    if (strncmp(path, "/admin/exports/", 15) == 0) {
        if (id_segment(path + 15, out, &rest) < 0 || !rest)
            return 404;
        if (strcmp(rest, "retry") == 0)
            out->action = HTTP_ACT_RETRY;
        else if (strcmp(rest, "cancel") == 0)
            out->action = HTTP_ACT_CANCEL;
        else if (strcmp(rest, "revoke") == 0)
            out->action = HTTP_ACT_REVOKE;
        else
            return 404;
        return finish(method, HTTP_EP_ADMIN_ACTION, out);
    }
    if (strcmp(path, "/v1/admin/exports") == 0)
        return finish(method, HTTP_EP_ADMIN_EXPORTS, out);
    if (strcmp(path, "/v1/admin/summary") == 0)
        return finish(method, HTTP_EP_ADMIN_SUMMARY, out);
    if (strncmp(path, "/v1/admin/exports/", 18) == 0) {
        if (id_segment(path + 18, out, &rest) < 0)
            return 404;
        if (!rest)
            return finish(method, HTTP_EP_ADMIN_EXPORT, out);
        if (strcmp(rest, "retry") == 0)
            return finish(method, HTTP_EP_ADMIN_RETRY, out);
        return 404;
    }
    if (strncmp(path, "/exports/", 9) == 0) {
        if (id_segment(path + 9, out, &rest) < 0)
            return 404;
        if (!rest)
            return finish(method, HTTP_EP_PAGE, out);
        if (strcmp(rest, "status") == 0)
            return finish(method, HTTP_EP_PAGE_STATUS, out);
        if (strcmp(rest, "cancel") == 0)
            return finish(method, HTTP_EP_PAGE_CANCEL, out);
        return 404;
    }
    return 404;
}

http_method http_method_parse(const char *method)
{
    if (!method)
        return HTTP_M_OTHER;
    if (strcmp(method, "GET") == 0)
        return HTTP_M_GET;
    if (strcmp(method, "HEAD") == 0)
        return HTTP_M_HEAD;
    if (strcmp(method, "POST") == 0)
        return HTTP_M_POST;
    if (strcmp(method, "DELETE") == 0)
        return HTTP_M_DELETE;
    return HTTP_M_OTHER;
}

static int finish(const char *method, http_endpoint ep, http_route *out)
{
    out->endpoint = ep;
    out->method = http_method_parse(method);
    if (!(defs[ep].methods & (unsigned)out->method))
        return 405;
    return 200;
}

int http_route_match(const char *method, const char *path, http_route *out)
{
    static const char exports[] = "/v1/exports";
    static const char stream[] = "/v1/stream/";
    memset(out, 0, sizeof *out);
    if (!path)
        return 404;
    if (strcmp(path, "/healthz") == 0)
        return finish(method, HTTP_EP_HEALTHZ, out);
    if (strcmp(path, "/metrics") == 0)
        return finish(method, HTTP_EP_METRICS, out);
    if (strcmp(path, "/v1/openapi.json") == 0)
        return finish(method, HTTP_EP_OPENAPI, out);
    if (strncmp(path, exports, sizeof exports - 1) == 0) {
        const char *rest = path + sizeof exports - 1;
        const char *slash;
        long long id;
        size_t n;
        if (*rest == '\0' || strcmp(rest, "/") == 0)
            return finish(method, HTTP_EP_EXPORTS, out);
        if (*rest != '/')
            return 404;
        rest++;
        slash = strchr(rest, '/');
        n = slash ? (size_t)(slash - rest) : strlen(rest);
        if (eq_id_parse(rest, n, &id) < 0)
            return 404;
        out->job_id = id;
        if (!slash)
            return finish(method, HTTP_EP_EXPORT, out);
        if (strcmp(slash, "/download") == 0)
            return finish(method, HTTP_EP_EXPORT_DOWNLOAD, out);
        if (strcmp(slash, "/retry") == 0)
            return finish(method, HTTP_EP_EXPORT_RETRY, out);
        return 404;
    }
    if (strncmp(path, stream, sizeof stream - 1) == 0) {
        const char *kind = path + sizeof stream - 1;
        size_t n = strlen(kind);
        if (n == 0 || n >= sizeof out->kind || strchr(kind, '/'))
            return 404;
        memcpy(out->kind, kind, n + 1);
        return finish(method, HTTP_EP_STREAM, out);
    }
    return match_pages(method, path, out);
}

const char *http_route_allow(http_endpoint ep)
{
    if ((size_t)ep >= sizeof defs / sizeof defs[0])
        return "";
    return defs[ep].allow;
}

const char *http_endpoint_name(http_endpoint ep)
{
    if ((size_t)ep >= sizeof defs / sizeof defs[0])
        return "unknown";
    return defs[ep].name;
}
