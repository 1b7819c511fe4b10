/* s3_presign.h - presigned GET links of an s3_client (SigV4 query signing,
 * s3/sigv4.h): the URL a mail or a 302 hands out.
 *
 * The response-content-disposition of a presigned GET follows the one rule of
 * common/disposition.h (the stream's header uses it too). A link signed with
 * temporary credentials cannot outlive them: its life is cut to theirs.
 */
#ifndef EXPORTQ_S3_PRESIGN_H
#define EXPORTQ_S3_PRESIGN_H

#include <time.h>

#include "common/disposition.h"
#include "common/error.h"
#include "s3/s3_client.h"

/* A presigned GET URL for `key`, valid for `expires` seconds (1..604800).
 * When `filename` is not NULL the link carries response-content-disposition
 * "attachment; filename=\"<ASCII fallback>\"; filename*=UTF-8''<RFC 5987>" so
 * the browser saves a friendly name. *url_out is malloc'ed; the caller frees
 * it. The URL is a bearer secret: never log it (eq_redact_url). */
int s3_presign_get(s3_client *c, const char *key, long expires, const char *filename,
                   char **url_out, eq_err *err) EQ_MUST;

/* The same, and *expires_at (may be NULL) says when the link really stops
 * working: a link signed with temporary credentials cannot outlive them, so
 * `expires` is cut to their remaining lifetime. */
int s3_presign_link(s3_client *c, const char *key, long expires, const char *filename, char **url_out,
                    time_t *expires_at, eq_err *err) EQ_MUST;

/* min(want, seconds the current credentials have left), at least 1: how long
 * a link signed now can live. */
long s3_client_link_ttl(s3_client *c, long want);

#endif
