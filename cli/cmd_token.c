/* cmd_token.c - `exportq token create --owner ID | list | revoke ID`: API tokens. */
#include <errno.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/id.h"
#include "common/pg.h"
#include "queue/queue.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: exportq token create --owner ID\n"
                 "       exportq token list\n"
                 "       exportq token revoke ID\n\n"
                 "API tokens (Authorization: Bearer TOKEN); each belongs to an owner.\n"
                 "  create  prints a new token once; only its SHA-256 is stored\n"
                 "  list    id, owner, created, last used, revoked\n"
                 "  revoke  the token stops working at once\n");
}

static void print_row(const queue_token_row *r, void *ud)
{
    char created[32], used[32], revoked[32];
    (void)ud;
    queue_time_iso(r->created_at, created, sizeof created);
    queue_time_iso(r->last_used_at, used, sizeof used);
    queue_time_iso(r->revoked_at, revoked, sizeof revoked);
    printf("%-6lld %-24s %-20s %-20s %s\n", r->id, r->owner, created, used[0] ? used : "-",
           revoked[0] ? revoked : "-");
}

static int connect_db(eq_config *cfg, PGconn **conn, eq_err *err)
{
    if (cli_load_config(cfg, EQ_NEED_DB) < 0)
        return eq_fail(err, EQ_ERR_CONFIG, "%s", "configuration"); /* already printed */
    return eq_pg_connect(cfg->database_url, "token", conn, err);
}

int cmd_token(int argc, char **argv)
{
    static const struct option opts[] = {{"owner", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    eq_config cfg = {0};
    eq_err err;
    PGconn *conn = NULL;
    const char *owner = NULL, *sub;
    char token[QUEUE_TOKEN_MAX];
    long long id = 0;
    bool ok = false;
    int c, rc = CLI_FAIL;
    eq_err_clear(&err);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return CLI_OK;
    }
    if (argc < 2)
        return cli_usage_error("token", "expected create, list or revoke");
    sub = argv[1];
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "h", opts, NULL)) != -1) {
        if (c == 'o') {
            owner = optarg;
        } else if (c == 'h') {
            usage(stdout);
            return CLI_OK;
        } else {
            return cli_usage_error("token", "unknown option");
        }
    }
    argc -= 1;
    argv += 1;
    if (strcmp(sub, "create") == 0) {
        if (!owner || !*owner)
            return cli_usage_error("token", "create needs --owner ID");
        if (optind != argc)
            return cli_usage_error("token", "unexpected argument '%s'", argv[optind]);
        if (connect_db(&cfg, &conn, &err) < 0 ||
            queue_token_create(conn, owner, token, sizeof token, &id, &err) < 0)
            goto fail;
        printf("%s\n", token);
        fprintf(stderr, "token %lld for owner %s: store it now, it is not shown again\n", id, owner);
        OPENSSL_cleanse(token, sizeof token);
    } else if (strcmp(sub, "list") == 0) {
        if (owner || optind != argc)
            return cli_usage_error("token", "list takes no arguments");
        if (connect_db(&cfg, &conn, &err) < 0)
            goto fail;
        printf("%-6s %-24s %-20s %-20s %s\n", "ID", "OWNER", "CREATED", "LAST USED", "REVOKED");
        if (queue_token_list(conn, print_row, NULL, &err) < 0)
            goto fail;
    } else if (strcmp(sub, "revoke") == 0) {
        if (owner || optind != argc - 1)
            return cli_usage_error("token", "revoke takes one token ID");
        if (eq_id_parse_str(argv[optind], &id) < 0)
            return cli_usage_error("token", "'%s' is not a token id", argv[optind]);
        if (connect_db(&cfg, &conn, &err) < 0 || queue_token_revoke(conn, id, &ok, &err) < 0)
            goto fail;
        if (!ok) {
            fprintf(stderr, "exportq: token %lld was already revoked\n", id);
            goto out;
        }
        printf("revoked token %lld\n", id);
    } else {
        return cli_usage_error("token", "unknown subcommand '%s' (create, list or revoke)", sub);
    }
    rc = CLI_OK;
    goto out;
fail:
    if (err.code != EQ_ERR_CONFIG)
        rc = cli_fail(&err);
out:
    PQfinish(conn);
    eq_config_cleanup(&cfg);
    return rc;
}
