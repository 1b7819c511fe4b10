/* disposition.c - see disposition.h */
#include "common/disposition.h"

#include <stdbool.h>
#include <string.h>

#include "common/hex.h"

/* Length of the UTF-8 sequence at s (n bytes left), 0 when invalid. */
size_t eq_utf8_len(const unsigned char *s, size_t n)
{
    size_t len, i;
    unsigned cp;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xE0) == 0xC0)
        len = 2, cp = s[0] & 0x1F;
    else if ((s[0] & 0xF0) == 0xE0)
        len = 3, cp = s[0] & 0x0F;
    else if ((s[0] & 0xF8) == 0xF0)
        len = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* RFC 5987 attr-char */
static bool attr_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$&+-.^_`|~", c) != NULL);
}

int eq_content_disposition(const char *filename, eq_buf *out, eq_err *err)
{
    char fallback[EQ_DISPOSITION_NAME_MAX + 1];
    size_t n = filename ? strlen(filename) : 0, i = 0, f = 0, cut;
    bool ascii = true, valid = true, useful = false;
    const unsigned char *s = (const unsigned char *)filename;

    if (n > EQ_DISPOSITION_NAME_MAX) {
        /* cut at a character boundary */
        cut = EQ_DISPOSITION_NAME_MAX;
        while (cut > 0 && (s[cut] & 0xC0) == 0x80)
            cut--;
        n = cut;
    }
    while (i < n) {
        size_t len = eq_utf8_len(s + i, n - i);
        if (len == 0) {
            valid = false;
            ascii = false;
            fallback[f++] = '_';
            i++;
            continue;
        }
        if (len > 1) {
            ascii = false;
            fallback[f++] = '_';
        } else if (s[i] < 0x20 || s[i] == 0x7F) {
            /* control characters are dropped */
        } else if (strchr("\"\\/;%", s[i])) {
            fallback[f++] = '_';
        } else {
            fallback[f++] = (char)s[i];
            if (s[i] != ' ' && s[i] != '.')
                useful = true;
        }
        i += len;
    }
    fallback[f] = '\0';
    if (!useful && ascii) {
        n = 0;
        memcpy(fallback, "export.csv", sizeof "export.csv");
    }
    if (eq_buf_printf(out, err, "attachment; filename=\"%s\"", fallback) < 0)
        return -1;
    if (ascii || !valid)
        return 0;
    if (eq_buf_puts(out, "; filename*=UTF-8''", err) < 0)
        return -1;
    for (i = 0; i < n; i++) {
        char enc[3];
        eq_hex_escape(s[i], '%', enc);
        if (s[i] < 0x20 || s[i] == 0x7F)
            continue;
        if ((attr_char(s[i]) ? eq_buf_append(out, &s[i], 1, err) : eq_buf_append(out, enc, 3, err)) < 0)
            return -1;
    }
    return 0;
}
