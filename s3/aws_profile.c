/* aws_profile.c - the first two sources of the chain: static keys from the
 * environment, and the shared credentials and config files; see aws_source.h */
#include "s3/aws_source.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROFILE_NAME_MAX 128

static int set_key(char *dst, size_t dstsz, const char *name, const char *value)
{
    size_t n = strlen(value);
    (void)name;
    if (n == 0 || n >= dstsz)
        return -1;
    memcpy(dst, value, n + 1);
    return 0;
}

int aws_source_env(const aws_settings *s, aws_creds *out, char *why, size_t whysz, eq_err *err)
{
    if (!s->access_key && !s->secret_key) {
        snprintf(why, whysz, "environment: AWS_ACCESS_KEY_ID not set");
        return 0;
    }
    if (!s->access_key)
        return eq_fail(err, EQ_ERR_CONFIG, "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
    if (!s->secret_key)
        return eq_fail(err, EQ_ERR_CONFIG, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
    memset(out, 0, sizeof *out);
    if (set_key(out->access_key, sizeof out->access_key, "AWS_ACCESS_KEY_ID", s->access_key) < 0)
        return eq_fail(err, EQ_ERR_CONFIG, "AWS_ACCESS_KEY_ID: longer than %d bytes", AWS_KEY_ID_MAX - 1);
    if (set_key(out->secret_key, sizeof out->secret_key, "AWS_SECRET_ACCESS_KEY", s->secret_key) < 0)
        return eq_fail(err, EQ_ERR_CONFIG, "AWS_SECRET_ACCESS_KEY: longer than %d bytes", AWS_SECRET_MAX - 1);
    if (s->session_token &&
        set_key(out->session_token, sizeof out->session_token, "AWS_SESSION_TOKEN", s->session_token) < 0)
        return eq_fail(err, EQ_ERR_CONFIG, "AWS_SESSION_TOKEN: longer than %d bytes", AWS_TOKEN_MAX - 1);
    snprintf(out->source, sizeof out->source, "environment");
    return 1;
}

/* Trims [b, e) of spaces; returns the new start and sets *len. */
static const char *strip(const char *b, const char *e, size_t *len)
{
    while (b < e && isspace((unsigned char)*b))
        b++;
    while (e > b && isspace((unsigned char)e[-1]))
        e--;
    *len = (size_t)(e - b);
    return b;
}

static bool eq_word(const char *p, size_t n, const char *w)
{
    return strlen(w) == n && strncmp(p, w, n) == 0;
}

/* Is the section header [p, p+n) (inside the brackets) our profile? */
static bool section_is(const char *p, size_t n, const char *profile, bool config_style)
{
    if (eq_word(p, n, profile))
        return !config_style || strcmp(profile, "default") == 0;
    if (config_style && n > 8 && strncmp(p, "profile", 7) == 0 && isspace((unsigned char)p[7])) {
        size_t m;
        const char *name = strip(p + 8, p + n, &m);
        return eq_word(name, m, profile);
    }
    return false;
}

int aws_profile_parse(const char *text, size_t len, const char *profile, bool config_style, aws_creds *out,
                      char *unsupported, size_t unsz)
{
    static const char *const ignored_warn[] = {"role_arn", "credential_process", "sso_start_url", "sso_session",
                                               "web_identity_token_file", "credential_source"};
    const char *p = text, *end = text + len;
    bool in = false, found = false;

    if (unsz)
        unsupported[0] = '\0';
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *le = nl ? nl : end, *eqs;
        size_t n, kn, vn;
        const char *line = strip(p, le, &n), *k, *v;
        p = nl ? nl + 1 : end;
        if (n == 0 || line[0] == '#' || line[0] == ';')
            continue;
        if (line[0] == '[') {
            const char *close = memchr(line, ']', n);
            size_t sn;
            const char *sec = close ? strip(line + 1, close, &sn) : NULL;
            in = sec && section_is(sec, sn, profile, config_style);
            found |= in;
            continue;
        }
        if (!in || !(eqs = memchr(line, '=', n)))
            continue;
        k = strip(line, eqs, &kn);
        v = strip(eqs + 1, line + n, &vn);
        if (eq_word(k, kn, "aws_access_key_id") && vn < sizeof out->access_key) {
            memcpy(out->access_key, v, vn);
            out->access_key[vn] = '\0';
        } else if (eq_word(k, kn, "aws_secret_access_key") && vn < sizeof out->secret_key) {
            memcpy(out->secret_key, v, vn);
            out->secret_key[vn] = '\0';
        } else if (eq_word(k, kn, "aws_session_token") && vn < sizeof out->session_token) {
            memcpy(out->session_token, v, vn);
            out->session_token[vn] = '\0';
        } else {
            for (size_t i = 0; i < sizeof ignored_warn / sizeof ignored_warn[0]; i++)
                if (eq_word(k, kn, ignored_warn[i]) && unsz)
                    snprintf(unsupported, unsz, "%s", ignored_warn[i]);
        }
    }
    return found ? 1 : 0;
}

/* The path of a shared file: the variable, else ~/.aws/NAME. */
static int file_path(const char *set, const char *name, char *out, size_t outsz)
{
    const char *home = getenv("HOME");
    if (set) {
        if (strncmp(set, "~/", 2) == 0 && home)
            return snprintf(out, outsz, "%s/%s", home, set + 2) < (int)outsz ? 0 : -1;
        return snprintf(out, outsz, "%s", set) < (int)outsz ? 0 : -1;
    }
    if (!home || !*home)
        return -1;
    return snprintf(out, outsz, "%s/.aws/%s", home, name) < (int)outsz ? 0 : -1;
}

/* Reads one shared file into the profile: 1 section found, 0 not, -1 error. */
static int read_one(const char *what, const char *path, const char *profile, bool config_style, aws_creds *out,
                    char *unsupported, size_t unsz, eq_err *err)
{
    eq_buf buf;
    int rc;
    eq_buf_init(&buf, AWS_FILE_MAX);
    if (aws_fetch_read_file(what, path, &buf, err) < 0)
        rc = err->code == EQ_ERR_NOT_FOUND ? 0 : -1;
    else
        rc = aws_profile_parse(buf.data ? buf.data : "", buf.len, profile, config_style, out, unsupported, unsz);
    if (buf.data)
        OPENSSL_cleanse(buf.data, buf.cap);
    eq_buf_cleanup(&buf);
    return rc;
}

int aws_source_profile(const aws_settings *s, aws_creds *out, char *why, size_t whysz, eq_err *err)
{
    char cred_path[1024], conf_path[1024], unsup[64] = "", unsup2[64] = "";
    const char *profile = s->profile ? s->profile : "default";
    bool have_cred, have_conf;
    int in_cred = 0, in_conf = 0;

    if (strlen(profile) >= PROFILE_NAME_MAX)
        return eq_fail(err, EQ_ERR_CONFIG, "AWS_PROFILE: longer than %d bytes", PROFILE_NAME_MAX - 1);
    have_cred = file_path(s->credentials_file, "credentials", cred_path, sizeof cred_path) == 0;
    have_conf = file_path(s->config_file, "config", conf_path, sizeof conf_path) == 0;
    memset(out, 0, sizeof *out);
    /* the config file first: the credentials file overrides it key by key */
    if (have_conf && (in_conf = read_one("AWS_CONFIG_FILE", conf_path, profile, true, out, unsup, sizeof unsup,
                                         err)) < 0)
        goto fail;
    if (have_cred && (in_cred = read_one("AWS_SHARED_CREDENTIALS_FILE", cred_path, profile, false, out, unsup2,
                                         sizeof unsup2, err)) < 0)
        goto fail;
    if (!in_cred && !in_conf) {
        if (s->profile)
            return eq_fail(err, EQ_ERR_CONFIG, "AWS_PROFILE: profile '%s' is in neither %s nor %s", profile,
                           have_cred ? cred_path : "(no credentials file)", have_conf ? conf_path : "(no config file)");
        snprintf(why, whysz, "shared files: no [%s] profile in %s or %s", profile,
                 have_cred ? cred_path : "(no HOME)", have_conf ? conf_path : "(no HOME)");
        return 0;
    }
    if (!out->access_key[0] || !out->secret_key[0]) {
        const char *u = unsup2[0] ? unsup2 : unsup;
        if (u[0] || s->profile || out->access_key[0] || out->secret_key[0]) {
            eq_fail(err, EQ_ERR_CONFIG,
                    "profile '%s': no aws_access_key_id and aws_secret_access_key%s%s%s (exportq reads static keys "
                    "from profiles; use the environment, web identity, container or instance credentials)",
                    profile, u[0] ? "; '" : "", u, u[0] ? "' is not supported" : "");
            goto fail;
        }
        snprintf(why, whysz, "shared files: profile [%s] has no keys", profile);
        aws_creds_cleanse(out);
        return 0;
    }
    out->expires_at = 0;
    snprintf(out->source, sizeof out->source, "profile");
    return 1;
fail:
    aws_creds_cleanse(out);
    return -1;
}
