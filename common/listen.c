/* listen.c - see listen.h. */
#include "common/listen.h"

#include <netdb.h>
#include <stdlib.h>
#include <string.h>

int eq_listen_parse(const char *var, const char *value, struct sockaddr_storage *ss, socklen_t *len, eq_err *err)
{
    char host[256];
    const char *colon, *h;
    struct addrinfo hints, *ai = NULL;
    size_t hl;
    long port = -1;
    int gai;

    if (!value || !*value)
        return eq_fail(err, EQ_ERR_CONFIG, "%s: empty (expected host:port)", var);
    colon = strrchr(value, ':');
    if (!colon || !colon[1])
        return eq_fail(err, EQ_ERR_CONFIG, "%s '%.300s': expected host:port or [v6]:port", var, value);
    if (strspn(colon + 1, "0123456789") == strlen(colon + 1) && strlen(colon + 1) <= 5)
        port = strtol(colon + 1, NULL, 10);
    if (port < 0 || port > 65535)
        return eq_fail(err, EQ_ERR_CONFIG, "%s '%.300s': the port must be a number 0..65535", var, value);
    h = value;
    hl = (size_t)(colon - value);
    if (hl >= 1 && h[0] == '[') {
        if (hl < 3 || h[hl - 1] != ']')
            return eq_fail(err, EQ_ERR_CONFIG, "%s '%.300s': an IPv6 address goes in brackets: [::1]:9100", var, value);
        h++;
        hl -= 2;
    } else if (memchr(h, ':', hl)) {
        return eq_fail(err, EQ_ERR_CONFIG, "%s '%.300s': an IPv6 address goes in brackets: [::1]:9100", var, value);
    }
    if (hl == 0 || hl >= sizeof host)
        return eq_fail(err, EQ_ERR_CONFIG, "%s '%.300s': expected host:port", var, value);
    memcpy(host, h, hl);
    host[hl] = '\0';
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
    gai = getaddrinfo(host, colon + 1, &hints, &ai);
    if (gai != 0 || !ai)
        return eq_fail(err, EQ_ERR_CONFIG, "%s: cannot use host '%s' port '%s': %s", var, host, colon + 1,
                       gai_strerror(gai));
    if (ai->ai_addrlen > sizeof *ss) {
        freeaddrinfo(ai);
        return eq_fail(err, EQ_ERR_CONFIG, "%s: unexpected address size", var);
    }
    memset(ss, 0, sizeof *ss);
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}
