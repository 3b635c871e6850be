/* cmd_db.c: `drudge db`, the database as a whole: `db copy` moves a
 * database (an SQLite file, say) into another, empty one (a PostgreSQL
 * database for a fleet) through the store's copy operations, table by table
 * in one transaction, and shows that the audit chain's head is the same on
 * both. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "drudge/util.h"
#include "runner/cli/cli.h"

static const char db_help[] =
    "usage: drudge db copy --to DATABASE\n"
    "       drudge db backup FILE\n\n"
    "backup writes a consistent copy of an SQLite database to FILE (created 0600,\n"
    "never overwritten) while workers run: one self-contained file to hand over.\n"
    "For PostgreSQL it says how to use pg_dump.\n\n"
    "Copies the database named by --db (or $DRUDGE_DB) into DATABASE, which must\n"
    "hold no task and no audit row yet: tasks and their attempts, scripts, paused\n"
    "scripts, schedules, the audit chain with its payloads and checkpoints. Ids\n"
    "and hashes are kept, so `drudge audit verify` gives the same head on both.\n"
    "Stop the workers first: a task running during the copy is copied as queued.\n"
    "DATABASE is a file path or a postgresql:// URL; a password belongs in\n"
    "~/.pgpass or a service file (PGSERVICE), never on the command line.\n\n"
    "  --to DATABASE   where to copy to\n\n"
    "exit: 0 copied, 1 database error (or DATABASE not empty), 2 usage\n";

typedef struct copy_run {
    drudge_store *to;
    drudge_err *err;
    drudge_code rc;
    int64_t rows;
} copy_run;

static int copy_row(void *ud, const drudge_copy_row *row)
{
    copy_run *c = ud;
    c->rc = drudge_store_copy_in(c->to, row, c->err);
    c->rows++;
    return c->rc != DRUDGE_OK;
}

/* Every table, in one transaction of the target; prints a line per table. */
static drudge_code copy_tables(drudge_store *from, drudge_store *to, int quiet, drudge_err *err)
{
    drudge_code rc = drudge_store_begin(to, DRUDGE_TX_WRITE, err);
    for (const drudge_copy_table *t = drudge_copy_tables; t->name && !rc; t++) {
        copy_run c = {.to = to, .err = err};
        rc = drudge_store_copy_out(from, t, copy_row, &c, err);
        if (!rc)
            rc = c.rc;
        if (!rc && !quiet)
            printf("  %-12s %lld rows\n", t->name, (long long)c.rows);
    }
    if (!rc)
        rc = drudge_store_copy_finish(to, err);
    if (!rc)
        rc = drudge_store_commit(to, err);
    if (rc)
        drudge_store_rollback(to);
    return rc;
}

static drudge_code check_empty(drudge_store *to, drudge_err *err)
{
    int empty = 0;
    drudge_code rc = drudge_store_empty(to, &empty, err);
    if (!rc && !empty)
        rc = drudge_seterr(err, DRUDGE_ESTATE,
                           "database %s already holds tasks or audit rows: copy into an empty "
                           "one",
                           drudge_store_name(to));
    return rc;
}

static int db_copy(drudge_cli *cli, const char *dest)
{
    drudge_err err = {0};
    drudge_store *to = NULL;
    int exit = DRUDGE_EXIT_OK;
    drudge_store *from = drudge_cli_store(cli, "db copy", DRUDGE_STORE_READONLY, &exit);
    if (!from)
        return exit;
    drudge_code rc = drudge_store_open(dest, DRUDGE_STORE_BULK, &to, &err);
    if (!rc)
        rc = check_empty(to, &err);
    if (!rc && !cli->quiet)
        printf("copying %s to %s:\n", drudge_store_name(from), drudge_store_name(to));
    if (!rc)
        rc = copy_tables(from, to, cli->quiet, &err);
    int64_t id_from = 0, id_to = 0;
    char head_from[65] = "", head_to[65] = "";
    if (!rc)
        rc = drudge_store_chain_head(from, &id_from, head_from, &err);
    if (!rc)
        rc = drudge_store_chain_head(to, &id_to, head_to, &err);
    if (!rc && (id_from != id_to || strcmp(head_from, head_to)))
        rc = drudge_seterr(&err, DRUDGE_EDB,
                           "the copy's chain head (row %lld) is not the original's (row %lld)",
                           (long long)id_to, (long long)id_from);
    if (!rc && !cli->quiet)
        printf("audit chain head: row %lld, %s (the same on both)\n", (long long)id_to, head_to);
    if (!rc && cli->json)
        printf("{\"steps\":%lld,\"head\":\"%s\"}\n", (long long)id_to, head_to);
    drudge_store_close(to);
    return drudge_cli_done("db copy", from, rc, &err);
}

static int db_backup(drudge_cli *cli, int argc, char **argv)
{
    if (argc != 3 || argv[2][0] == '-')
        return drudge_cli_usage("db backup", "give the FILE to write (and nothing else)");
    int exit = DRUDGE_EXIT_OK;
    drudge_store *s = drudge_cli_store(cli, "db backup", DRUDGE_STORE_READONLY, &exit);
    if (!s)
        return exit;
    drudge_err err = {0};
    int64_t pages = 0, t0 = drudge_mono_us();
    drudge_code rc = drudge_store_backup(s, argv[2], &pages, &err);
    if (!rc && cli->json)
        printf("{\"file\":\"%s\",\"pages\":%lld}\n", argv[2], (long long)pages);
    else if (!rc && !cli->quiet)
        printf("backed up %s to %s: %lld pages in %.2f s (verify it with drudge --db %s audit "
               "verify)\n",
               drudge_store_name(s), argv[2], (long long)pages,
               (double)(drudge_mono_us() - t0) / 1e6, argv[2]);
    return drudge_cli_done("db backup", s, rc, &err);
}

int drudge_cmd_db(drudge_cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"to", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    const char *dest = NULL;
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(db_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? DRUDGE_EXIT_USAGE : DRUDGE_EXIT_OK;
    }
    if (!strcmp(argv[1], "backup"))
        return db_backup(cli, argc, argv);
    if (strcmp(argv[1], "copy") != 0)
        return drudge_cli_usage("db", "unknown subcommand '%s'", argv[1]);
    argc--;
    argv++;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 't':
            dest = optarg;
            break;
        case 'h':
            fputs(db_help, stdout);
            return DRUDGE_EXIT_OK;
            DRUDGE_CLI_GETOPT_ERRORS("db copy");
        }
    }
    if (!dest)
        return drudge_cli_usage("db copy", "--to DATABASE is required");
    if (optind < argc)
        return drudge_cli_usage("db copy", "unexpected argument '%s'", argv[optind]);
    return db_copy(cli, dest);
}
