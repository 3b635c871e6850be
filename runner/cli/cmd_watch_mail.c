/* cmd_watch_mail.c: `drudge watch-mail URL --script S`, an e-mail intake
 * (runner/work/mailwatch.c): each message arriving in an IMAP mailbox
 * becomes a task within seconds (IMAP IDLE). */
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "drudge/host.h"
#include "runner/cli/cli.h"
#include "runner/work/mailwatch.h"

static const char help[] =
    "usage: drudge watch-mail URL --script SCRIPT [--user USER] [--password-secret NAME]\n"
    "                         [--ca-file FILE] [--no-verify-tls] [--starttls] [--idle DUR]\n"
    "                         [--priority N] [-v]\n\n"
    "Watches the IMAP mailbox URL (imap://HOST[:PORT]/MAILBOX or imaps://...; INBOX\n"
    "if none) with IMAP IDLE and turns each message in it, and each that arrives\n"
    "(within a second or two), into one task of SCRIPT with the input {\"url\",\n"
    "\"mailbox\", \"uid\", \"uidvalidity\"} and the key\n"
    "\"imap:HOST:PORT/MAILBOX:UIDVALIDITY:UID\": the robot fetches the message with\n"
    "mail.imap{url = task.input.url, ...}:fetch(task.input.uid), and moves it out of\n"
    "the mailbox when done. Killed and started again, it loses and doubles nothing:\n"
    "every message still there is offered again and its key finds its task.\n"
    "The password is the secret NAME (default IMAP_PASSWORD), read as a script's\n"
    "secret() reads it ($DRUDGE_SECRET_NAME or the secrets file, --secrets).\n"
    "--idle: IDLE at most this long before searching again (default 25m). A lost\n"
    "connection is made again (after 1 s, doubling to 60 s); a refused login or\n"
    "mailbox ends it (exit 2). Runs until SIGINT or SIGTERM (then exits 0);\n"
    "workers (drudge work) run the tasks.\n";

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

typedef struct mail_args {
    const char *script, *user, *secret, *ca_file;
    int verify, starttls, verbose, priority;
    int64_t idle_us;
} mail_args;

static int parse(int argc, char **argv, mail_args *a)
{
    static const struct option opts[] = {{"script", required_argument, 0, 's'},
                                         {"user", required_argument, 0, 'u'},
                                         {"password-secret", required_argument, 0, 'P'},
                                         {"ca-file", required_argument, 0, 'C'},
                                         {"no-verify-tls", no_argument, 0, 'N'},
                                         {"starttls", no_argument, 0, 'T'},
                                         {"idle", required_argument, 0, 'I'},
                                         {"priority", required_argument, 0, 'p'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "s:u:P:C:NTI:p:hv", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            a->script = optarg;
            break;
        case 'u':
            a->user = optarg;
            break;
        case 'P':
            a->secret = optarg;
            break;
        case 'C':
            a->ca_file = optarg;
            break;
        case 'N':
            a->verify = 0;
            break;
        case 'T':
            a->starttls = 1;
            break;
        case 'I':
            if (drudge_cli_parse_duration(optarg, &a->idle_us) || a->idle_us < 1000000)
                return drudge_cli_usage("watch-mail", "--idle '%s' is not a duration of 1s or more",
                                        optarg);
            break;
        case 'p': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < -1000000 || v > 1000000)
                return drudge_cli_usage("watch-mail", "--priority '%s' is not a number", optarg);
            a->priority = (int)v;
            break;
        }
        case 'v':
            a->verbose = 1;
            break;
        case 'h':
            fputs(help, stdout);
            return DRUDGE_EXIT_OK;
        default:
            return drudge_cli_usage("watch-mail", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return drudge_cli_usage("watch-mail", "which mailbox? give one URL");
    if (!a->script)
        return drudge_cli_usage("watch-mail", "which script? give --script SCRIPT");
    return -1;
}

int drudge_cmd_watch_mail(drudge_cli *cli, int argc, char **argv)
{
    mail_args a = {.verify = 1, .secret = "IMAP_PASSWORD"};
    int rc = parse(argc, argv, &a);
    if (rc >= 0)
        return rc;
    const char *url = argv[optind];
    drudge_err err = {0};
    char *password = NULL;
    if (drudge_host_secret(cli->secrets_file, a.secret, &password, &err) != DRUDGE_OK)
        return drudge_cli_fail("watch-mail", &err);
    /* The script, loaded and checked now (a broken one is refused here). */
    drudge_host_opts ho = {.secrets_file = cli->secrets_file};
    const drudge_script_info *info;
    drudge_host *h = drudge_host_new(&ho, &err);
    if (!h || drudge_host_load(h, a.script, &info, &err)) {
        drudge_host_free(h);
        explicit_bzero(password, strlen(password));
        free(password);
        return drudge_cli_fail("watch-mail", &err);
    }
    char real[PATH_MAX];
    if (!realpath(a.script, real))
        snprintf(real, sizeof real, "%s", a.script);
    drudge_task_spec spec = {.script = info->name,
                             .script_path = real,
                             .priority = a.priority,
                             .max_attempts = info->max_attempts,
                             .manual_minutes = info->manual_minutes,
                             .exception_minutes = info->exception_minutes,
                             .window = info->window};
    stop_flag = 0;
    struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    drudge_mailwatch_opts o = {.db_path = cli->db_path,
                               .url = url,
                               .user = a.user,
                               .password = password,
                               .ca_file = a.ca_file,
                               .verify_tls = a.verify,
                               .starttls = a.starttls,
                               .idle_s = (double)a.idle_us / 1e6,
                               .spec = &spec,
                               .stop = &stop_flag,
                               .verbose = a.verbose};
    drudge_mailwatch_stats st;
    if (!cli->quiet)
        fprintf(stderr, "drudge watch-mail: watching %s for %s (Ctrl-C to stop)\n", url,
                info->name);
    drudge_code code = drudge_mailwatch_run(&o, &st, &err);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    drudge_host_free(h);
    explicit_bzero(password, strlen(password));
    free(password);
    if (code)
        return drudge_cli_fail("watch-mail", &err);
    if (!cli->quiet)
        fprintf(stderr, "drudge watch-mail: %lld queued, %lld queued before\n",
                (long long)st.queued, (long long)st.duplicates);
    return DRUDGE_EXIT_OK;
}
