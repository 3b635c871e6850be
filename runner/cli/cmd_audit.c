/* cmd_audit.c: drudge audit show|export|verify|checkpoint|keygen|prune and
 * drudge replay: flags and output; the work is in show.c, export.c,
 * verify.c, checkpoint.c, prune.c and replay.c. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdint.h>
#include "connectors/mail/mail.h"
#include "logs/audit/audit.h"
#include "runner/util/module.h"
#include "runner/work/replay.h"
#include "runner/cli/cli.h"
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
    "  evidence TASK --out DIR        every payload of a task as files, with a manifest\n"
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

/* Runs getopt_long over argv, handing each option to fn with a; returns an
 * exit code, or -1 to go on (as fn does). */
static int parse_opts(int argc, char **argv, const char *shorts, const struct option *opts,
                      int (*fn)(int c, void *a, char **argv), void *a)
{
    optind = 1;
    opterr = 0;
    for (int c = getopt_long(argc, argv, shorts, opts, NULL); c != -1;
         c = getopt_long(argc, argv, shorts, opts, NULL)) {
        int rc = fn(c, a, argv);
        if (rc >= 0)
            return rc;
    }
    return -1;
}

/* TASK ("12" or "#12") into *id; an exit code, or -1 to go on. */
static int task_arg(const char *cmd, const char *s, int64_t *id)
{
    if (drudge_cli_parse_task_id(s, id))
        return drudge_cli_usage(cmd, "TASK must be a task id such as 12 (got '%s')",
                                s + (*s == '#'));
    return -1;
}

/* --attempt N into *attempt; an exit code, or -1 to go on. */
static int attempt_arg(const char *cmd, const char *s, int *attempt)
{
    long v;
    if (drudge_cli_parse_long(s, 1, 1000000, &v))
        return drudge_cli_usage(cmd, "--attempt must be a whole number > 0 (got '%s')", s);
    *attempt = (int)v;
    return -1;
}

/* "90d", "12w", "36h", "30m", "45s" -> microseconds; -1 if malformed. Unlike
 * drudge_cli_parse_duration, a unit is required and weeks are one: ages
 * are long. */
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

/* ---- show ---- */

typedef struct show_args {
    int attempt, full, html;
    const char *out;
} show_args;

static int show_opt(int c, void *ud, char **argv)
{
    show_args *a = ud;
    switch (c) {
    case 'a':
        return attempt_arg("audit show", optarg, &a->attempt);
    case 'f':
        a->full = 1;
        return -1;
    case 'H':
        a->html = 1;
        return -1;
    case 'o':
        a->out = optarg;
        return -1;
    case 'h':
        fputs("usage: drudge audit show TASK [--attempt N] [--full] [--json]\n"
              "       drudge audit show TASK --html [--out FILE]\n\n"
              "Every attempt of TASK as a timeline: steps indented under their parent,\n"
              "start time (UTC), duration, outcome, and the error where one failed.\n"
              "--full prints each step's request and response (JSON) under it.\n"
              "--html writes the task's case record: one printable HTML page with the\n"
              "task, its script version, the verify status and chain head now, the\n"
              "timeline as a tree, screenshots inline, and what operators did (to FILE,\n"
              "created 0600, or standard output).\n",
              stdout);
        return DRUDGE_EXIT_OK;
        DRUDGE_CLI_GETOPT_ERRORS("audit show");
    }
}

static FILE *open_output(const char *cmd, const char *path);

/* The case record, to a private file (case data) or standard output. A file
 * is written whole or not at all: a half record must not look like one. */
static int show_html(drudge_cli *cli, int64_t id, const char *path)
{
    int rc;
    drudge_store *s = drudge_cli_store(cli, "audit show", DRUDGE_STORE_READONLY, &rc);
    if (!s)
        return rc;
    FILE *out = open_output("audit show", path);
    if (!out) {
        drudge_store_close(s);
        return DRUDGE_EXIT_ERROR;
    }
    drudge_err err = {0};
    drudge_code code = drudge_audit_show_html(s, out, id, &err);
    rc = drudge_cli_done("audit show", s, code, &err);
    if (path && fclose(out) != 0 && rc == DRUDGE_EXIT_OK) {
        fprintf(stderr, "drudge audit show: cannot write %s: %s\n", path, strerror(errno));
        rc = DRUDGE_EXIT_ERROR;
    }
    if (path && rc != DRUDGE_EXIT_OK)
        unlink(path);
    else if (path && !cli->quiet)
        fprintf(stderr, "case record of task #%lld in %s\n", (long long)id, path);
    return rc;
}

static int cmd_show(drudge_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"attempt", required_argument, 0, 'a'},
                                         {"full", no_argument, 0, 'f'},
                                         {"html", no_argument, 0, 'H'},
                                         {"out", required_argument, 0, 'o'},
                                         {"output", required_argument, 0, 'o'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    show_args a = {0};
    int64_t id = 0;
    int rc = parse_opts(argc, argv, ":a:fo:h", opts, show_opt, &a);
    if (rc >= 0)
        return rc;
    if (optind != argc - 1)
        return drudge_cli_usage("audit show", "give exactly one TASK");
    rc = task_arg("audit show", argv[optind], &id);
    if (rc >= 0)
        return rc;
    if (a.html && (a.full || a.attempt || cli->json))
        return drudge_cli_usage("audit show", "--html shows every attempt in full: it takes "
                                              "no --attempt, --full or --json");
    if (a.out && !a.html)
        return drudge_cli_usage("audit show", "--out is for --html (the text goes to standard "
                                              "output)");
    if (a.html)
        return show_html(cli, id, a.out);
    drudge_store *s = drudge_cli_store(cli, "audit show", DRUDGE_STORE_READONLY, &rc);
    if (!s)
        return rc;
    drudge_err err = {0};
    drudge_code code = drudge_audit_show_ex(s, stdout, id, a.attempt, cli->json, a.full, &err);
    return drudge_cli_done("audit show", s, code, &err);
}

/* ---- export ---- */

typedef struct export_args {
    drudge_export_opts eo;
    const char *outfile;
    int64_t now;
} export_args;

static int export_opt(int c, void *ud, char **argv)
{
    export_args *a = ud;
    switch (c) {
    case 'f':
        if (!strcmp(optarg, "jsonl") || !strcmp(optarg, "json"))
            a->eo.format = DRUDGE_EXPORT_JSONL;
        else if (!strcmp(optarg, "csv"))
            a->eo.format = DRUDGE_EXPORT_CSV;
        else
            return drudge_cli_usage("audit export", "--format is jsonl or csv (got '%s')", optarg);
        return -1;
    case 's':
    case 'u':
        return drudge_cli_parse_time("audit export", c == 's' ? "--since" : "--until", optarg,
                                     a->now, DRUDGE_TIME_PAST,
                                     c == 's' ? &a->eo.since_us : &a->eo.until_us);
    case 'S':
        a->eo.script = optarg;
        return -1;
    case 't':
        return task_arg("audit export", optarg, &a->eo.task_id);
    case 'o':
        a->outfile = optarg;
        return -1;
    case 'P':
        a->eo.payloads_dir = optarg;
        return -1;
    case 'h':
        fputs("usage: drudge audit export [--format jsonl|csv] [--since T] [--until T]\n"
              "                           [--script NAME] [--task ID] [-o FILE]\n"
              "                           [--payloads DIR]\n\n"
              "One record per step in chain order: id, task_id, attempt, seq, parent,\n"
              "kind, name, request, response, started_at (µs), duration_us, outcome,\n"
              "error, hash, prev_hash, script, started (ISO 8601). --since/--until\n"
              "select steps by start time. --payloads DIR (JSONL) also writes every\n"
              "payload the rows reference into DIR as SHA256.EXT (0600) and lists them\n"
              "in each row's \"payloads\". See logs/README.md to verify an export.\n",
              stdout);
        return DRUDGE_EXIT_OK;
        DRUDGE_CLI_GETOPT_ERRORS("audit export");
    }
}

/* -o FILE, or standard output; NULL (said why) if it cannot be written. Case
 * data, even redacted: the file is private (0600) like the database. */
static FILE *open_output(const char *cmd, const char *path)
{
    if (!path)
        return stdout;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    /* An existing file keeps its mode through O_TRUNC: make it private. */
    if (fd >= 0)
        fchmod(fd, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        fprintf(stderr, "drudge %s: cannot write %s: %s\n", cmd, path, strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    return f;
}

static int cmd_export(drudge_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"format", required_argument, 0, 'f'},
                                         {"since", required_argument, 0, 's'},
                                         {"until", required_argument, 0, 'u'},
                                         {"script", required_argument, 0, 'S'},
                                         {"task", required_argument, 0, 't'},
                                         {"output", required_argument, 0, 'o'},
                                         {"payloads", required_argument, 0, 'P'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    export_args a = {.now = drudge_now_us()};
    int rc = parse_opts(argc, argv, ":f:s:u:S:t:o:P:h", opts, export_opt, &a);
    if (rc >= 0)
        return rc;
    if (optind != argc)
        return drudge_cli_usage("audit export", "unexpected argument '%s'", argv[optind]);
    if (a.eo.payloads_dir && a.eo.format == DRUDGE_EXPORT_CSV)
        return drudge_cli_usage("audit export", "--payloads needs --format jsonl (a CSV row has "
                                                "no room for its list of payload files)");
    drudge_store *s = drudge_cli_store(cli, "audit export", DRUDGE_STORE_READONLY, &rc);
    if (!s)
        return rc;
    FILE *out = open_output("audit export", a.outfile);
    if (!out) {
        drudge_store_close(s);
        return DRUDGE_EXIT_ERROR;
    }
    drudge_err err = {0};
    int64_t rows = 0;
    drudge_code code = drudge_audit_export(s, out, &a.eo, &rows, &err);
    rc = drudge_cli_done("audit export", s, code, &err);
    if (a.outfile && fclose(out) != 0 && rc == DRUDGE_EXIT_OK) {
        fprintf(stderr, "drudge audit export: cannot write %s: %s\n", a.outfile, strerror(errno));
        rc = DRUDGE_EXIT_ERROR;
    }
    if (a.outfile && rc == DRUDGE_EXIT_OK && !cli->quiet)
        fprintf(stderr, "exported %lld steps to %s\n", (long long)rows, a.outfile);
    if (a.eo.payloads_dir && rc == DRUDGE_EXIT_OK && !cli->quiet)
        fprintf(stderr, "wrote %lld payload file%s to %s\n", (long long)a.eo.payload_files,
                a.eo.payload_files == 1 ? "" : "s", a.eo.payloads_dir);
    return rc;
}

/* ---- verify ---- */

static int verify_opt(int c, void *ud, char **argv)
{
    drudge_verify_opts *vo = ud;
    switch (c) {
    case 'p':
        vo->pubkey_path = optarg;
        return -1;
    case 'n':
        vo->skip_payloads = 1;
        return -1;
    case 'h':
        fputs("usage: drudge audit verify [--pubkey FILE] [--no-payloads] [--json]\n\n"
              "Recomputes every row's hash, checks every payload against its SHA-256\n"
              "(pruned payloads are reported as pruned) and every checkpoint's\n"
              "signature and signed head. With --pubkey the checkpoints must be signed\n"
              "by that key, which also catches a chain rewritten as a whole.\n"
              "exit: 0 intact, 6 tampered (the first row that does not match is named)\n",
              stdout);
        return DRUDGE_EXIT_OK;
        DRUDGE_CLI_GETOPT_ERRORS("audit verify");
    }
}

static void print_verify_json(const drudge_verify_report *rep)
{
    drudge_buf b = {0};
    drudge_buf_printf(&b,
                      "{\"ok\":%s,\"rows\":%lld,\"head\":\"%s\",\"payloads\":%lld,"
                      "\"pruned\":%lld,\"checkpoints\":%lld,\"signed_rows\":%lld,"
                      "\"problems\":[",
                      rep->problems ? "false" : "true", (long long)rep->rows, rep->head,
                      (long long)rep->payloads, (long long)rep->pruned, (long long)rep->checkpoints,
                      (long long)rep->signed_rows);
    /* One problem per line of the text. */
    const char *line = rep->text ? rep->text : "";
    const char *nl = strchr(line, '\n');
    for (int first = 1; nl; first = 0) {
        if (!first)
            drudge_buf_puts(&b, ",");
        drudge_buf_json_str(&b, line, (size_t)(nl - line));
        line = nl + 1;
        nl = strchr(line, '\n');
    }
    drudge_buf_puts(&b, "]}\n");
    fputs(b.data, stdout);
    drudge_buf_free(&b);
}

static void print_verify_text(const drudge_verify_report *rep, const char *pubkey)
{
    if (rep->problems) {
        fprintf(stderr, "drudge audit verify: the audit trail does NOT verify (%d problem%s):\n%s",
                rep->problems, rep->problems == 1 ? "" : "s", rep->text ? rep->text : "");
        return;
    }
    printf("ok: %lld rows, head %.16s..., %lld payloads (%lld pruned), %lld checkpoint%s",
           (long long)rep->rows, rep->rows ? rep->head : "(empty)", (long long)rep->payloads,
           (long long)rep->pruned, (long long)rep->checkpoints, rep->checkpoints == 1 ? "" : "s");
    if (pubkey)
        printf(" signed by %s; rows 1-%lld pinned, %lld after the last checkpoint", pubkey,
               (long long)rep->signed_rows, (long long)(rep->rows - rep->signed_rows));
    printf("\n");
}

static int cmd_verify(drudge_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"pubkey", required_argument, 0, 'p'},
                                         {"no-payloads", no_argument, 0, 'n'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    drudge_verify_opts vo = {0};
    int rc = parse_opts(argc, argv, ":p:nh", opts, verify_opt, &vo);
    if (rc >= 0)
        return rc;
    if (optind != argc)
        return drudge_cli_usage("audit verify", "unexpected argument '%s'", argv[optind]);
    drudge_store *s = drudge_cli_store(cli, "audit verify", DRUDGE_STORE_READONLY, &rc);
    if (!s)
        return rc;
    drudge_err err = {0};
    drudge_verify_report rep;
    drudge_code code = drudge_audit_verify(s, &vo, &rep, &err);
    /* Tampering is the check's finding, not a failure to run it. */
    rc = drudge_cli_done("audit verify", s, code == DRUDGE_ETAMPER ? DRUDGE_OK : code, &err);
    if (rc)
        return rc;
    if (cli->json)
        print_verify_json(&rep);
    else
        print_verify_text(&rep, vo.pubkey_path);
    rc = rep.problems ? DRUDGE_EXIT_INVALID : DRUDGE_EXIT_OK;
    drudge_verify_report_clear(&rep);
    return rc;
}

/* ---- checkpoint, keygen ---- */

static int checkpoint_opt(int c, void *ud, char **argv)
{
    const char **key = ud;
    switch (c) {
    case 'k':
        *key = optarg;
        return -1;
    case 'h':
        fputs("usage: drudge audit checkpoint --key FILE [--json]\n\n"
              "Signs the chain head (its hash, row id and row count, and the time) with\n"
              "the Ed25519 private key in FILE (mode 0600; see drudge audit keygen) and\n"
              "stores the checkpoint. The rows since the last checkpoint are re-hashed\n"
              "first: a chain that does not verify is not signed. Keep the key off the\n"
              "database host if you can; audit verify --pubkey needs only the public key.\n",
              stdout);
        return DRUDGE_EXIT_OK;
        DRUDGE_CLI_GETOPT_ERRORS("audit checkpoint");
    }
}

static void print_checkpoint(const drudge_cli *cli, const drudge_checkpoint *cp)
{
    if (cli->json)
        printf("{\"checkpoint\":%lld,\"step_id\":%lld,\"row_count\":%lld,\"head\":\"%s\","
               "\"created_at\":%lld,\"public_key\":\"%s\",\"unchanged\":%s}\n",
               (long long)cp->id, (long long)cp->step_id, (long long)cp->row_count, cp->head_hash,
               (long long)cp->created_at, cp->public_key, cp->unchanged ? "true" : "false");
    else if (cp->unchanged)
        printf("the chain head (row %lld) is already checkpointed; nothing written\n",
               (long long)cp->step_id);
    else if (!cli->quiet)
        printf("checkpoint #%lld: row %lld, %lld rows, head %.16s..., key %.16s...\n",
               (long long)cp->id, (long long)cp->step_id, (long long)cp->row_count, cp->head_hash,
               cp->public_key);
}

static int cmd_checkpoint(drudge_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"key", required_argument, 0, 'k'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *key = NULL;
    int rc = parse_opts(argc, argv, ":k:h", opts, checkpoint_opt, &key);
    if (rc >= 0)
        return rc;
    if (!key)
        return drudge_cli_usage("audit checkpoint", "which key? give --key FILE");
    if (optind != argc)
        return drudge_cli_usage("audit checkpoint", "unexpected argument '%s'", argv[optind]);
    drudge_store *s = drudge_cli_store(cli, "audit checkpoint", DRUDGE_STORE_NOCREATE, &rc);
    if (!s)
        return rc;
    drudge_err err = {0};
    drudge_checkpoint cp;
    drudge_code code = drudge_audit_checkpoint_ex(s, key, &cp, &err);
    rc = drudge_cli_done("audit checkpoint", s, code, &err);
    if (!rc)
        print_checkpoint(cli, &cp);
    return rc;
}

typedef struct keygen_args {
    const char *pub, *key;
} keygen_args;

static int keygen_opt(int c, void *ud, char **argv)
{
    keygen_args *a = ud;
    switch (c) {
    case 'p':
        a->pub = optarg;
        return -1;
    case 'k':
        a->key = optarg;
        return -1;
    case 'h':
        fputs("usage: drudge audit keygen KEYFILE|--key KEYFILE [--pub FILE]\n\n"
              "Makes an Ed25519 key pair for signing checkpoints: the private key in\n"
              "KEYFILE (PEM, mode 0600) and the public key in FILE (default KEYFILE.pub).\n"
              "Existing files are never overwritten.\n",
              stdout);
        return DRUDGE_EXIT_OK;
        DRUDGE_CLI_GETOPT_ERRORS("audit keygen");
    }
}

static int cmd_keygen(drudge_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"pub", required_argument, 0, 'p'},
                                         {"key", required_argument, 0, 'k'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    keygen_args a = {0};
    int rc = parse_opts(argc, argv, ":p:k:h", opts, keygen_opt, &a);
    if (rc >= 0)
        return rc;
    if (optind != argc - (a.key ? 0 : 1))
        return drudge_cli_usage("audit keygen", "give exactly one KEYFILE");
    if (!a.key)
        a.key = argv[optind];
    drudge_buf def = {0};
    if (!a.pub) {
        drudge_buf_printf(&def, "%s.pub", a.key);
        a.pub = def.data;
    }
    drudge_err err = {0};
    rc = DRUDGE_EXIT_OK;
    if (drudge_audit_keygen(a.key, a.pub, &err))
        rc = drudge_cli_fail("audit keygen", &err);
    else if (!cli->quiet)
        printf("private key %s (keep it off the database host), public key %s\n", a.key, a.pub);
    drudge_buf_free(&def);
    return rc;
}

/* ---- prune ---- */

typedef struct prune_args {
    int64_t age; /* -1 until given */
    int dry;
} prune_args;

static int prune_opt(int c, void *ud, char **argv)
{
    prune_args *a = ud;
    switch (c) {
    case 'o':
        a->age = parse_age(optarg);
        if (a->age < 0)
            return drudge_cli_usage("audit prune",
                                    "--payloads-older-than takes an age such as 90d, 12w or 36h "
                                    "(got '%s')",
                                    optarg);
        return -1;
    case 'n':
        a->dry = 1;
        return -1;
    case 'h':
        fputs("usage: drudge audit prune --payloads-older-than AGE [--dry-run]\n\n"
              "Drops the bytes of payloads (bodies, screenshots) last used more than AGE\n"
              "ago (s, m, h, d, w: 90d). The payload rows stay with data NULL and\n"
              "pruned_at set, so the chain still verifies and verify reports them as\n"
              "pruned. Step rows are never pruned. The database reuses the space; an\n"
              "SQLite file keeps its size until it is compacted (VACUUM, with no worker\n"
              "running: see logs/README.md).\n",
              stdout);
        return DRUDGE_EXIT_OK;
        DRUDGE_CLI_GETOPT_ERRORS("audit prune");
    }
}

static int cmd_prune(drudge_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"payloads-older-than", required_argument, 0, 'o'},
                                         {"dry-run", no_argument, 0, 'n'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    prune_args a = {.age = -1};
    int rc = parse_opts(argc, argv, ":o:nh", opts, prune_opt, &a);
    if (rc >= 0)
        return rc;
    if (a.age < 0)
        return drudge_cli_usage("audit prune", "give --payloads-older-than AGE (e.g. 90d)");
    if (optind != argc)
        return drudge_cli_usage("audit prune", "unexpected argument '%s'", argv[optind]);
    drudge_store *s = drudge_cli_store(cli, "audit prune", DRUDGE_STORE_NOCREATE, &rc);
    if (!s)
        return rc;
    drudge_err err = {0};
    int64_t n = 0, bytes = 0;
    drudge_code code = drudge_audit_prune(s, drudge_now_us() - a.age, a.dry, drudge_cli_os_user(),
                                          &n, &bytes, &err);
    rc = drudge_cli_done("audit prune", s, code, &err);
    if (rc)
        return rc;
    if (cli->json)
        printf("{\"pruned\":%lld,\"bytes\":%lld,\"dry_run\":%s}\n", (long long)n, (long long)bytes,
               a.dry ? "true" : "false");
    else if (!cli->quiet)
        printf("%s %lld payload%s (%.1f MB)\n", a.dry ? "would prune" : "pruned", (long long)n,
               n == 1 ? "" : "s", (double)bytes / 1e6);
    return DRUDGE_EXIT_OK;
}

/* ---- evidence ---- */

typedef struct evidence_args {
    const char *out;
} evidence_args;

static int evidence_opt(int c, void *ud, char **argv)
{
    evidence_args *a = ud;
    (void)argv;
    switch (c) {
    case 'o':
        a->out = optarg;
        return -1;
    case 'h':
        fputs("usage: drudge audit evidence TASK --out DIR\n\n"
              "Writes every payload the task's steps reference (screenshots as .png, e-mails\n"
              "as .eml and each of their attachments as a file of its own, files under\n"
              "their names, HTTP bodies) into DIR (made 0700; files 0600, never\n"
              "overwritten), with manifest.json naming each file's step, kind and\n"
              "SHA-256, and the chain head: check the files with sha256sum.\n",
              stdout);
        return DRUDGE_EXIT_OK;
        DRUDGE_CLI_GETOPT_ERRORS("audit evidence");
    }
}

/* An e-mail's attachments, by the mail module's MIME parser (GMime lives in
 * drudge_mail.so, not in the binary), leniently: evidence takes what can be
 * read. */
static drudge_code split_mail(const void *raw, size_t len, drudge_attachment_fn each, void *ud,
                              drudge_err *err)
{
    typedef drudge_code (*parse_fn)(const void *, size_t, int, drudge_mail_msg **, drudge_err *);
    typedef void (*free_fn)(drudge_mail_msg *);
    char why[256] = "";
    parse_fn parse =
        (parse_fn)(uintptr_t)drudge_module_sym("mail", "drudge_mail_parse", why, sizeof why);
    free_fn msg_free = parse ? (free_fn)(uintptr_t)drudge_module_sym("mail", "drudge_mail_msg_free",
                                                                     why, sizeof why)
                             : NULL;
    if (!parse || !msg_free)
        return drudge_seterr(err, DRUDGE_EINPUT,
                             "attachments left in the .eml: the mail module cannot be "
                             "loaded (%s)",
                             why);
    drudge_mail_msg *m = NULL;
    drudge_code rc = parse(raw, len, 1, &m, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < m->natts; i++)
        each(ud, m->atts[i].filename, m->atts[i].content_type, m->atts[i].data, m->atts[i].size);
    msg_free(m);
    return DRUDGE_OK;
}

static int cmd_evidence(drudge_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    evidence_args a = {0};
    int rc = parse_opts(argc, argv, ":o:h", opts, evidence_opt, &a);
    if (rc >= 0)
        return rc;
    int64_t id = 0;
    if (optind != argc - 1)
        return drudge_cli_usage("audit evidence", "give exactly one TASK");
    rc = task_arg("audit evidence", argv[optind], &id);
    if (rc >= 0)
        return rc;
    if (!a.out)
        return drudge_cli_usage("audit evidence", "give --out DIR");
    drudge_store *s = drudge_cli_store(cli, "audit evidence", DRUDGE_STORE_READONLY, &rc);
    if (!s)
        return rc;
    drudge_err err = {0};
    drudge_evidence_summary sum;
    drudge_code code = drudge_audit_evidence(s, id, a.out, split_mail, &sum, &err);
    if (!code && cli->json)
        printf("{\"files\":%lld,\"pruned\":%lld,\"bytes\":%lld}\n", (long long)sum.files,
               (long long)sum.pruned, (long long)sum.bytes);
    else if (!code && !cli->quiet)
        printf("task #%lld: %lld file%s (%lld bytes)%s and manifest.json in %s\n", (long long)id,
               (long long)sum.files, sum.files == 1 ? "" : "s", (long long)sum.bytes,
               sum.pruned ? ", some payloads pruned" : "", a.out);
    return drudge_cli_done("audit evidence", s, code, &err);
}

int drudge_cmd_audit(drudge_cli *cli, int argc, char **argv)
{
    static const struct {
        const char *name;
        drudge_cmd_fn fn;
    } subs[] = {{"show", cmd_show},        {"export", cmd_export},
                {"verify", cmd_verify},    {"checkpoint", cmd_checkpoint},
                {"keygen", cmd_keygen},    {"prune", cmd_prune},
                {"evidence", cmd_evidence}};
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

/* ---- replay ---- */

static int replay_opt(int c, void *ud, char **argv)
{
    drudge_replay_opts *ro = ud;
    switch (c) {
    case 'a':
        return attempt_arg("replay", optarg, &ro->attempt);
    case 's':
        ro->script_path = optarg;
        return -1;
    case 'h':
        fputs(replay_help, stdout);
        return DRUDGE_EXIT_OK;
        DRUDGE_CLI_GETOPT_ERRORS("replay");
    }
}

/* Which code was replayed, on stderr: an auditor must know. */
static void replay_version_note(const drudge_replay_result *res)
{
    if (res->stored_source)
        fprintf(stderr, "replayed the version that ran, %.16s..., from the database\n",
                res->version);
    else if (res->recorded_version[0] && strcmp(res->version, res->recorded_version) != 0)
        fprintf(stderr,
                "note: replayed another version of the script (%.16s...), not the one that ran "
                "(%.16s...)\n",
                res->version[0] ? res->version : "unknown", res->recorded_version);
    else if (!res->recorded_version[0])
        fprintf(stderr, "note: the attempt names no script version; replayed the script file\n");
}

static void print_replay(const drudge_cli *cli, int64_t task, const drudge_replay_result *res)
{
    if (cli->json) {
        drudge_buf b = {0};
        drudge_buf_printf(&b,
                          "{\"task\":%lld,\"attempt\":%d,\"steps\":%zu,\"recorded\":%zu,"
                          "\"outcome\":\"%s\",\"pruned_payloads\":%d,\"identical\":%s,"
                          "\"recorded_version\":\"%s\",\"version\":\"%s\",\"stored_source\":%s,"
                          "\"divergence\":",
                          (long long)task, res->attempt, res->steps, res->recorded,
                          res->outcome ? res->outcome : "", res->pruned,
                          res->divergence ? "false" : "true", res->recorded_version, res->version,
                          res->stored_source ? "true" : "false");
        drudge_cli_json_str(&b, res->divergence);
        drudge_buf_puts(&b, "}\n");
        fputs(b.data, stdout);
        drudge_buf_free(&b);
    } else if (res->divergence) {
        printf("task #%lld attempt %d: DIVERGED at %s\n", (long long)task, res->attempt,
               res->divergence);
    } else {
        printf("task #%lld attempt %d: replayed %zu steps, identical outcome (%s)\n",
               (long long)task, res->attempt, res->steps, res->outcome);
    }
    if (!cli->json)
        replay_version_note(res);
    if (res->pruned && !cli->json)
        fprintf(stderr,
                "note: %d payload%s of this attempt %s pruned; steps that need them cannot be "
                "replayed\n",
                res->pruned, res->pruned == 1 ? "" : "s", res->pruned == 1 ? "was" : "were");
}

int drudge_cmd_replay(drudge_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"attempt", required_argument, 0, 'a'},
                                         {"script", required_argument, 0, 's'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    drudge_replay_opts ro = {.echo_logs = !cli->quiet};
    int rc = parse_opts(argc, argv, ":a:s:h", opts, replay_opt, &ro);
    if (rc >= 0)
        return rc;
    if (optind != argc - 1)
        return drudge_cli_usage("replay", "give exactly one TASK");
    rc = task_arg("replay", argv[optind], &ro.task_id);
    if (rc >= 0)
        return rc;
    drudge_store *st = drudge_cli_store(cli, "replay", DRUDGE_STORE_READONLY, &rc);
    if (!st)
        return rc;
    char *files = drudge_cli_files_dir(cli);
    ro.files_dir = files;
    drudge_err err = {0};
    drudge_replay_result res;
    drudge_code code = drudge_replay(st, &ro, &res, &err);
    free(files);
    /* A divergence is the replay's finding, not a failure to run it. */
    rc = drudge_cli_done("replay", st, code == DRUDGE_EDIVERGE ? DRUDGE_OK : code, &err);
    if (rc)
        return rc;
    print_replay(cli, ro.task_id, &res);
    rc = res.divergence ? DRUDGE_EXIT_INVALID : DRUDGE_EXIT_OK;
    drudge_replay_result_clear(&res);
    return rc;
}
