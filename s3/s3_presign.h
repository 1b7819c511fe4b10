/* s3_presign.h - the friendly-filename part of presigned links (pure).
 *
 * s3_content_disposition() builds the value given as the
 * response-content-disposition parameter of a presigned GET:
 *   attachment; filename="<safe ASCII fallback>"[; filename*=UTF-8''<RFC 5987>]
 * The fallback keeps printable ASCII except '"', '\\', '/', ';' and '%'
 * (each becomes '_'), turns every non-ASCII character into one '_', and drops
 * control characters; filename* is added when the name is not plain ASCII
 * (valid UTF-8 only). An empty or unusable name becomes "export.csv".
 * The presigned URL itself is made by s3_presign_get() (s3_client.h).
 */
#ifndef EXPORTQ_WORKER_S3_PRESIGN_H
#define EXPORTQ_WORKER_S3_PRESIGN_H

#include "common/buf.h"
#include "common/error.h"

#define S3_FILENAME_MAX 255 /* bytes of the file name that are kept */

int s3_content_disposition(const char *filename, eq_buf *out, eq_err *err) EQ_MUST;

#endif
