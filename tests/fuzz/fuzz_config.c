/* fuzz_config.c - libFuzzer target for the `--config FILE` parser
 * (common/config.c), driven through its public entry point eq_config_load()
 * with the input as the file's content (an in-memory memfd, reached by its
 * /proc/self/fd path: no production change, no disk churn). Properties:
 *  - nothing crashes, leaks or reads out of bounds (ASan/UBSan);
 *  - a refusal carries a message, and the message never echoes the value of a
 *    secret (the input's AWS_SECRET_ACCESS_KEY=... value);
 *  - a loaded config satisfies its documented bounds (part size >= 5 MiB,
 *    link TTL <= 7 days, lease >= 5 s) and cleans up (also twice).
 * The environment is emptied of EXPORTQ_* and AWS_* first, so only the file counts.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    extern char **environ;
    (void)argc;
    (void)argv;
    for (;;) { /* unset every EXPORTQ_* / AWS_* variable */
        char name[256];
        int found = 0;
        for (char **e = environ; e && *e; e++) {
            if (strncmp(*e, "EXPORTQ_", 8) == 0 || strncmp(*e, "AWS_", 4) == 0) {
                size_t n = strcspn(*e, "=");
                if (n >= sizeof name)
                    n = sizeof name - 1;
                memcpy(name, *e, n);
                name[n] = '\0';
                found = 1;
                break;
            }
        }
        if (!found)
            break;
        unsetenv(name);
    }
    return 0;
}

/* The value of the last "AWS_SECRET_ACCESS_KEY=" line, if any and long enough
 * to be unmistakable in a message (short values may occur by chance). */
static const char *secret_value(const char *text, char *out, size_t outsz)
{
    const char *p = text, *found = NULL;
    while ((p = strstr(p, "AWS_SECRET_ACCESS_KEY="))) {
        if (p == text || p[-1] == '\n') /* only where a line starts with it */
            found = p + strlen("AWS_SECRET_ACCESS_KEY=");
        p += strlen("AWS_SECRET_ACCESS_KEY=");
    }
    if (!found)
        return NULL;
    size_t n = strcspn(found, "\r\n#");
    while (n && (found[n - 1] == ' ' || found[n - 1] == '\t'))
        n--;
    if (n < 12 || n >= outsz)
        return NULL;
    memcpy(out, found, n);
    out[n] = '\0';
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64], secret[512], *text;
    eq_config cfg;
    eq_err err;
    int fd;

    if (size > 1 << 16)
        return 0;
    fd = memfd_create("fuzz_config", 0);
    if (fd < 0)
        abort();
    if (size && write(fd, data, size) != (ssize_t)size)
        abort();
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    text = malloc(size + 1);
    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';

    memset(&cfg, 0, sizeof cfg);
    if (eq_config_load(&cfg, path, &err) == 0) {
        if (cfg.part_size < 5L * 1024 * 1024 || cfg.link_ttl > 604800 || cfg.lease_seconds < 5)
            abort();
    } else {
        const char *s = secret_value(text, secret, sizeof secret);
        if (!err.msg[0])
            abort();
        /* only when the value is unique in the input: another setting may
         * legitimately echo the same bytes as its own (non-secret) value */
        if (s && strstr(err.msg, s) && !strstr(strstr(text, s) + 1, s))
            abort(); /* the secret's value was echoed */
    }
    eq_config_cleanup(&cfg);
    eq_config_cleanup(&cfg);
    free(text);
    close(fd);
    return 0;
}
