/* object_key.c - see object_key.h */
#include "export/object_key.h"

#include <stdio.h>
#include <string.h>

static int safe_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

int object_key_segment(const char *in, const char *fallback, char *out, size_t outsz, eq_err *err)
{
    size_t n = 0, len = in ? strlen(in) : 0;
    if (outsz < 2)
        return eq_fail(err, EQ_ERR_LIMIT, "object key segment: no room");
    out[0] = '\0';
    if (len > OBJECT_KEY_SEGMENT_MAX || len >= outsz)
        return eq_fail(err, EQ_ERR_LIMIT, "object key segment: %zu bytes is more than %zu (refused, not cut)", len,
                       (size_t)OBJECT_KEY_SEGMENT_MAX < outsz - 1 ? (size_t)OBJECT_KEY_SEGMENT_MAX : outsz - 1);
    for (const char *p = in ? in : ""; *p; p++) {
        char c = safe_char(*p) ? *p : '_';
        /* no "..", and no leading dot (hidden files, "." and "..") */
        if (c == '.' && (n == 0 || out[n - 1] == '.'))
            c = '_';
        out[n++] = c;
    }
    out[n] = '\0';
    if (n == 0 && snprintf(out, outsz, "%s", fallback) >= (int)outsz)
        return eq_fail(err, EQ_ERR_LIMIT, "object key segment: fallback too long");
    return 0;
}

int object_key_dir(const char *prefix, const char *owner, long long job_id, const char *token,
                   char *out, size_t outsz, eq_err *err)
{
    char seg[OBJECT_KEY_SEGMENT_MAX + 1];
    int n;
    if (!token || !*token || strspn(token, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != strlen(token))
        return eq_fail(err, EQ_ERR_INVALID, "job %lld: bad object token", job_id);
    if (object_key_segment(owner, "_", seg, sizeof seg, err) < 0)
        return eq_err_context(err, "job %lld: owner", job_id);
    n = snprintf(out, outsz, "%s%s/%lld-%s/", prefix ? prefix : "", seg, job_id, token);
    if (n < 0 || (size_t)n >= outsz || (size_t)n > OBJECT_KEY_MAX)
        return eq_fail(err, EQ_ERR_LIMIT, "job %lld: object key too long (check EXPORTQ_S3_PREFIX)", job_id);
    return 0;
}

int object_key_build(const char *prefix, const char *owner, long long job_id, const char *token,
                     const char *filename, char *out, size_t outsz, eq_err *err)
{
    char seg[OBJECT_KEY_SEGMENT_MAX + 1];
    size_t n;
    if (object_key_dir(prefix, owner, job_id, token, out, outsz, err) < 0)
        return -1;
    if (object_key_segment(filename, "export.csv", seg, sizeof seg, err) < 0)
        return eq_err_context(err, "job %lld: file name", job_id);
    n = strlen(out);
    if (n + strlen(seg) >= outsz || n + strlen(seg) > OBJECT_KEY_MAX)
        return eq_fail(err, EQ_ERR_LIMIT, "job %lld: object key too long (check EXPORTQ_S3_PREFIX)", job_id);
    memcpy(out + n, seg, strlen(seg) + 1);
    return 0;
}

const char *object_key_basename(const char *key)
{
    const char *slash;
    if (!key)
        return "";
    slash = strrchr(key, '/');
    return slash ? slash + 1 : key;
}
