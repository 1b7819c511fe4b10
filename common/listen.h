/* listen.h - the one parser of listen addresses ("host:port", "[v6]:port")
 * that every listening socket uses: serve's EXPORTQ_HTTP_LISTEN and the
 * worker's EXPORTQ_METRICS_LISTEN. Pure apart from getaddrinfo() for names. */
#ifndef EXPORTQ_COMMON_LISTEN_H
#define EXPORTQ_COMMON_LISTEN_H

#include <sys/socket.h>

#include "common/error.h"

/* Parses value (the setting named var, for the error) into *ss / *len.
 * host may be an IPv4 address, a bracketed IPv6 address or a name (the first
 * address it resolves to); port is 0..65535 in decimal (0 = any free port).
 * Returns 0, or -1 with err naming var. */
EQ_MUST int eq_listen_parse(const char *var, const char *value, struct sockaddr_storage *ss, socklen_t *len,
                                eq_err *err);

#endif
