/* config.h - exportq's settings: one declarative table (config.c) fed by the
 * environment and by `--config FILE` (the same KEY=VALUE lines; values from the
 * file override the environment, being the more explicit of the two).
 *
 * eq_config_load() validates every value it sees and fails with a message
 * that names the variable; eq_config_require() then checks the settings a
 * command needs. The eq_config owns its strings; eq_config_cleanup() frees
 * them (safe on a zeroed or half-loaded config). Secrets are never echoed.
 */
#ifndef EXPORTQ_COMMON_CONFIG_H
#define EXPORTQ_COMMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

typedef enum eq_smtp_tls { EQ_SMTP_TLS_STARTTLS = 0, EQ_SMTP_TLS_OPTIONAL, EQ_SMTP_TLS_NONE } eq_smtp_tls;

typedef struct eq_config {
    char *database_url;        /* EXPORTQ_DATABASE_URL */
    char *source_database_url; /* EXPORTQ_SOURCE_DATABASE_URL, defaults to database_url */
    char *s3_endpoint;         /* EXPORTQ_S3_ENDPOINT, defaults to AWS for the region */
    char *s3_region;           /* EXPORTQ_S3_REGION */
    char *s3_bucket;           /* EXPORTQ_S3_BUCKET */
    char *s3_prefix;           /* EXPORTQ_S3_PREFIX */
    bool s3_path_style;        /* EXPORTQ_S3_PATH_STYLE */
    char *aws_access_key_id;     /* AWS_ACCESS_KEY_ID */
    char *aws_secret_access_key; /* AWS_SECRET_ACCESS_KEY (secret) */
    char *aws_session_token;     /* AWS_SESSION_TOKEN (secret) */
    char *s3_ca_file;            /* EXPORTQ_S3_CA_FILE */
    /* the credential chain when no static keys are set (s3/aws_creds.h) */
    char *aws_profile;                 /* AWS_PROFILE */
    char *aws_shared_credentials_file; /* AWS_SHARED_CREDENTIALS_FILE */
    char *aws_config_file;             /* AWS_CONFIG_FILE */
    char *aws_web_identity_token_file; /* AWS_WEB_IDENTITY_TOKEN_FILE */
    char *aws_role_arn;                /* AWS_ROLE_ARN */
    char *aws_role_session_name;       /* AWS_ROLE_SESSION_NAME */
    char *aws_endpoint_url_sts;        /* AWS_ENDPOINT_URL_STS */
    char *aws_container_relative_uri;  /* AWS_CONTAINER_CREDENTIALS_RELATIVE_URI */
    char *aws_container_full_uri;      /* AWS_CONTAINER_CREDENTIALS_FULL_URI */
    char *aws_container_token;         /* AWS_CONTAINER_AUTHORIZATION_TOKEN (secret) */
    char *aws_container_token_file;    /* AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE */
    char *aws_imds_endpoint;           /* AWS_EC2_METADATA_SERVICE_ENDPOINT */
    bool aws_imds_disabled;            /* AWS_EC2_METADATA_DISABLED */
    char *smtp_url;            /* EXPORTQ_SMTP_URL (password is secret) */
    char *smtp_from;           /* EXPORTQ_SMTP_FROM */
    int smtp_tls;              /* EXPORTQ_SMTP_TLS: eq_smtp_tls */
    char *smtp_ca_file;        /* EXPORTQ_SMTP_CA_FILE: extra CA bundle for STARTTLS */
    long link_ttl;             /* EXPORTQ_LINK_TTL seconds, <= 604800 */
    char *public_url;          /* EXPORTQ_PUBLIC_URL: where users reach serve (no trailing /), NULL = no stable links */
    char *link_secret;         /* EXPORTQ_LINK_SECRET (secret, >= 32 bytes): signs stable links */
    long presign_ttl;          /* EXPORTQ_PRESIGN_TTL: life of the URL a stable link redirects to, seconds */
    long stream_max_rows;      /* EXPORTQ_STREAM_MAX_ROWS: above this estimate, Prefer: respond-async makes a job */
    long part_size;            /* EXPORTQ_PART_SIZE bytes, >= 5 MiB */
    int upload_concurrency;    /* EXPORTQ_UPLOAD_CONCURRENCY */
    int lease_seconds;         /* EXPORTQ_LEASE_SECONDS */
    int max_attempts;          /* EXPORTQ_MAX_ATTEMPTS */
    char *http_listen;         /* EXPORTQ_HTTP_LISTEN host:port */
    int max_streams;           /* EXPORTQ_MAX_STREAMS */
    int max_streams_per_owner; /* EXPORTQ_MAX_STREAMS_PER_OWNER */
    int http_max_connections;  /* EXPORTQ_HTTP_MAX_CONNECTIONS */
    int http_max_connections_per_ip; /* EXPORTQ_HTTP_MAX_CONNECTIONS_PER_IP, 0 = off */
    int http_header_timeout;   /* EXPORTQ_HTTP_HEADER_TIMEOUT seconds */
    char *metrics_token;       /* EXPORTQ_METRICS_TOKEN (secret), NULL = /metrics open */
    char *admin_token;         /* EXPORTQ_ADMIN_TOKEN (secret), NULL = no admin token */
    int admin_session_ttl;     /* EXPORTQ_ADMIN_SESSION_TTL: /admin session cookie life, seconds */
    char *frame_ancestors;     /* EXPORTQ_FRAME_ANCESTORS: CSP frame-ancestors of the status page, NULL = 'none' */
    int log_level;             /* EXPORTQ_LOG_LEVEL: eq_log_level */
    int log_format;            /* EXPORTQ_LOG_FORMAT: eq_log_format */
    long retention_seconds;    /* EXPORTQ_RETENTION: finished jobs and objects kept */
    int owner_max_running;     /* EXPORTQ_OWNER_MAX_RUNNING: per-owner cap on running jobs */
    int rate_limit;            /* EXPORTQ_RATE_LIMIT: API requests per minute per token */
    int mail_max_attempts;     /* EXPORTQ_MAIL_MAX_ATTEMPTS */
    int drain_seconds;         /* EXPORTQ_DRAIN_SECONDS: SIGTERM grace before releasing jobs */
    int poll_seconds;          /* EXPORTQ_POLL_SECONDS: idle worker poll fallback */
    int mail_rate_per_owner;   /* EXPORTQ_MAIL_RATE_PER_OWNER: mails per owner per hour */
    char *mail_allowed_domains;/* EXPORTQ_MAIL_ALLOWED_DOMAINS: "a.example,b.example", NULL = any */
    char *metrics_listen;      /* EXPORTQ_METRICS_LISTEN: worker /metrics address, NULL = off */
    long upload_memory;        /* EXPORTQ_UPLOAD_MEMORY: bytes for every part buffer of a job */
    int export_parallel;       /* EXPORTQ_EXPORT_PARALLEL: range connections of one export (1 = serial) */
    int smtp_timeout;          /* EXPORTQ_SMTP_TIMEOUT: seconds one delivery may take in all */
    char *tmpdir;              /* EXPORTQ_TMPDIR: where xlsx workbooks are built, NULL = $TMPDIR or /tmp */
    char *mail_templates;      /* EXPORTQ_MAIL_TEMPLATES: directory of mail templates, NULL = built-in */
    char *product_name;        /* EXPORTQ_PRODUCT_NAME: the name in mails */
    char *webhook_url;         /* EXPORTQ_WEBHOOK_URL: the operator's receiver, NULL = none */
    char *webhook_secret;      /* EXPORTQ_WEBHOOK_SECRET (secret): signs every webhook */
    char *webhook_allowed_hosts; /* EXPORTQ_WEBHOOK_ALLOWED_HOSTS: hosts a kind's webhook_url may name */
    int webhook_timeout;       /* EXPORTQ_WEBHOOK_TIMEOUT: seconds per delivery attempt */
    char *jwt_secret;          /* EXPORTQ_JWT_SECRET (secret): HS256/384/512 key, NULL = none */
    char *jwt_public_keys;     /* EXPORTQ_JWT_PUBLIC_KEYS: file of PEM public keys or a JWKS */
    char *jwt_owner_claim;     /* EXPORTQ_JWT_OWNER_CLAIM: top-level claim naming the owner */
    char *jwt_audience;        /* EXPORTQ_JWT_AUDIENCE: required in aud, NULL = not checked */
    char *jwt_issuer;          /* EXPORTQ_JWT_ISSUER: required iss, NULL = not checked */
    char *jwt_email_claim;     /* EXPORTQ_JWT_EMAIL_CLAIM: claim giving the recipient, NULL = none */
    char *jwt_admin_claim;     /* EXPORTQ_JWT_ADMIN_CLAIM: claim that is true for admins, NULL = none */
    char *cors_origins;        /* EXPORTQ_CORS_ORIGINS: "https://a.example,https://b.example", NULL = none */
} eq_config;

enum {
    EQ_NEED_DB = 1 << 0,
    EQ_NEED_S3 = 1 << 1,
    EQ_NEED_SMTP = 1 << 2,
};

/* Loads defaults, then the environment, then `file` (may be NULL). */
int eq_config_load(eq_config *cfg, const char *file, eq_err *err) EQ_MUST;
/* Checks the settings a command needs (EQ_NEED_* bits). */
int eq_config_require(const eq_config *cfg, unsigned need, eq_err *err) EQ_MUST;
void eq_config_cleanup(eq_config *cfg);
/* The items of a list setting (EXPORTQ_MAIL_ALLOWED_DOMAINS,
 * EXPORTQ_WEBHOOK_ALLOWED_HOSTS, EXPORTQ_CORS_ORIGINS): separated by commas
 * and/or spaces. Sets *item and *n to the next item after *cursor and moves
 * *cursor past it; false when no item is left. */
bool eq_config_list_next(const char **cursor, const char **item, size_t *n);
/* Writes a help table of every variable (name, default, meaning) to `out`. */
void eq_config_print_reference(void *out /* FILE* */);

#endif
