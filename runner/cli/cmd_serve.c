/* cmd_serve.c: drudge serve, the control room (runner/room/), and drudge
 * user, its users and API tokens. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include "runner/cli/cli.h"
#include "runner/room/room.h"

static const char serve_help[] =
    "usage: drudge serve [--listen ADDR:PORT] [--tls-cert FILE --tls-key FILE]\n"
    "                    [--insecure-public] [--max-streams N] [--routes]\n\n"
    "Serves the control room: pages for operations staff and auditors, and the\n"
    "HTTP API under /api/v1/ (described at /api/v1/openapi.json), over the database\n"
    "(--db) until SIGINT or SIGTERM. Users log in with the names and passwords of\n"
    "`drudge user add`; systems send a token of `drudge user token`.\n\n"
    "  --listen ADDR:PORT  where to listen (default 127.0.0.1:8080; port 0 picks one)\n"
    "  --tls-cert FILE     HTTPS with this PEM certificate (chain)\n"
    "  --tls-key FILE      and its PEM private key\n"
    "  --insecure-public   allow plain HTTP on an address other than loopback\n"
    "                      (only behind a proxy that terminates TLS)\n"
    "  --max-streams N     live-update streams open at once (default 64; each holds\n"
    "                      a thread; pages beyond it poll every 5 s instead)\n"
    "  --routes            print the routes the server answers and exit\n"
    "  -q                  no line per request on stderr\n";

int drudge_cmd_serve(drudge_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},  {"tls-cert", required_argument, NULL, 'c'},
        {"tls-key", required_argument, NULL, 'k'}, {"insecure-public", no_argument, NULL, 'P'},
        {"routes", no_argument, NULL, 'R'},        {"max-streams", required_argument, NULL, 'M'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    drudge_room_opts o = {.listen = "127.0.0.1:8080",
                          .redact = cli->redact_file,
                          .quiet = cli->quiet,
                          .db = cli->db_path};
    int c, routes = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":hq", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            o.listen = optarg;
            break;
        case 'c':
            o.tls_cert = optarg;
            break;
        case 'k':
            o.tls_key = optarg;
            break;
        case 'P':
            o.insecure_public = 1;
            break;
        case 'R':
            routes = 1;
            break;
        case 'M': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > 1000)
                return drudge_cli_usage("serve", "--max-streams '%s': want 1 to 1000", optarg);
            o.max_streams = (int)n;
            break;
        }
        case 'q':
            o.quiet = 1;
            break;
        case 'h':
            fputs(serve_help, stdout);
            return DRUDGE_EXIT_OK;
            DRUDGE_CLI_GETOPT_ERRORS("serve");
        }
    }
    if (optind < argc)
        return drudge_cli_usage("serve", "unexpected argument '%s'", argv[optind]);
    if (routes) {
        drudge_buf b = {0};
        drudge_room_routes(&b);
        if (!b.len) {
            fputs("drudge serve: cannot load the control room module\n", stderr);
            return DRUDGE_EXIT_ERROR;
        }
        fputs(b.data, stdout);
        drudge_buf_free(&b);
        return DRUDGE_EXIT_OK;
    }
    int exit = 0;
    drudge_store *s = drudge_cli_store(cli, "serve", 0, &exit);
    if (!s)
        return exit;
    drudge_err err = {0};
    drudge_code rc = drudge_room_serve(s, &o, &err);
    return drudge_cli_done("serve", s, rc, &err);
}

static const char user_help[] =
    "usage: drudge user add NAME --role viewer|operator|auditor|admin\n"
    "       drudge user list\n"
    "       drudge user disable NAME | enable NAME\n"
    "       drudge user token NAME [--label LABEL]\n\n"
    "The users of the control room (drudge serve). add asks for the password on\n"
    "the terminal (twice), or reads it from the first line of stdin when stdin is\n"
    "not a terminal; it is never an argument (other users could read it in ps).\n"
    "It is kept only as its Argon2id hash. token prints a new API token for\n"
    "NAME, once (it is kept only as its SHA-256); systems send it as\n"
    "'Authorization: Bearer TOKEN' and act with NAME's role. A disabled user's\n"
    "sessions and tokens stop working at once. Each change is an operator step on\n"
    "the audit trail.\n\n"
    "roles: viewer    counts, charts, reports; no task data\n"
    "       operator  tasks with their data redacted; retry, cancel, resolve, pause\n"
    "       auditor   everything as recorded, and the audit trail; changes nothing\n"
    "       admin     what an operator does, and the users list\n";

/* A password from the terminal (without echo, twice) or stdin's first line. */
static int read_password(const char *name, char *out, size_t n)
{
    int tty = isatty(STDIN_FILENO);
    char again[512];
    struct termios old, quiet;
    for (int round = 0; round < (tty ? 2 : 1); round++) {
        char *buf = round ? again : out;
        size_t cap = round ? sizeof again : n;
        if (tty) {
            fprintf(stderr, round ? "again: " : "password for %s: ", name);
            tcgetattr(STDIN_FILENO, &old);
            quiet = old;
            quiet.c_lflag &= ~(tcflag_t)ECHO;
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
        }
        char *got = fgets(buf, (int)cap, stdin);
        if (tty) {
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
            fputc('\n', stderr);
        }
        if (!got)
            return -1;
        buf[strcspn(buf, "\r\n")] = '\0';
    }
    if (tty && strcmp(out, again)) {
        fputs("drudge user: the passwords differ\n", stderr);
        return -1;
    }
    memset(again, 0, sizeof again);
    return 0;
}

static int user_list(drudge_cli *cli, drudge_store *s)
{
    drudge_room_user *u = NULL;
    size_t n = 0;
    drudge_err err = {0};
    drudge_code rc = drudge_store_users(s, &u, &n, &err);
    if (rc)
        return drudge_cli_done("user", s, rc, &err);
    drudge_buf b = {0};
    if (cli->json)
        drudge_buf_puts(&b, "[");
    else
        printf("%-24s %-9s %-8s %s\n", "NAME", "ROLE", "STATE", "CREATED");
    for (size_t i = 0; i < n; i++) {
        char t[40];
        drudge_fmt_time(u[i].created_at, t);
        if (cli->json) {
            drudge_buf_puts(&b, i ? ",{\"name\":" : "{\"name\":");
            drudge_cli_json_str(&b, u[i].name);
            drudge_buf_printf(&b, ",\"role\":\"%s\",\"disabled\":%s,\"created_at\":\"%s\"}",
                              u[i].role, u[i].disabled ? "true" : "false", t);
        } else {
            printf("%-24s %-9s %-8s %s\n", u[i].name, u[i].role,
                   u[i].disabled ? "disabled" : "active", t);
        }
    }
    if (cli->json)
        printf("%s]\n", b.data);
    drudge_buf_free(&b);
    drudge_room_users_free(u, n);
    return drudge_cli_done("user", s, DRUDGE_OK, &err);
}

int drudge_cmd_user(drudge_cli *cli, int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(user_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? DRUDGE_EXIT_USAGE : DRUDGE_EXIT_OK;
    }
    const char *sub = argv[1], *name = NULL, *role = NULL, *label = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--role") && i + 1 < argc)
            role = argv[++i];
        else if (!strncmp(argv[i], "--role=", 7))
            role = argv[i] + 7;
        else if (!strcmp(argv[i], "--label") && i + 1 < argc)
            label = argv[++i];
        else if (!strcmp(argv[i], "--password") || !strncmp(argv[i], "--password=", 11))
            return drudge_cli_usage("user", "no password on the command line: other users see "
                                            "it in ps; type it at the prompt or pipe it in");
        else if (argv[i][0] == '-')
            return drudge_cli_usage("user", "unknown option '%s'", argv[i]);
        else if (!name)
            name = argv[i];
        else
            return drudge_cli_usage("user", "unexpected argument '%s'", argv[i]);
    }
    int is_list = !strcmp(sub, "list");
    if (!is_list && strcmp(sub, "add") && strcmp(sub, "disable") && strcmp(sub, "enable") &&
        strcmp(sub, "token"))
        return drudge_cli_usage("user",
                                "unknown subcommand '%s' (add, list, disable, enable, "
                                "token)",
                                sub);
    if (!is_list && !name)
        return drudge_cli_usage("user", "%s needs a user NAME", sub);
    if (!strcmp(sub, "add") && !role)
        return drudge_cli_usage("user", "add needs --role viewer|operator|auditor|admin");
    char password[512] = "";
    if (!strcmp(sub, "add") && read_password(name, password, sizeof password))
        return drudge_cli_usage("user", "no password given for '%s'", name);
    int exit = 0;
    drudge_store *s = drudge_cli_store(cli, "user", 0, &exit);
    if (!s)
        return exit;
    if (is_list)
        return user_list(cli, s);
    drudge_err err = {0};
    drudge_code rc;
    const char *actor = drudge_cli_os_user();
    if (!strcmp(sub, "add")) {
        rc = drudge_room_user_add(s, name, role, password, actor, &err);
        memset(password, 0, sizeof password);
        if (!rc && !cli->quiet)
            printf("user %s added (%s)\n", name, role);
    } else if (!strcmp(sub, "token")) {
        char secret[65];
        rc = drudge_room_token_new(s, name, label, actor, secret, &err);
        if (!rc) {
            printf("%s\n", secret);
            if (!cli->quiet)
                fprintf(stderr,
                        "drudge user: the API token of %s, shown this once: send it as "
                        "'Authorization: Bearer TOKEN'\n",
                        name);
        }
    } else {
        int disable = !strcmp(sub, "disable");
        rc = drudge_room_user_disable(s, name, disable, actor, &err);
        if (!rc && !cli->quiet)
            printf("user %s %s\n", name, disable ? "disabled" : "enabled");
    }
    return drudge_cli_done("user", s, rc, &err);
}
