/* aws_creds.h - where the S3 client's AWS credentials come from: the chain
 * the AWS SDKs use, a cache, and a background refresh.
 *
 * The chain, in order (the first source that is configured wins):
 *   1. environment: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY [+ AWS_SESSION_TOKEN]
 *   2. shared files: AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials) and
 *      AWS_CONFIG_FILE (~/.aws/config), profile AWS_PROFILE (default "default")
 *   3. web identity: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN -> STS
 *      AssumeRoleWithWebIdentity (AWS_ENDPOINT_URL_STS for a private STS)
 *   4. container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (on 169.254.170.2) or
 *      _FULL_URI (loopback, 169.254.170.2 or the EKS Pod Identity addresses
 *      only), with AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE)
 *   5. IMDSv2 (AWS_EC2_METADATA_SERVICE_ENDPOINT; off with
 *      AWS_EC2_METADATA_DISABLED=true): a token PUT, then the instance role's
 *      credentials. There is no IMDSv1 fallback.
 * A source whose variables are set but that fails stops the chain with its
 * own error (as the SDKs do); when no source is configured the error is one
 * line naming every source tried and why it was skipped.
 *
 * Temporary credentials (with an expiry) are refreshed by a background thread
 * ahead of their expiry (min(15 min, half their lifetime) before it), so
 * signing never waits on the network; only when the refresh could not keep
 * ahead (credentials within 10 s of expiry) does aws_credentials_get() fetch
 * them itself, one thread at a time.
 *
 * Thread-safe: one provider is shared by every thread and S3 client of the
 * process. Nothing here logs a key, secret, session token or IMDS token.
 *
 * Ownership: aws_credentials_acquire() returns a reference; every reference
 * is given back with aws_credentials_release() (accepts NULL). Static keys
 * from the configuration give a private provider; the chain's provider is
 * shared by every acquire() with the same settings.
 */
#ifndef EXPORTQ_S3_AWS_CREDS_H
#define EXPORTQ_S3_AWS_CREDS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "common/config.h"
#include "common/error.h"

#define AWS_KEY_ID_MAX 128  /* bytes of an access key id, NUL included */
#define AWS_SECRET_MAX 128  /* bytes of a secret access key, NUL included */
#define AWS_TOKEN_MAX 8192  /* bytes of a session token, NUL included */

/* One set of credentials, a plain value (copy it, cleanse it). */
typedef struct aws_creds {
    char access_key[AWS_KEY_ID_MAX];
    char secret_key[AWS_SECRET_MAX];     /* secret */
    char session_token[AWS_TOKEN_MAX];   /* secret; "" when none */
    time_t expires_at;                   /* 0: does not expire */
    char source[32];                     /* "environment", "profile", "web-identity", "container", "imds" */
} aws_creds;

typedef struct aws_credentials aws_credentials;

/* Resolves the chain from cfg (first credentials fetched now) or returns the
 * shared provider that already did. */
int aws_credentials_acquire(const eq_config *cfg, aws_credentials **out, eq_err *err) EQ_MUST;
void aws_credentials_release(aws_credentials *p);

/* A copy of the current credentials (the caller cleanses it after use:
 * aws_creds_cleanse). Fails (retryable) only when they expired and could not
 * be renewed. */
int aws_credentials_get(aws_credentials *p, aws_creds *out, eq_err *err) EQ_MUST;

/* When the current credentials expire (0: never); for capping links. */
time_t aws_credentials_expiry(aws_credentials *p);

/* The source of the current credentials ("environment", ...). */
const char *aws_credentials_source(aws_credentials *p);

/* Number of successful refreshes so far (tests, metrics). */
unsigned aws_credentials_refreshes(aws_credentials *p);

void aws_creds_cleanse(aws_creds *c);

#endif
