/* cmd_audit.c: drudge audit show|export|verify|checkpoint|keygen|prune and
 * drudge replay: flags and output; the work is in show.c, export.c,
 * verify.c, checkpoint.c, prune.c and replay.c. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "logs/audit/audit.h"
#include "runner/work/replay.h"
#include "runner/cli/cli.h"
#include "runner/store/db.h"
#include "drudge/util.h"

static const char audit_help[] =
    "usage: drudge audit COMMAND [ARGS]\n\n"
    "The audit trail: every step of every attempt, hash-chained in the database.\n\n"
    "  show TASK [--attempt N]        a task's attempts as an indented timeline (--json)\n"
    "  export [--format jsonl|csv] [--since T] [--until T] [--script NAME] [--task ID]\n"
    "         [-o FILE]               one record per step, with its hash and prev_hash\n"
    "  verify [--pubkey FILE]         walk the chain, payloads and checkpoints; name the\n"
    "                                 first row that does not match (exit 6)\n"
    "  checkpoint --key FILE          sign the chain head (Ed25519) and store it\n"
    "  keygen KEYFILE [--pub FILE]    make a key pair: KEYFILE (0600) and KEYFILE.pub\n"
    "  prune --payloads-older-than D  drop payload bytes not used for D (90d, 12w, 36h);\n"
    "         [--dry-run]             the chain and verify are unaffected\n\n"
    "See logs/README.md for the record format and how to verify an export yourself.\n";

static const char replay_help[] =
    "usage: drudge replay TASK [--attempt N] [--script FILE]\n\n"
    "Re-runs a recorded attempt of TASK (default: its last) with the recorded input.\n"
    "Every connector call returns its recorded response instead of touching the world,\n"
    "secret() returns \"[REDACTED:name]\", and each step is compared with the recording\n"
    "(kind, name, parent, request, outcome; the attempt's output and error). Prints\n"
    "\"replayed N steps, identical outcome\" or the first divergence. Nothing is written.\n\n"
    "  --attempt N     the attempt to replay\n"
    "  --script FILE   run FILE instead of the task's script (would the new version\n"
    "                  have done the same?)\n"
    "  -q, --quiet     do not echo log lines to stderr\n\n"
    "exit: 0 identical, 6 diverged, 1 error (no such task, script unreadable)\n";

static int parse_task(const char *cmd, const char *s, int64_t *id)
{
    char *end;
    if (*s == '#')
        s++;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || end == s || v <= 0)
        return drudge_cli_usage(cmd, "TASK must be a task id such as 12 (got '%s')", s);
    *id = v;
    return 0;
}

static int parse_int(const char *cmd, const char *what, const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v <= 0 || v > 1000000)
        return drudge_cli_usage(cmd, "%s must be a whole number > 0 (got '%s')", what, s);
    *out = (int)v;
    return 0;
}

/* "90d", "12w", "36h", "30m", "45s" -> microseconds; -1 if malformed. */
static int64_t parse_age(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0 || end[0] == '\0' || end[1] != '\0')
        return -1;
    double unit;
    switch (*end) {
    case 's':
        unit = 1;
        break;
    case 'm':
        unit = 60;
        break;
    case 'h':
        unit = 3600;
        break;
    case 'd':
        unit = 86400;
        break;
    case 'w':
        unit = 7 * 86400.0;
        break;
    default:
        return -1;
    }
    return (int64_t)(v * unit * 1e6);
}

static int open_db(drudge_cli *cli, const char *cmd, int flags, sqlite3 **db)
{
    drudge_err err = {0};
    if (drudge_db_open(cli->db_path, flags, db, &err))
        return drudge_cli_fail(cmd, &err);
    return 0;
}

/* getopt_long's errors, the same way for every subcommand. */
static int opt_error(const char *cmd, int c, char **argv)
{
    if (c == ':')
        return drudge_cli_usage(cmd, "%s needs a value", argv[optind - 1]);
    return drudge_cli_usage(cmd, "unknown option '%s'", argv[optind - 1]);
}

static int cmd_show(drudge_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"attempt", required_argument, 0, 'a'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int attempt = 0, c, rc;
    int64_t id = 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":a:h", opts, NULL)) != -1) {
        if (c == 'a') {
            if ((rc = parse_int("audit show", "--attempt", optarg, &attempt)))
                return rc;
        } else if (c == 'h') {
            fputs("usage: drudge audit show TASK [--attempt N] [--json]\n\n"
                  "Every attempt of TASK as a timeline: steps indented under their parent,\n"
                  "start time (UTC), duration, outcome, and the error where one failed.\n",
                  stdout);
            return DRUDGE_EXIT_OK;
        } else {
            return opt_error("audit show", c, argv);
        }
    }
    if (optind != argc - 1)
        return drudge_cli_usage("audit show", "give exactly one TASK");
    if ((rc = parse_task("audit show", argv[optind], &id)))
        return rc;
    sqlite3 *db;
    if ((rc = open_db(cli, "audit show", DRUDGE_DB_READONLY, &db)))
        return rc;
    drudge_err err = {0};
    rc = drudge_audit_show(db, stdout, id, attempt, cli->json, &err)
             ? drudge_cli_fail("audit show", &err)
             : DRUDGE_EXIT_OK;
    sqlite3_close(db);
    return rc;
}

static int cmd_export(drudge_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"format", required_argument, 0, 'f'}, {"since", required_argument, 0, 's'},
        {"until", required_argument, 0, 'u'},  {"script", required_argument, 0, 'S'},
        {"task", required_argument, 0, 't'},   {"output", required_argument, 0, 'o'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    drudge_export_opts eo = {0};
    const char *outfile = NULL;
    int c, rc;
    int64_t now = drudge_now_us();
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":f:s:u:S:t:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (!strcmp(optarg, "jsonl") || !strcmp(optarg, "json"))
                eo.format = DRUDGE_EXPORT_JSONL;
            else if (!strcmp(optarg, "csv"))
                eo.format = DRUDGE_EXPORT_CSV;
            else
                return drudge_cli_usage("audit export", "--format is jsonl or csv (got '%s')",
                                        optarg);
            break;
        case 's':
        case 'u':
            if (drudge_parse_time(optarg, now, c == 's' ? &eo.since_us : &eo.until_us) != 0)
                return drudge_cli_usage("audit export",
                                        "--%s: cannot read '%s' as a time (2026-11-23, "
                                        "2026-11-23T19:00, now, +1d)",
                                        c == 's' ? "since" : "until", optarg);
            break;
        case 'S':
            eo.script = optarg;
            break;
        case 't':
            if ((rc = parse_task("audit export", optarg, &eo.task_id)))
                return rc;
            break;
        case 'o':
            outfile = optarg;
            break;
        case 'h':
            fputs("usage: drudge audit export [--format jsonl|csv] [--since T] [--until T]\n"
                  "                           [--script NAME] [--task ID] [-o FILE]\n\n"
                  "One record per step in chain order: id, task_id, attempt, seq, parent,\n"
                  "kind, name, request, response, started_at (µs), duration_us, outcome,\n"
                  "error, hash, prev_hash, script, started (ISO 8601). --since/--until\n"
                  "select steps by start time. See logs/README.md to verify an export.\n",
                  stdout);
            return DRUDGE_EXIT_OK;
        default:
            return opt_error("audit export", c, argv);
        }
    }
    if (optind != argc)
        return drudge_cli_usage("audit export", "unexpected argument '%s'", argv[optind]);
    sqlite3 *db;
    if ((rc = open_db(cli, "audit export", DRUDGE_DB_READONLY, &db)))
        return rc;
    FILE *out = stdout;
    drudge_err err = {0};
    /* Case data, even redacted: the file is private (0600) like the database. */
    int fd = outfile ? open(outfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
    if (outfile && (fd < 0 || !(out = fdopen(fd, "w")))) {
        if (fd >= 0)
            close(fd);
        fprintf(stderr, "drudge audit export: cannot write %s: %s\n", outfile, strerror(errno));
        sqlite3_close(db);
        return DRUDGE_EXIT_ERROR;
    }
    int64_t rows = 0;
    rc = drudge_audit_export(db, out, &eo, &rows, &err) ? drudge_cli_fail("audit export", &err)
                                                        : DRUDGE_EXIT_OK;
    if (outfile && fclose(out) != 0 && rc == DRUDGE_EXIT_OK) {
        fprintf(stderr, "drudge audit export: cannot write %s: %s\n", outfile, strerror(errno));
        rc = DRUDGE_EXIT_ERROR;
    }
    if (outfile && rc == DRUDGE_EXIT_OK && !cli->quiet)
        fprintf(stderr, "exported %lld steps to %s\n", (long long)rows, outfile);
    sqlite3_close(db);
    return rc;
}

static int cmd_verify(drudge_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"pubkey", required_argument, 0, 'p'},
                                         {"no-payloads", no_argument, 0, 'n'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    drudge_verify_opts vo = {0};
    int c, rc;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":p:nh", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            vo.pubkey_path = optarg;
            break;
        case 'n':
            vo.skip_payloads = 1;
            break;
        case 'h':
            fputs("usage: drudge audit verify [--pubkey FILE] [--no-payloads] [--json]\n\n"
                  "Recomputes every row's hash, checks every payload against its SHA-256\n"
                  "(pruned payloads are reported as pruned) and every checkpoint's\n"
                  "signature and signed head. With --pubkey the checkpoints must be signed\n"
                  "by that key, which also catches a chain rewritten as a whole.\n"
                  "exit: 0 intact, 6 tampered (the first row that does not match is named)\n",
                  stdout);
            return DRUDGE_EXIT_OK;
        default:
            return opt_error("audit verify", c, argv);
        }
    }
    if (optind != argc)
        return drudge_cli_usage("audit verify", "unexpected argument '%s'", argv[optind]);
    sqlite3 *db;
    if ((rc = open_db(cli, "audit verify", DRUDGE_DB_READONLY, &db)))
        return rc;
    drudge_err err = {0};
    drudge_verify_report rep;
    drudge_code code = drudge_audit_verify(db, &vo, &rep, &err);
    sqlite3_close(db);
    if (code && code != DRUDGE_ETAMPER)
        return drudge_cli_fail("audit verify", &err);
    if (cli->json) {
        drudge_buf b = {0};
        drudge_buf_printf(&b,
                          "{\"ok\":%s,\"rows\":%lld,\"head\":\"%s\",\"payloads\":%lld,"
                          "\"pruned\":%lld,\"checkpoints\":%lld,\"signed_rows\":%lld,"
                          "\"problems\":[",
                          rep.problems ? "false" : "true", (long long)rep.rows, rep.head,
                          (long long)rep.payloads, (long long)rep.pruned,
                          (long long)rep.checkpoints, (long long)rep.signed_rows);
        int first = 1;
        for (char *line = rep.text, *nl; line && *line; line = nl + 1) {
            nl = strchr(line, '\n');
            if (!nl)
                break;
            if (!first)
                drudge_buf_puts(&b, ",");
            drudge_buf_json_str(&b, line, (size_t)(nl - line));
            first = 0;
        }
        drudge_buf_puts(&b, "]}\n");
        fputs(b.data, stdout);
        drudge_buf_free(&b);
    } else if (rep.problems) {
        fprintf(stderr, "drudge audit verify: the audit trail does NOT verify (%d problem%s):\n%s",
                rep.problems, rep.problems == 1 ? "" : "s", rep.text ? rep.text : "");
    } else {
        printf("ok: %lld rows, head %.16s..., %lld payloads (%lld pruned), %lld checkpoint%s",
               (long long)rep.rows, rep.rows ? rep.head : "(empty)", (long long)rep.payloads,
               (long long)rep.pruned, (long long)rep.checkpoints, rep.checkpoints == 1 ? "" : "s");
        if (vo.pubkey_path)
            printf(" signed by %s; rows 1-%lld pinned, %lld after the last checkpoint",
                   vo.pubkey_path, (long long)rep.signed_rows,
                   (long long)(rep.rows - rep.signed_rows));
        printf("\n");
    }
    rc = rep.problems ? DRUDGE_EXIT_INVALID : DRUDGE_EXIT_OK;
    drudge_verify_report_clear(&rep);
    return rc;
}

static int cmd_checkpoint(drudge_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"key", required_argument, 0, 'k'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *key = NULL;
    int c, rc;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":k:h", opts, NULL)) != -1) {
        if (c == 'k') {
            key = optarg;
        } else if (c == 'h') {
            fputs("usage: drudge audit checkpoint --key FILE [--json]\n\n"
                  "Signs the chain head (its hash, row id and row count, and the time) with\n"
                  "the Ed25519 private key in FILE (mode 0600; see drudge audit keygen) and\n"
                  "stores the checkpoint. The rows since the last checkpoint are re-hashed\n"
                  "first: a chain that does not verify is not signed. Keep the key off the\n"
                  "database host if you can; audit verify --pubkey needs only the public key.\n",
                  stdout);
            return DRUDGE_EXIT_OK;
        } else {
            return opt_error("audit checkpoint", c, argv);
        }
    }
    if (!key)
        return drudge_cli_usage("audit checkpoint", "which key? give --key FILE");
    if (optind != argc)
        return drudge_cli_usage("audit checkpoint", "unexpected argument '%s'", argv[optind]);
    sqlite3 *db;
    if ((rc = open_db(cli, "audit checkpoint", DRUDGE_DB_NOCREATE, &db)))
        return rc;
    drudge_err err = {0};
    drudge_checkpoint cp;
    if (drudge_audit_checkpoint_ex(db, key, &cp, &err)) {
        sqlite3_close(db);
        return drudge_cli_fail("audit checkpoint", &err);
    }
    sqlite3_close(db);
    if (cli->json)
        printf("{\"checkpoint\":%lld,\"step_id\":%lld,\"row_count\":%lld,\"head\":\"%s\","
               "\"created_at\":%lld,\"public_key\":\"%s\",\"unchanged\":%s}\n",
               (long long)cp.id, (long long)cp.step_id, (long long)cp.row_count, cp.head_hash,
               (long long)cp.created_at, cp.public_key, cp.unchanged ? "true" : "false");
    else if (cp.unchanged)
        printf("the chain head (row %lld) is already checkpointed; nothing written\n",
               (long long)cp.step_id);
    else if (!cli->quiet)
        printf("checkpoint #%lld: row %lld, %lld rows, head %.16s..., key %.16s...\n",
               (long long)cp.id, (long long)cp.step_id, (long long)cp.row_count, cp.head_hash,
               cp.public_key);
    return DRUDGE_EXIT_OK;
}

static int cmd_keygen(drudge_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"pub", required_argument, 0, 'p'},
                                         {"key", required_argument, 0, 'k'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *pub = NULL, *key = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":p:k:h", opts, NULL)) != -1) {
        if (c == 'p') {
            pub = optarg;
        } else if (c == 'k') {
            key = optarg;
        } else if (c == 'h') {
            fputs("usage: drudge audit keygen KEYFILE|--key KEYFILE [--pub FILE]\n\n"
                  "Makes an Ed25519 key pair for signing checkpoints: the private key in\n"
                  "KEYFILE (PEM, mode 0600) and the public key in FILE (default KEYFILE.pub).\n"
                  "Existing files are never overwritten.\n",
                  stdout);
            return DRUDGE_EXIT_OK;
        } else {
            return opt_error("audit keygen", c, argv);
        }
    }
    if (optind != argc - (key ? 0 : 1))
        return drudge_cli_usage("audit keygen", "give exactly one KEYFILE");
    if (!key)
        key = argv[optind];
    drudge_buf def = {0};
    if (!pub) {
        drudge_buf_printf(&def, "%s.pub", key);
        pub = def.data;
    }
    drudge_err err = {0};
    int rc = DRUDGE_EXIT_OK;
    if (drudge_audit_keygen(key, pub, &err))
        rc = drudge_cli_fail("audit keygen", &err);
    else if (!cli->quiet)
        printf("private key %s (keep it off the database host), public key %s\n", key, pub);
    drudge_buf_free(&def);
    return rc;
}

static int cmd_prune(drudge_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"payloads-older-than", required_argument, 0, 'o'},
                                         {"dry-run", no_argument, 0, 'n'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int64_t age = -1;
    int dry = 0, c, rc;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:nh", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            if ((age = parse_age(optarg)) < 0)
                return drudge_cli_usage("audit prune",
                                        "--payloads-older-than takes an age such as 90d, 12w or "
                                        "36h (got '%s')",
                                        optarg);
            break;
        case 'n':
            dry = 1;
            break;
        case 'h':
            fputs("usage: drudge audit prune --payloads-older-than AGE [--dry-run]\n\n"
                  "Drops the bytes of payloads (bodies, screenshots) last used more than AGE\n"
                  "ago (s, m, h, d, w: 90d). The payload rows stay with data NULL and\n"
                  "pruned_at set, so the chain still verifies and verify reports them as\n"
                  "pruned. Step rows are never pruned. Space is reused by SQLite; run\n"
                  "sqlite3 DB 'VACUUM' to shrink the file.\n",
                  stdout);
            return DRUDGE_EXIT_OK;
        default:
            return opt_error("audit prune", c, argv);
        }
    }
    if (age < 0)
        return drudge_cli_usage("audit prune", "give --payloads-older-than AGE (e.g. 90d)");
    if (optind != argc)
        return drudge_cli_usage("audit prune", "unexpected argument '%s'", argv[optind]);
    sqlite3 *db;
    if ((rc = open_db(cli, "audit prune", DRUDGE_DB_NOCREATE, &db)))
        return rc;
    drudge_err err = {0};
    int64_t n, bytes;
    if (drudge_audit_prune(db, drudge_now_us() - age, dry, &n, &bytes, &err)) {
        sqlite3_close(db);
        return drudge_cli_fail("audit prune", &err);
    }
    sqlite3_close(db);
    if (cli->json)
        printf("{\"pruned\":%lld,\"bytes\":%lld,\"dry_run\":%s}\n", (long long)n, (long long)bytes,
               dry ? "true" : "false");
    else if (!cli->quiet)
        printf("%s %lld payload%s (%.1f MB)\n", dry ? "would prune" : "pruned", (long long)n,
               n == 1 ? "" : "s", (double)bytes / 1e6);
    return DRUDGE_EXIT_OK;
}

int drudge_cmd_audit(drudge_cli *cli, int argc, char **argv)
{
    static const struct {
        const char *name;
        drudge_cmd_fn fn;
    } subs[] = {{"show", cmd_show},     {"export", cmd_export},
                {"verify", cmd_verify}, {"checkpoint", cmd_checkpoint},
                {"keygen", cmd_keygen}, {"prune", cmd_prune}};
    if (argc < 2)
        return drudge_cli_usage("audit", "which command? show, export, verify, checkpoint, "
                                         "keygen or prune");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(audit_help, stdout);
        return DRUDGE_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        if (!strcmp(argv[1], subs[i].name))
            return subs[i].fn(cli, argc - 1, argv + 1);
    return drudge_cli_usage("audit",
                            "unknown command '%s' (show, export, verify, checkpoint, "
                            "keygen, prune)",
                            argv[1]);
}

int drudge_cmd_replay(drudge_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"attempt", required_argument, 0, 'a'},
                                         {"script", required_argument, 0, 's'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    drudge_replay_opts ro = {.echo_logs = !cli->quiet};
    int c, rc;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":a:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'a':
            if ((rc = parse_int("replay", "--attempt", optarg, &ro.attempt)))
                return rc;
            break;
        case 's':
            ro.script_path = optarg;
            break;
        case 'h':
            fputs(replay_help, stdout);
            return DRUDGE_EXIT_OK;
        default:
            return opt_error("replay", c, argv);
        }
    }
    if (optind != argc - 1)
        return drudge_cli_usage("replay", "give exactly one TASK");
    if ((rc = parse_task("replay", argv[optind], &ro.task_id)))
        return rc;
    drudge_store *st = drudge_cli_store(cli, "replay", DRUDGE_STORE_READONLY, &rc);
    if (!st)
        return rc;
    char *files = drudge_cli_files_dir(cli);
    ro.files_dir = files;
    drudge_err err = {0};
    drudge_replay_result res;
    drudge_code code = drudge_replay(st, &ro, &res, &err);
    drudge_store_close(st);
    free(files);
    if (code && code != DRUDGE_EDIVERGE)
        return drudge_cli_fail("replay", &err);
    if (cli->json) {
        drudge_buf b = {0};
        drudge_buf_printf(&b,
                          "{\"task\":%lld,\"attempt\":%d,\"steps\":%zu,\"recorded\":%zu,"
                          "\"outcome\":\"%s\",\"pruned_payloads\":%d,\"identical\":%s,"
                          "\"divergence\":",
                          (long long)ro.task_id, res.attempt, res.steps, res.recorded,
                          res.outcome ? res.outcome : "", res.pruned,
                          res.divergence ? "false" : "true");
        if (res.divergence)
            drudge_buf_json_str(&b, res.divergence, strlen(res.divergence));
        else
            drudge_buf_puts(&b, "null");
        drudge_buf_puts(&b, "}\n");
        fputs(b.data, stdout);
        drudge_buf_free(&b);
    } else if (res.divergence) {
        printf("task #%lld attempt %d: DIVERGED at %s\n", (long long)ro.task_id, res.attempt,
               res.divergence);
    } else {
        printf("task #%lld attempt %d: replayed %zu steps, identical outcome (%s)\n",
               (long long)ro.task_id, res.attempt, res.steps, res.outcome);
    }
    if (res.pruned && !cli->json)
        fprintf(stderr,
                "note: %d payload%s of this attempt %s pruned; steps that need them cannot be "
                "replayed\n",
                res.pruned, res.pruned == 1 ? "" : "s", res.pruned == 1 ? "was" : "were");
    rc = res.divergence ? DRUDGE_EXIT_INVALID : DRUDGE_EXIT_OK;
    drudge_replay_result_clear(&res);
    return rc;
}
