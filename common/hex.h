/* hex.h - hexadecimal (and base64url digit) encoding, the one definition (SigV4 digests, token
 * hashes, part checksums use lowercase; percent-encoding uses uppercase).
 * Pure functions; the caller owns every buffer. */
#ifndef EXPORTQ_COMMON_HEX_H
#define EXPORTQ_COMMON_HEX_H

#include <stddef.h>

/* Writes 2n lowercase hex digits of p[0..n) and a NUL: out has 2n+1 bytes. */
void eq_hex_encode(const void *p, size_t n, char *out);

/* Writes mark + two uppercase hex digits for byte c into out[0..3):
 * "%XX" for percent-encoding (RFC 3986 section 2.1), "=XX" for
 * quoted-printable (RFC 2045). */
void eq_hex_escape(unsigned char c, char mark, char out[3]);

/* The value of one hex digit (either case), or -1 when c is not one. */
int eq_hex_value(char c);

/* The value of one base64url digit (RFC 4648 section 5: A-Z a-z 0-9 - _),
 * or -1 when c is not one (padding '=' included): link tokens, JWTs, JWKs. */
int eq_b64url_value(char c);

#endif
