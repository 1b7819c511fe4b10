/* fuzz_input.h - splitting one libFuzzer input into several strings, shared
 * by the fuzz targets that feed more than one parser. */
#ifndef EXPORTQ_TESTS_FUZZ_INPUT_H
#define EXPORTQ_TESTS_FUZZ_INPUT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The next NUL-terminated piece of the input (a malloc'ed copy the caller
 * frees), or the rest of it; advances *p and *left past it. */
static inline char *fuzz_piece(const uint8_t **p, size_t *left)
{
    const uint8_t *nul = memchr(*p, 0, *left);
    size_t n = nul ? (size_t)(nul - *p) : *left;
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memcpy(s, *p, n);
    s[n] = '\0';
    *p += nul ? n + 1 : n;
    *left -= nul ? n + 1 : n;
    return s;
}

#endif
