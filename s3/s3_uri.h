/* s3_uri.h - percent-encoding as SigV4 and S3 want it (RFC 3986 unreserved
 * characters kept, everything else %XX with upper-case hex, each byte once).
 *
 * Pure functions, no allocation beyond the caller's eq_buf (bounded by its max).
 */
#ifndef EXPORTQ_WORKER_S3_URI_H
#define EXPORTQ_WORKER_S3_URI_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/error.h"

/* Appends the encoding of s[0..n) to out. keep_slash: '/' is left as is (object
 * keys in a path: each segment encoded once, the path never normalised);
 * otherwise it becomes %2F (query names and values). */
int s3_uri_encode(eq_buf *out, const char *s, size_t n, bool keep_slash, eq_err *err) EQ_MUST;

/* True for A-Z a-z 0-9 - . _ ~ */
bool s3_uri_unreserved(unsigned char c);

#endif
