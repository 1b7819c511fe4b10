/* config.c - the settings table and its loader; see config.h (the checks of
 * list, token and JWT values are in config_values.c) */
#include "common/config.h"
#include "common/config_values.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/link.h"
#include "common/listen.h"
#include "common/log.h"

typedef enum { T_STR, T_SECRET, T_INT, T_LONG, T_BOOL, T_ENUM } kind_t;

typedef struct setting {
    const char *name;
    kind_t kind;
    size_t offset;
    const char *def;         /* NULL: no default */
    long min, max;           /* numbers */
    const char *const *enums; /* T_ENUM: NULL-terminated, index is the value */
    const char *help;
} setting;

static const char *const tls_names[] = {"starttls", "optional", "none", NULL};
static const char *const level_names[] = {"debug", "info", "warn", "error", NULL};
static const char *const format_names[] = {"text", "json", NULL};

#define OFF(f) offsetof(eq_config, f)
#define MiB (1024L * 1024L)

static const setting settings[] = {
    {"EXPORTQ_DATABASE_URL", T_SECRET, OFF(database_url), NULL, 0, 0, NULL,
     "queue database (libpq conninfo or URI); required"},
    {"EXPORTQ_SOURCE_DATABASE_URL", T_SECRET, OFF(source_database_url), NULL, 0, 0, NULL,
     "where export queries run (e.g. a replica); default: the queue database"},
    {"EXPORTQ_S3_ENDPOINT", T_STR, OFF(s3_endpoint), NULL, 0, 0, NULL,
     "S3 endpoint URL; default: AWS for the region"},
    {"EXPORTQ_S3_REGION", T_STR, OFF(s3_region), "us-east-1", 0, 0, NULL, "S3 region"},
    {"EXPORTQ_S3_BUCKET", T_STR, OFF(s3_bucket), NULL, 0, 0, NULL, "bucket for exports; required"},
    {"EXPORTQ_S3_PREFIX", T_STR, OFF(s3_prefix), "exports/", 0, 0, NULL, "object key prefix"},
    {"EXPORTQ_S3_PATH_STYLE", T_BOOL, OFF(s3_path_style), NULL, 0, 0, NULL,
     "path-style addressing; default: true when an endpoint is set"},
    {"EXPORTQ_S3_CA_FILE", T_STR, OFF(s3_ca_file), NULL, 0, 0, NULL,
     "PEM CA bundle trusted for an https S3 endpoint (and STS) instead of the system's"},
    {"AWS_ACCESS_KEY_ID", T_STR, OFF(aws_access_key_id), NULL, 0, 0, NULL,
     "static access key; unset: the credential chain"},
    {"AWS_SECRET_ACCESS_KEY", T_SECRET, OFF(aws_secret_access_key), NULL, 0, 0, NULL,
     "static secret key (with AWS_ACCESS_KEY_ID)"},
    {"AWS_SESSION_TOKEN", T_SECRET, OFF(aws_session_token), NULL, 0, 0, NULL,
     "temporary credentials' session token"},
    {"AWS_PROFILE", T_STR, OFF(aws_profile), NULL, 0, 0, NULL, "profile of the shared files; default: default"},
    {"AWS_SHARED_CREDENTIALS_FILE", T_STR, OFF(aws_shared_credentials_file), NULL, 0, 0, NULL,
     "shared credentials file; default: ~/.aws/credentials"},
    {"AWS_CONFIG_FILE", T_STR, OFF(aws_config_file), NULL, 0, 0, NULL, "shared config file; default: ~/.aws/config"},
    {"AWS_WEB_IDENTITY_TOKEN_FILE", T_STR, OFF(aws_web_identity_token_file), NULL, 0, 0, NULL,
     "web identity token file (EKS IRSA), exchanged with STS for AWS_ROLE_ARN"},
    {"AWS_ROLE_ARN", T_STR, OFF(aws_role_arn), NULL, 0, 0, NULL, "role assumed with the web identity token"},
    {"AWS_ROLE_SESSION_NAME", T_STR, OFF(aws_role_session_name), NULL, 0, 0, NULL,
     "STS session name; default: exportq-PID-TIME"},
    {"AWS_ENDPOINT_URL_STS", T_STR, OFF(aws_endpoint_url_sts), NULL, 0, 0, NULL,
     "STS endpoint; default: https://sts.REGION.amazonaws.com"},
    {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", T_STR, OFF(aws_container_relative_uri), NULL, 0, 0, NULL,
     "ECS task role: path on 169.254.170.2"},
    {"AWS_CONTAINER_CREDENTIALS_FULL_URI", T_STR, OFF(aws_container_full_uri), NULL, 0, 0, NULL,
     "container credentials URL (loopback, 169.254.170.2, EKS Pod Identity addresses only)"},
    {"AWS_CONTAINER_AUTHORIZATION_TOKEN", T_SECRET, OFF(aws_container_token), NULL, 0, 0, NULL,
     "Authorization header for the container credentials URL"},
    {"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", T_STR, OFF(aws_container_token_file), NULL, 0, 0, NULL,
     "file holding that header (EKS Pod Identity); read on every fetch"},
    {"AWS_EC2_METADATA_SERVICE_ENDPOINT", T_STR, OFF(aws_imds_endpoint), NULL, 0, 0, NULL,
     "IMDS endpoint; default: http://169.254.169.254"},
    {"AWS_EC2_METADATA_DISABLED", T_BOOL, OFF(aws_imds_disabled), "false", 0, 0, NULL,
     "true: never ask the instance metadata service"},
    {"EXPORTQ_SMTP_URL", T_SECRET, OFF(smtp_url), NULL, 0, 0, NULL,
     "smtp://[user:pass@]host[:port]; required for email"},
    {"EXPORTQ_SMTP_FROM", T_STR, OFF(smtp_from), NULL, 0, 0, NULL, "sender address; required for email"},
    {"EXPORTQ_SMTP_TLS", T_ENUM, OFF(smtp_tls), "starttls", 0, 0, tls_names,
     "starttls (required), optional, none"},
    {"EXPORTQ_SMTP_CA_FILE", T_STR, OFF(smtp_ca_file), NULL, 0, 0, NULL,
     "PEM CA bundle trusted for STARTTLS besides the system's"},
    {"EXPORTQ_LINK_TTL", T_LONG, OFF(link_ttl), "86400", 1, 604800, NULL,
     "presigned link lifetime, seconds"},
    {"EXPORTQ_PUBLIC_URL", T_STR, OFF(public_url), NULL, 0, 0, NULL,
     "absolute http(s) URL where users reach exportq serve; with EXPORTQ_LINK_SECRET, links point there"},
    {"EXPORTQ_LINK_SECRET", T_SECRET, OFF(link_secret), NULL, 0, 0, NULL,
     "at least 32 bytes; signs the stable links (serve and worker need the same value)"},
    {"EXPORTQ_PRESIGN_TTL", T_LONG, OFF(presign_ttl), "300", 1, 604800, NULL,
     "life of the presigned URL a stable link redirects to, seconds"},
    {"EXPORTQ_STREAM_MAX_ROWS", T_LONG, OFF(stream_max_rows), "1000000", 0, 1000000000000, NULL,
     "with Prefer: respond-async, a stream estimated above this many rows becomes a job; 0 = never"},
    {"EXPORTQ_PART_SIZE", T_LONG, OFF(part_size), "8388608", 5 * MiB, 512 * MiB, NULL,
     "first multipart part size, bytes"},
    {"EXPORTQ_UPLOAD_CONCURRENCY", T_INT, OFF(upload_concurrency), "4", 1, 64, NULL,
     "parts in flight per export"},
    {"EXPORTQ_LEASE_SECONDS", T_INT, OFF(lease_seconds), "30", 5, 3600, NULL,
     "job lease, renewed by heartbeat"},
    {"EXPORTQ_MAX_ATTEMPTS", T_INT, OFF(max_attempts), "5", 1, 100, NULL, "attempts per job"},
    {"EXPORTQ_HTTP_LISTEN", T_STR, OFF(http_listen), "127.0.0.1:8080", 0, 0, NULL, "API address host:port"},
    {"EXPORTQ_MAX_STREAMS", T_INT, OFF(max_streams), "8", 1, 10000, NULL, "concurrent streams"},
    {"EXPORTQ_MAX_STREAMS_PER_OWNER", T_INT, OFF(max_streams_per_owner), "4", 1, 10000, NULL,
     "concurrent streams of one owner"},
    {"EXPORTQ_HTTP_MAX_CONNECTIONS", T_INT, OFF(http_max_connections), "10000", 16, 1000000, NULL,
     "open API connections at most (idle ones included)"},
    {"EXPORTQ_HTTP_MAX_CONNECTIONS_PER_IP", T_INT, OFF(http_max_connections_per_ip), "0", 0, 1000000, NULL,
     "open API connections per client address at most; 0 = no limit"},
    {"EXPORTQ_HTTP_HEADER_TIMEOUT", T_INT, OFF(http_header_timeout), "10", 1, 3600, NULL,
     "seconds a connection may take to send its request headers (and stay idle between requests)"},
    {"EXPORTQ_METRICS_TOKEN", T_SECRET, OFF(metrics_token), NULL, 0, 0, NULL,
     "when set, serve's /metrics requires Authorization: Bearer with this value"},
    {"EXPORTQ_ADMIN_TOKEN", T_SECRET, OFF(admin_token), NULL, 0, 0, NULL,
     "at least 24 visible ASCII characters; opens /admin and /v1/admin/... (Bearer or the login form); unset: "
     "no admin token"},
    {"EXPORTQ_ADMIN_SESSION_TTL", T_INT, OFF(admin_session_ttl), "28800", 60, 604800, NULL,
     "life of the /admin login session cookie, seconds"},
    {"EXPORTQ_FRAME_ANCESTORS", T_STR, OFF(frame_ancestors), NULL, 0, 0, NULL,
     "origins allowed to embed the status page in a frame (CSP frame-ancestors), space-separated "
     "https://host[:port] or 'self'; unset: none may"},
    {"EXPORTQ_LOG_LEVEL", T_ENUM, OFF(log_level), "info", 0, 0, level_names, "debug, info, warn, error"},
    {"EXPORTQ_LOG_FORMAT", T_ENUM, OFF(log_format), "text", 0, 0, format_names, "text or json"},
    {"EXPORTQ_RETENTION", T_LONG, OFF(retention_seconds), "604800", 60, 31536000, NULL,
     "how long finished jobs and their objects are kept, seconds"},
    {"EXPORTQ_OWNER_MAX_RUNNING", T_INT, OFF(owner_max_running), "2", 1, 10000, NULL,
     "running jobs per owner at most"},
    {"EXPORTQ_RATE_LIMIT", T_INT, OFF(rate_limit), "120", 1, 1000000, NULL,
     "API requests per minute per token"},
    {"EXPORTQ_MAIL_MAX_ATTEMPTS", T_INT, OFF(mail_max_attempts), "10", 1, 100, NULL,
     "attempts to deliver one email"},
    {"EXPORTQ_DRAIN_SECONDS", T_INT, OFF(drain_seconds), "60", 0, 86400, NULL,
     "on SIGTERM, how long running jobs may finish before they are released"},
    {"EXPORTQ_POLL_SECONDS", T_INT, OFF(poll_seconds), "5", 1, 3600, NULL,
     "idle worker poll interval (NOTIFY wakes it sooner)"},
    {"EXPORTQ_MAIL_RATE_PER_OWNER", T_INT, OFF(mail_rate_per_owner), "30", 1, 1000000, NULL,
     "emails per owner per hour; more are delayed, never dropped"},
    {"EXPORTQ_MAIL_ALLOWED_DOMAINS", T_STR, OFF(mail_allowed_domains), NULL, 0, 0, NULL,
     "comma-separated recipient domains (example.com also allows its subdomains); "
     "enqueue refuses other addresses; default: any"},
    {"EXPORTQ_METRICS_LISTEN", T_STR, OFF(metrics_listen), NULL, 0, 0, NULL,
     "worker's Prometheus /metrics address host:port; off when unset"},
    {"EXPORTQ_UPLOAD_MEMORY", T_LONG, OFF(upload_memory), "33554432", 10 * MiB, 65536 * MiB, NULL,
     "bytes for every part buffer of one export; part size and parts in flight adapt"},
    {"EXPORTQ_EXPORT_PARALLEL", T_INT, OFF(export_parallel), "4", 1, 32, NULL,
     "source connections one export of a kind with a split function may use at once; 1 = serial"},
    {"EXPORTQ_SMTP_TIMEOUT", T_INT, OFF(smtp_timeout), "120", 5, 3600, NULL,
     "seconds one mail delivery may take in all (connect excepted); the mail lease is longer"},
    {"EXPORTQ_TMPDIR", T_STR, OFF(tmpdir), NULL, 0, 0, NULL,
     "directory where xlsx workbooks are built before upload; $TMPDIR or /tmp when unset"},
    {"EXPORTQ_MAIL_TEMPLATES", T_STR, OFF(mail_templates), NULL, 0, 0, NULL,
     "directory with success.txt, success.html, failure.txt, failure.html overriding the built-in mails"},
    {"EXPORTQ_PRODUCT_NAME", T_STR, OFF(product_name), "exportq", 0, 0, NULL, "product name shown in mails"},
    {"EXPORTQ_WEBHOOK_URL", T_STR, OFF(webhook_url), NULL, 0, 0, NULL,
     "http(s) URL that receives every job's finished events (always allowed, loopback included)"},
    {"EXPORTQ_WEBHOOK_SECRET", T_SECRET, OFF(webhook_secret), NULL, 0, 0, NULL,
     "HMAC-SHA256 key of the Exportq-Signature header; required when any webhook URL is set"},
    {"EXPORTQ_WEBHOOK_ALLOWED_HOSTS", T_STR, OFF(webhook_allowed_hosts), NULL, 0, 0, NULL,
     "comma-separated hosts (or *.domain) a kind's options.webhook_url may name; none when unset"},
    {"EXPORTQ_WEBHOOK_TIMEOUT", T_INT, OFF(webhook_timeout), "10", 1, 60, NULL,
     "seconds one webhook delivery attempt may take"},
    {"EXPORTQ_JWT_SECRET", T_SECRET, OFF(jwt_secret), NULL, 0, 0, NULL,
     "HMAC key (32 bytes or more) of the application's JWTs (HS256/384/512); no HS tokens when unset"},
    {"EXPORTQ_JWT_PUBLIC_KEYS", T_STR, OFF(jwt_public_keys), NULL, 0, 0, NULL,
     "file of PEM public keys or a JWKS for RS256/ES256/EdDSA JWTs (kid honoured); re-read on SIGHUP"},
    {"EXPORTQ_JWT_OWNER_CLAIM", T_STR, OFF(jwt_owner_claim), "sub", 0, 0, NULL,
     "the JWT's top-level claim (string or integer) that is the owner"},
    {"EXPORTQ_JWT_AUDIENCE", T_STR, OFF(jwt_audience), NULL, 0, 0, NULL,
     "audience a JWT's aud must name; aud not checked when unset"},
    {"EXPORTQ_JWT_ISSUER", T_STR, OFF(jwt_issuer), NULL, 0, 0, NULL, "issuer a JWT's iss must equal; not checked when unset"},
    {"EXPORTQ_JWT_EMAIL_CLAIM", T_STR, OFF(jwt_email_claim), NULL, 0, 0, NULL,
     "JWT claim whose address is the recipient (a request naming another address is 422)"},
    {"EXPORTQ_JWT_ADMIN_CLAIM", T_STR, OFF(jwt_admin_claim), NULL, 0, 0, NULL,
     "JWT claim that is true for administrators"},
    {"EXPORTQ_CORS_ORIGINS", T_STR, OFF(cors_origins), NULL, 0, 0, NULL,
     "comma-separated exact origins (https://app.example) browsers may call the API from; none when unset"},
};
#define NSETTINGS (sizeof settings / sizeof settings[0])

static const setting *find_setting(const char *name, size_t len)
{
    for (size_t i = 0; i < NSETTINGS; i++)
        if (strlen(settings[i].name) == len && strncmp(settings[i].name, name, len) == 0)
            return &settings[i];
    return NULL;
}

static int parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* Stores one value after validating it; `origin` says where it came from. */
static int set_value(eq_config *cfg, const setting *s, const char *v, const char *origin, eq_err *err)
{
    char *base = (char *)cfg + s->offset;
    bool secret = s->kind == T_SECRET;
    switch (s->kind) {
    case T_STR:
    case T_SECRET: {
        char **slot = (char **)(void *)base;
        char *copy;
        for (const char *p = v; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                return eq_fail(err, EQ_ERR_CONFIG, "%s (%s): contains a control character", s->name, origin);
        copy = strdup(v);
        if (!copy)
            return eq_fail(err, EQ_ERR_NOMEM, "%s: out of memory", s->name);
        free(*slot);
        *slot = *v ? copy : NULL;
        if (!*v)
            free(copy);
        return 0;
    }
    case T_INT:
    case T_LONG: {
        char *end;
        long n;
        errno = 0;
        n = strtol(v, &end, 10);
        if (errno || end == v || *end || n < s->min || n > s->max)
            return eq_fail(err, EQ_ERR_CONFIG, "%s (%s): '%s' is not a whole number from %ld to %ld",
                           s->name, origin, secret ? "***" : v, s->min, s->max);
        if (s->kind == T_INT)
            *(int *)(void *)base = (int)n;
        else
            *(long *)(void *)base = n;
        return 0;
    }
    case T_BOOL:
        if (parse_bool(v, (bool *)(void *)base) < 0)
            return eq_fail(err, EQ_ERR_CONFIG, "%s (%s): '%s' is not true or false", s->name, origin, v);
        return 0;
    case T_ENUM:
        for (int i = 0; s->enums[i]; i++)
            if (strcasecmp(v, s->enums[i]) == 0) {
                *(int *)(void *)base = i;
                return 0;
            }
        {
            char allowed[128] = "";
            for (int i = 0; s->enums[i]; i++) {
                size_t l = strlen(allowed);
                snprintf(allowed + l, sizeof allowed - l, "%s%s", i ? ", " : "", s->enums[i]);
            }
            return eq_fail(err, EQ_ERR_CONFIG, "%s (%s): '%s' is not one of %s", s->name, origin, v, allowed);
        }
    }
    return eq_fail(err, EQ_ERR_CONFIG, "%s: unknown setting type", s->name);
}

/* Strips surrounding whitespace and one pair of matching quotes in place. */
static char *trim(char *s)
{
    size_t n;
    while (isspace((unsigned char)*s))
        s++;
    n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    if (n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n - 1] == s[0]) {
        s[n - 1] = '\0';
        s++;
    }
    return s;
}

static int load_file(eq_config *cfg, const char *file, bool *seen, eq_err *err)
{
    FILE *f = fopen(file, "r");
    char line[8192], origin[512];
    int lineno = 0, rc = 0;
    if (!f)
        return eq_fail(err, EQ_ERR_CONFIG, "--config %s: %s", file, strerror(errno));
    while (fgets(line, sizeof line, f)) {
        char *p, *eq, *key, *val;
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            rc = eq_fail(err, EQ_ERR_CONFIG, "%s:%d: line too long", file, lineno);
            break;
        }
        p = trim(line);
        if (!*p || *p == '#')
            continue;
        if (strncmp(p, "export ", 7) == 0)
            p = trim(p + 7);
        eq = strchr(p, '=');
        if (!eq) {
            rc = eq_fail(err, EQ_ERR_CONFIG, "%s:%d: expected KEY=VALUE", file, lineno);
            break;
        }
        *eq = '\0';
        key = trim(p);
        val = trim(eq + 1);
        const setting *s = find_setting(key, strlen(key));
        if (!s) {
            rc = eq_fail(err, EQ_ERR_CONFIG, "%s:%d: unknown setting %s", file, lineno, key);
            break;
        }
        snprintf(origin, sizeof origin, "%s:%d", file, lineno);
        if ((rc = set_value(cfg, s, val, origin, err)) < 0)
            break;
        seen[s - settings] = true;
    }
    fclose(f);
    return rc;
}

int eq_config_load(eq_config *cfg, const char *file, eq_err *err)
{
    bool seen[NSETTINGS] = {false};
    const setting *ps = find_setting("EXPORTQ_S3_PATH_STYLE", strlen("EXPORTQ_S3_PATH_STYLE"));
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < NSETTINGS; i++)
        if (settings[i].def && set_value(cfg, &settings[i], settings[i].def, "default", err) < 0)
            goto fail;
    for (size_t i = 0; i < NSETTINGS; i++) {
        const char *v = getenv(settings[i].name);
        if (v && !*v)
            v = NULL; /* an empty variable counts as unset */
        if (v && set_value(cfg, &settings[i], v, "environment", err) < 0)
            goto fail;
        seen[i] = v != NULL;
    }
    if (file && load_file(cfg, file, seen, err) < 0)
        goto fail;
    /* path-style addressing defaults to on exactly when an endpoint is given */
    if (!seen[ps - settings])
        cfg->s3_path_style = cfg->s3_endpoint != NULL;
    if (!cfg->s3_endpoint) {
        char ep[256];
        snprintf(ep, sizeof ep, "https://s3.%s.amazonaws.com", cfg->s3_region ? cfg->s3_region : "us-east-1");
        if (!(cfg->s3_endpoint = strdup(ep)))
            goto nomem;
    } else if (strncmp(cfg->s3_endpoint, "http://", 7) != 0 &&
               strncmp(cfg->s3_endpoint, "https://", 8) != 0) {
        eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_S3_ENDPOINT: '%s' must start with http:// or https://",
                cfg->s3_endpoint);
        goto fail;
    } else {
        size_t n = strlen(cfg->s3_endpoint);
        while (n > 8 && cfg->s3_endpoint[n - 1] == '/')
            cfg->s3_endpoint[--n] = '\0';
    }
    if (cfg->s3_ca_file && access(cfg->s3_ca_file, R_OK) < 0) {
        eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_S3_CA_FILE: cannot read %s: %s", cfg->s3_ca_file, strerror(errno));
        goto fail;
    }
    if (cfg->smtp_url && strncmp(cfg->smtp_url, "smtp://", 7) != 0 && strncmp(cfg->smtp_url, "smtps://", 8) != 0) {
        eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_SMTP_URL: must look like smtp://[user:pass@]host[:port]");
        goto fail;
    }
    if (cfg->smtp_url && cfg->smtp_tls == EQ_SMTP_TLS_OPTIONAL && strncmp(cfg->smtp_url, "smtp://", 7) == 0 &&
        eq_config_smtp_url_has_credentials(cfg->smtp_url)) {
        eq_fail(err, EQ_ERR_CONFIG,
                "EXPORTQ_SMTP_TLS: 'optional' with credentials in EXPORTQ_SMTP_URL would send the password "
                "in clear when STARTTLS is stripped; use starttls (or remove the credentials)");
        goto fail;
    }
    if (cfg->admin_token && eq_config_admin_token_check(cfg->admin_token, err) < 0)
        goto fail;
    if (cfg->frame_ancestors && eq_config_frame_ancestors_check(cfg->frame_ancestors, err) < 0)
        goto fail;
    if (cfg->mail_allowed_domains && eq_config_domains_check(cfg->mail_allowed_domains, err) < 0)
        goto fail;
    {
        struct sockaddr_storage ss;
        socklen_t sl;
        if (cfg->http_listen && eq_listen_parse("EXPORTQ_HTTP_LISTEN", cfg->http_listen, &ss, &sl, err) < 0)
            goto fail;
        if (cfg->metrics_listen && eq_listen_parse("EXPORTQ_METRICS_LISTEN", cfg->metrics_listen, &ss, &sl, err) < 0)
            goto fail;
    }
    if (cfg->s3_region && (!*cfg->s3_region || strspn(cfg->s3_region, "abcdefghijklmnopqrstuvwxyz"
                                                                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
                                                   strlen(cfg->s3_region))) {
        eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_S3_REGION: '%.64s' is not a region name (letters, digits, '-', '_', '.')",
                cfg->s3_region);
        goto fail;
    }
    if (cfg->s3_bucket && (strlen(cfg->s3_bucket) < 3 || strlen(cfg->s3_bucket) > 63 ||
                           strspn(cfg->s3_bucket, "abcdefghijklmnopqrstuvwxyz0123456789.-") != strlen(cfg->s3_bucket))) {
        eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_S3_BUCKET: '%s' is not a valid bucket name", cfg->s3_bucket);
        goto fail;
    }
    if (cfg->tmpdir && (cfg->tmpdir[0] != '/' || access(cfg->tmpdir, W_OK | X_OK) != 0)) {
        eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_TMPDIR: '%s' must be an absolute path to a writable directory",
                cfg->tmpdir);
        goto fail;
    }
    if (cfg->mail_templates && access(cfg->mail_templates, R_OK | X_OK) != 0) {
        eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_MAIL_TEMPLATES: '%s' is not a readable directory", cfg->mail_templates);
        goto fail;
    }
    if (cfg->product_name && (strlen(cfg->product_name) > 100 || strpbrk(cfg->product_name, "\r\n\t\x7f"))) {
        eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_PRODUCT_NAME: at most 100 characters without control characters");
        goto fail;
    }
    for (const char *p = cfg->product_name; p && *p; p++) {
        if ((unsigned char)*p < 0x20) {
            eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_PRODUCT_NAME: at most 100 characters without control characters");
            goto fail;
        }
    }
    if (cfg->webhook_url) {
        bool ok = strncmp(cfg->webhook_url, "http://", 7) == 0 || strncmp(cfg->webhook_url, "https://", 8) == 0;
        for (const char *p = cfg->webhook_url; ok && *p; p++)
            ok = (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f;
        if (!ok || strlen(cfg->webhook_url) > 2048) {
            eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_WEBHOOK_URL: must be an http:// or https:// URL");
            goto fail;
        }
        if (!cfg->webhook_secret) {
            eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_WEBHOOK_SECRET is required when EXPORTQ_WEBHOOK_URL is set");
            goto fail;
        }
    }
    if (cfg->webhook_secret && strlen(cfg->webhook_secret) < 16) {
        eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_WEBHOOK_SECRET: at least 16 characters");
        goto fail;
    }
    if (cfg->public_url) {
        char why[96];
        size_t n = strlen(cfg->public_url);
        while (n > 8 && cfg->public_url[n - 1] == '/')
            cfg->public_url[--n] = '\0';
        if (link_public_url_check(cfg->public_url, why, sizeof why) < 0) {
            eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_PUBLIC_URL: %s", why);
            goto fail;
        }
    }
    if (cfg->link_secret && strlen(cfg->link_secret) < LINK_SECRET_MIN) {
        eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_LINK_SECRET: at least %d bytes", LINK_SECRET_MIN);
        goto fail;
    }
    if (!cfg->public_url != !cfg->link_secret) {
        eq_fail(err, EQ_ERR_CONFIG, "%s is required with %s (stable links need both)",
                cfg->public_url ? "EXPORTQ_LINK_SECRET" : "EXPORTQ_PUBLIC_URL",
                cfg->public_url ? "EXPORTQ_PUBLIC_URL" : "EXPORTQ_LINK_SECRET");
        goto fail;
    }
    if (eq_config_jwt_check(cfg, err) < 0 || (cfg->cors_origins && eq_config_origins_check(cfg->cors_origins, err) < 0))
        goto fail;
    if (!cfg->source_database_url && cfg->database_url &&
        !(cfg->source_database_url = strdup(cfg->database_url)))
        goto nomem;
    return 0;
nomem:
    eq_fail(err, EQ_ERR_NOMEM, "configuration: out of memory");
fail:
    eq_config_cleanup(cfg);
    return -1;
}

int eq_config_require(const eq_config *cfg, unsigned need, eq_err *err)
{
    if ((need & EQ_NEED_DB) && !cfg->database_url)
        return eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_DATABASE_URL is required (the queue database)");
    if (need & EQ_NEED_S3) {
        if (!cfg->s3_bucket)
            return eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_S3_BUCKET is required (where exports are stored)");
        /* credentials: static keys or the chain (s3/aws_creds.h), resolved at start-up */
        if (cfg->aws_access_key_id && !cfg->aws_secret_access_key)
            return eq_fail(err, EQ_ERR_CONFIG, "AWS_SECRET_ACCESS_KEY is required with AWS_ACCESS_KEY_ID");
        if (!cfg->aws_access_key_id && cfg->aws_secret_access_key)
            return eq_fail(err, EQ_ERR_CONFIG, "AWS_ACCESS_KEY_ID is required with AWS_SECRET_ACCESS_KEY");
    }
    if (need & EQ_NEED_SMTP) {
        if (!cfg->smtp_url)
            return eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_SMTP_URL is required to send email");
        if (!cfg->smtp_from)
            return eq_fail(err, EQ_ERR_CONFIG, "EXPORTQ_SMTP_FROM is required to send email");
    }
    return 0;
}

void eq_config_cleanup(eq_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < NSETTINGS; i++)
        if (settings[i].kind == T_STR || settings[i].kind == T_SECRET) {
            char **slot = (char **)(void *)((char *)cfg + settings[i].offset);
            free(*slot);
            *slot = NULL;
        }
}

void eq_config_print_reference(void *out)
{
    FILE *f = out;
    fprintf(f, "Configuration (environment, or --config FILE with KEY=VALUE lines):\n");
    for (size_t i = 0; i < NSETTINGS; i++)
        fprintf(f, "  %-30s %s%s%s%s\n", settings[i].name, settings[i].help,
                settings[i].def ? " [default: " : "", settings[i].def ? settings[i].def : "",
                settings[i].def ? "]" : "");
}
