/* s3_xml.h - parsing S3 reply bodies with expat (pure; no network).
 *
 * One parse fills an s3_xml_reply with what exportq reads from S3's XML:
 * the root element name (so a 200 whose body is <Error> is seen), the error's
 * Code / Message / RequestId, UploadId (CreateMultipartUpload), ETag
 * (CompleteMultipartUpload, may be empty with radosgw), and for
 * ListMultipartUploads each Upload's Key and UploadId (through a callback)
 * with the pagination markers. Fields are fixed-size: longer text is cut
 * (never overflows). DOCTYPE declarations are refused (no entity expansion).
 */
#ifndef EXPORTQ_WORKER_S3_XML_H
#define EXPORTQ_WORKER_S3_XML_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

typedef void (*s3_xml_upload_cb)(void *ud, const char *key, const char *upload_id);

typedef struct s3_xml_reply {
    char root[64];        /* local name of the root element, "" when the body was empty */
    char code[64];        /* <Error><Code> */
    char message[256];    /* <Error><Message> */
    char request_id[128]; /* <Error><RequestId> */
    char upload_id[512];  /* <UploadId> directly under the root */
    char etag[128];       /* <ETag> directly under the root */
    bool truncated;       /* <IsTruncated>true */
    char next_key_marker[1024];
    char next_upload_id_marker[512];
    unsigned uploads;     /* <Upload> elements seen */
    /* in: optional callback for each <Upload> of ListMultipartUploads */
    s3_xml_upload_cb on_upload;
    void *ud;
} s3_xml_reply;

/* Parses body[0..len). An empty body succeeds with root "". Malformed XML or
 * a DOCTYPE fails with EQ_ERR_S3. The caller sets on_upload/ud before the
 * call (or zeroes the struct); other fields are reset here. */
int s3_xml_parse(const char *body, size_t len, s3_xml_reply *out, eq_err *err) EQ_MUST;

#endif
