/* disposition.h - the one Content-Disposition rule (RFC 6266), used by the
 * stream's response header and by the presigned link's
 * response-content-disposition, so a user saves the same name either way:
 *
 *   attachment; filename="<safe ASCII fallback>"[; filename*=UTF-8''<RFC 5987>]
 *
 * The fallback keeps printable ASCII except '"', '\\', '/', ';' and '%'
 * (each becomes '_'), turns every non-ASCII character (not byte) into one
 * '_', and drops control characters; filename* is added when the name is not
 * plain ASCII (valid UTF-8 only), percent-encoding all but RFC 5987
 * attr-chars. An empty or unusable name becomes "export.csv". Names longer
 * than EQ_DISPOSITION_NAME_MAX bytes are cut at a character boundary.
 *
 *   "résumé;x%.csv" -> attachment; filename="r_sum__x_.csv";
 *                      filename*=UTF-8''r%C3%A9sum%C3%A9%3Bx%25.csv
 *
 * Pure; appends to a caller-owned eq_buf.
 */
#ifndef EXPORTQ_COMMON_DISPOSITION_H
#define EXPORTQ_COMMON_DISPOSITION_H

#include <stddef.h>

#include "common/buf.h"
#include "common/error.h"

#define EQ_DISPOSITION_NAME_MAX 255 /* bytes of the file name that are kept */

int eq_content_disposition(const char *filename, eq_buf *out, eq_err *err) EQ_MUST;

/* Length of the valid UTF-8 sequence at s (n bytes left; shortest form, no
 * surrogates, <= U+10FFFF), 0 when invalid. */
size_t eq_utf8_len(const unsigned char *s, size_t n);

#endif
