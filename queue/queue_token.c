/* queue_token.c - API tokens: created from OpenSSL's CSPRNG, stored only as
 * their SHA-256 (a stolen table gives no usable token). See queue.h */
#include "queue/queue.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "common/hex.h"
#include "queue/queue_internal.h"

#define TOKEN_PREFIX "eqt_"
#define TOKEN_BYTES 32

void queue_token_hash(const char *token, char hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!EVP_Digest(token, strlen(token), md, &len, EVP_sha256(), NULL) || len != 32) {
        /* cannot happen with a working libcrypto; never match anything */
        memset(hex, 'x', 64);
        hex[64] = '\0';
        return;
    }
    eq_hex_encode(md, 32, hex);
}

bool queue_token_well_formed(const char *s)
{
    size_t plen = strlen(TOKEN_PREFIX);
    if (!s || strncmp(s, TOKEN_PREFIX, plen) != 0)
        return false;
    s += plen;
    for (int i = 0; i < 2 * TOKEN_BYTES; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return s[2 * TOKEN_BYTES] == '\0';
}

int queue_token_create(PGconn *conn, const char *owner, char *token_out, size_t size,
                       long long *id, eq_err *err)
{
    unsigned char raw[TOKEN_BYTES];
    char token[QUEUE_TOKEN_MAX], hash[65];
    const char *params[2] = {owner, hash};
    PGresult *res = NULL;
    int rc = -1;
    *id = 0;
    if (size > 0)
        token_out[0] = '\0';
    if (size < QUEUE_TOKEN_MAX)
        return eq_fail(err, EQ_ERR_INVALID, "token create: output buffer too small");
    if (!owner || !*owner)
        return eq_fail(err, EQ_ERR_INVALID, "token create: an owner is required");
    if (RAND_bytes(raw, sizeof raw) != 1)
        return eq_fail(err, EQ_ERR_IO, "token create: the random generator failed");
    memcpy(token, TOKEN_PREFIX, strlen(TOKEN_PREFIX));
    eq_hex_encode(raw, sizeof raw, token + strlen(TOKEN_PREFIX));
    queue_token_hash(token, hash);
    if (queue_exec(conn, "token create",
                   "INSERT INTO exportq.tokens (owner, token_hash) VALUES ($1, $2) RETURNING id", 2,
                   params, &res, err) < 0) {
        if (err->code == EQ_ERR_DB && strstr(err->msg, "tokens_owner"))
            eq_fail(err, EQ_ERR_INVALID, "token create: owner must be 1 to %d bytes without control characters",
                    EQ_IDENTITY_MAX_BYTES);
        goto out;
    }
    *id = queue_pg_ll(res, 0, 0);
    PQclear(res);
    snprintf(token_out, size, "%s", token);
    rc = 0;
out:
    OPENSSL_cleanse(raw, sizeof raw);
    OPENSSL_cleanse(token, sizeof token);
    return rc;
}

int queue_token_lookup(PGconn *conn, const char *token, char *owner_out, size_t size,
                       long long *token_id, eq_err *err)
{
    char hash[65];
    const char *params[1] = {hash};
    PGresult *res = NULL;
    *token_id = 0;
    if (size > 0)
        owner_out[0] = '\0';
    if (!queue_token_well_formed(token))
        return eq_fail(err, EQ_ERR_NOT_FOUND, "unknown or revoked token");
    queue_token_hash(token, hash);
    /* last_used_at is written at most once a minute per token */
    if (queue_exec(conn, "token lookup",
                   "WITH t AS (SELECT id, owner, last_used_at FROM exportq.tokens "
                   "           WHERE token_hash = $1 AND revoked_at IS NULL), "
                   "u AS (UPDATE exportq.tokens k SET last_used_at = now() FROM t "
                   "      WHERE k.id = t.id AND (t.last_used_at IS NULL "
                   "            OR t.last_used_at < now() - interval '1 minute')) "
                   "SELECT id, owner FROM t",
                   1, params, &res, err) < 0)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return eq_fail(err, EQ_ERR_NOT_FOUND, "unknown or revoked token");
    }
    *token_id = queue_pg_ll(res, 0, 0);
    /* an owner that does not fit is refused: a cut owner is another owner */
    if (queue_pg_str(res, 0, 1, owner_out, size, err) < 0) {
        PQclear(res);
        *token_id = 0;
        return eq_err_context(err, "token lookup");
    }
    PQclear(res);
    return 0;
}

int queue_token_list(PGconn *conn, void (*cb)(const queue_token_row *row, void *ud), void *ud,
                     eq_err *err)
{
    PGresult *res = NULL;
    queue_token_row row;
    if (queue_exec(conn, "token list",
                   "SELECT id, owner, " QUEUE_EPOCH("created_at") ", " QUEUE_EPOCH("last_used_at")
                   ", " QUEUE_EPOCH("revoked_at") " FROM exportq.tokens ORDER BY id",
                   0, NULL, &res, err) < 0)
        return -1;
    for (int i = 0; i < PQntuples(res); i++) {
        memset(&row, 0, sizeof row);
        row.id = queue_pg_ll(res, i, 0);
        if (queue_pg_str(res, i, 1, row.owner, sizeof row.owner, err) < 0) {
            PQclear(res);
            return eq_err_context(err, "token list: token %lld", row.id);
        }
        row.created_at = queue_pg_ll(res, i, 2);
        row.last_used_at = queue_pg_ll(res, i, 3);
        row.revoked_at = queue_pg_ll(res, i, 4);
        cb(&row, ud);
    }
    PQclear(res);
    return 0;
}

int queue_token_revoke(PGconn *conn, long long id, bool *ok, eq_err *err)
{
    PGresult *res = NULL;
    *ok = false;
    if (queue_id_action(conn, "token revoke", "token",
                        "WITH r AS (UPDATE exportq.tokens SET revoked_at = now() "
                        "           WHERE id = $1::bigint AND revoked_at IS NULL RETURNING id) "
                        "SELECT EXISTS (SELECT 1 FROM r), "
                        "       EXISTS (SELECT 1 FROM exportq.tokens WHERE id = $1::bigint)",
                        id, &res, err) < 0)
        return -1;
    *ok = queue_pg_bool(res, 0, 0);
    PQclear(res);
    return 0;
}
