/* fuzz_s3_xml.c - the S3 reply parser on arbitrary bytes: no crash, no
 * overflow (ASan), fields always NUL-terminated within their size. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "s3/s3_xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_upload(void *ud, const char *key, const char *id)
{
    size_t *n = ud;
    *n += strlen(key) + strlen(id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t total = 0;
    s3_xml_reply x = {.on_upload = on_upload, .ud = &total};
    eq_err err;
    if (s3_xml_parse((const char *)data, size, &x, &err) == 0) {
        if (strnlen(x.root, sizeof x.root) == sizeof x.root || strnlen(x.code, sizeof x.code) == sizeof x.code ||
            strnlen(x.upload_id, sizeof x.upload_id) == sizeof x.upload_id ||
            strnlen(x.next_key_marker, sizeof x.next_key_marker) == sizeof x.next_key_marker)
            abort();
    }
    return 0;
}
