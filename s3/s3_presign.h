/* s3_presign.h - the friendly-filename part of presigned links.
 *
 * The response-content-disposition of a presigned GET follows the one rule of
 * common/disposition.h (the stream's header uses it too). The presigned URL
 * itself is made by s3_presign_get() (s3_client.h).
 */
#ifndef EXPORTQ_WORKER_S3_PRESIGN_H
#define EXPORTQ_WORKER_S3_PRESIGN_H

#include "common/disposition.h"

#endif
