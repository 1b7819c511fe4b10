/* id.h - the one rule for ids given by users (job ids on the command line and
 * in URLs, token ids, list cursors): 1 to 18 decimal digits, no sign, no
 * space, no leading zero (so from 1 to 999999999999999999: a bigint > 0 that
 * a bigserial reaches in no lifetime, and no overflow to think about).
 * Pure; nothing to free. */
#ifndef EXPORTQ_COMMON_ID_H
#define EXPORTQ_COMMON_ID_H

#include <stddef.h>

#define EQ_ID_DIGITS_MAX 18

/* Parses the n bytes at s; returns 0 and sets *out, or -1 (out untouched). */
int eq_id_parse(const char *s, size_t n, long long *out) __attribute__((warn_unused_result));

/* The same for a NUL-terminated string (NULL is -1). */
int eq_id_parse_str(const char *s, long long *out) __attribute__((warn_unused_result));

#endif
