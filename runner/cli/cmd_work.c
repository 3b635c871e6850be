/* cmd_work.c: `drudge work`: its options, signals, and the summary. The pool
 * itself is runner/work/. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "drudge/host.h"
#include "runner/cli/cli.h"
#include "runner/work/work.h"
#include "drudge/child.h"

static const char work_help[] =
    "usage: drudge work [-j N] [--until-empty] [--script NAME]... [options]\n\n"
    "Runs N workers (threads, each with its own Lua state) that claim queued tasks,\n"
    "highest priority first, and record each attempt. SIGINT/SIGTERM drain: no new\n"
    "claims, running tasks finish; a second signal aborts them (their leases expire\n"
    "and they are retried). Several `drudge work` processes may share a database.\n\n"
    "  -j, --jobs N            worker threads (default 1)\n"
    "  --until-empty           exit once nothing is due or running\n"
    "  --script NAME           only tasks of this script (repeat for more)\n"
    "  --lease DUR             lease length, renewed while a task runs (default 60s)\n"
    "  --backoff-base DUR      first retry delay after a system error (default 5s);\n"
    "                          it doubles per attempt, jittered to 50-100%\n"
    "  --backoff-cap DUR       longest retry delay (default 1h)\n"
    "  --durability full|normal  full (default): every outcome is on disk before it\n"
    "                          counts; normal: a power cut may lose the last ones\n"
    "  --prefetch N            most tasks claimed ahead of the workers (default: auto, <= 1024)\n"
    "  --metrics-listen ADDR:PORT  serve Prometheus /metrics while working\n"
    "  --checkpoint-key FILE   sign the audit chain head with this Ed25519 key\n"
    "  --checkpoint-every DUR  how often to sign (default 10m; see drudge audit)\n"
    "  --breaker-errors N      system errors in a row to one target that open its\n"
    "                          circuit breaker (default 5)\n"
    "  --breaker-window DUR    ... within this long (default 60s)\n"
    "  --breaker-probe DUR     first probe of a down target after (default 5s); each\n"
    "                          failed probe doubles the wait\n"
    "  --breaker-probe-max DUR longest wait between probes (default 5m)\n"
    "  --no-notify             send no notifications from this process (drudge notify)\n"
    "  -v, --verbose           a line per finished attempt, and script log lines\n"
    "  --json                  print the summary as JSON\n\n"
    "DUR is 250ms, 5s, 2m, 1h, 1d or a number of seconds.\n"
    "exit: 0 after a drain or --until-empty, 1 on a database error or an abort\n";

typedef struct work_args {
    drudge_work_opts wo;
    const char **scripts; /* --script values, NULL-terminated */
    int nscripts;
    int64_t base_us;
    int base_set;
} work_args;

/* Parses one option into a; returns an exit code, or -1 to go on. */
static int work_opt(int c, work_args *a, char **argv)
{
    drudge_work_opts *wo = &a->wo;
    long v;
    switch (c) {
    case 'N':
        wo->no_notify = 1;
        return -1;
    case 'j':
        if (drudge_cli_parse_long(optarg, 1, 256, &v))
            return drudge_cli_usage("work", "-j '%s' is not a number of workers from 1 to 256",
                                    optarg);
        wo->threads = (int)v;
        return -1;
    case 'u':
        wo->until_empty = 1;
        return -1;
    case 's':
        a->scripts[a->nscripts++] = optarg;
        return -1;
    case 'L':
        if (drudge_cli_parse_duration(optarg, &wo->lease_us) || wo->lease_us < 1000000)
            return drudge_cli_usage("work", "--lease '%s' is not a duration of at least 1s",
                                    optarg);
        return -1;
    case 'B':
        if (drudge_cli_parse_duration(optarg, &a->base_us))
            return drudge_cli_usage("work", "--backoff-base '%s' is not a duration (e.g. 5s)",
                                    optarg);
        a->base_set = 1;
        return -1;
    case 'C':
        if (drudge_cli_parse_duration(optarg, &wo->backoff_cap_us) || !wo->backoff_cap_us)
            return drudge_cli_usage("work", "--backoff-cap '%s' is not a duration (e.g. 1h)",
                                    optarg);
        return -1;
    case 'D':
        if (!strcmp(optarg, "full"))
            wo->durability = DRUDGE_DURABILITY_FULL;
        else if (!strcmp(optarg, "normal"))
            wo->durability = DRUDGE_DURABILITY_NORMAL;
        else
            return drudge_cli_usage("work", "--durability '%s': use full or normal", optarg);
        return -1;
    case 'P':
        if (drudge_cli_parse_long(optarg, 1, 100000, &v))
            return drudge_cli_usage("work", "--prefetch '%s' is not a number from 1 to 100000",
                                    optarg);
        wo->prefetch = (int)v;
        return -1;
    case 'm':
        wo->metrics_listen = optarg;
        return -1;
    case 'K':
        if (access(optarg, R_OK) != 0)
            return drudge_cli_usage("work", "--checkpoint-key %s: %s", optarg, strerror(errno));
        wo->checkpoint_key = optarg;
        return -1;
    case 'E':
        if (drudge_cli_parse_duration(optarg, &wo->checkpoint_every_us) ||
            wo->checkpoint_every_us < 1000000)
            return drudge_cli_usage(
                "work", "--checkpoint-every '%s' is not a duration of at least 1s", optarg);
        return -1;
    case 'v':
        wo->verbose = 1;
        return -1;
    case 'e':
        if (drudge_cli_parse_long(optarg, 1, 1000, &v))
            return drudge_cli_usage(
                "work", "--breaker-errors '%s' is not a number of errors from 1 to 1000", optarg);
        wo->breaker.errors = (int)v;
        return -1;
    case 'w':
    case 'p':
    case 'x': {
        static const char *const names[] = {"--breaker-window", "--breaker-probe",
                                            "--breaker-probe-max"};
        int i = c == 'w' ? 0 : c == 'p' ? 1 : 2;
        int64_t us = 0;
        if (drudge_cli_parse_duration(optarg, &us) || us < 100000)
            return drudge_cli_usage("work", "%s '%s' is not a duration of at least 100ms", names[i],
                                    optarg);
        double *dst[] = {&wo->breaker.window_s, &wo->breaker.probe_s, &wo->breaker.probe_max_s};
        *dst[i] = (double)us / 1e6;
        return -1;
    }
    case 'h':
        fputs(work_help, stdout);
        return DRUDGE_EXIT_OK;
        DRUDGE_CLI_GETOPT_ERRORS("work");
    }
}

/* Parses the command line into a; returns an exit code, or -1 to go on. */
static int work_args_parse(int argc, char **argv, work_args *a)
{
    static const struct option opts[] = {{"jobs", required_argument, 0, 'j'},
                                         {"until-empty", no_argument, 0, 'u'},
                                         {"script", required_argument, 0, 's'},
                                         {"lease", required_argument, 0, 'L'},
                                         {"backoff-base", required_argument, 0, 'B'},
                                         {"backoff-cap", required_argument, 0, 'C'},
                                         {"durability", required_argument, 0, 'D'},
                                         {"prefetch", required_argument, 0, 'P'},
                                         {"metrics-listen", required_argument, 0, 'm'},
                                         {"checkpoint-key", required_argument, 0, 'K'},
                                         {"checkpoint-every", required_argument, 0, 'E'},
                                         {"verbose", no_argument, 0, 'v'},
                                         {"breaker-errors", required_argument, 0, 'e'},
                                         {"breaker-window", required_argument, 0, 'w'},
                                         {"breaker-probe", required_argument, 0, 'p'},
                                         {"breaker-probe-max", required_argument, 0, 'x'},
                                         {"no-notify", no_argument, 0, 'N'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    static const char shorts[] = ":j:us:L:B:C:D:P:m:K:E:vhe:w:p:x:";
    optind = 1;
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, shorts, opts, NULL);
        if (c == -1)
            break;
        int rc = work_opt(c, a, argv);
        if (rc >= 0)
            return rc;
    }
    if (optind != argc)
        return drudge_cli_usage("work", "unexpected argument '%s'", argv[optind]);
    drudge_work_opts *wo = &a->wo;
    if (a->base_set)
        wo->backoff_base_us = a->base_us ? a->base_us : -1;
    if (!wo->checkpoint_every_us)
        wo->checkpoint_every_us = 600 * (int64_t)1000000;
    a->scripts[a->nscripts] = NULL;
    wo->scripts = a->nscripts ? a->scripts : NULL;
    wo->echo_logs = wo->verbose;
    return -1;
}

static void on_signal(int sig)
{
    (void)sig;
    drudge_work_signal();
}

static void print_summary(const drudge_cli *cli, const drudge_work_stats *st, double secs)
{
    int64_t finished = st->done + st->failed + st->dead + st->cancelled;
    if (cli->json) {
        printf("{\"claimed\":%lld,\"done\":%lld,\"failed\":%lld,\"retried\":%lld,\"dead\":%lld,"
               "\"cancelled\":%lld,\"reaped\":%lld,\"given_back\":%lld,\"held_back\":%lld,"
               "\"lost_results\":%lld,"
               "\"commits\":%lld,\"abandoned\":%d,\"aborted\":%s,\"seconds\":%.3f,"
               "\"writer_cpu_seconds\":%.3f}\n",
               (long long)st->claimed, (long long)st->done, (long long)st->failed,
               (long long)st->retried, (long long)st->dead, (long long)st->cancelled,
               (long long)st->reaped, (long long)st->given_back, (long long)st->held_back,
               (long long)st->lost_results, (long long)st->commits, st->abandoned,
               st->aborted ? "true" : "false", secs, st->writer_cpu_s);
    } else if (!cli->quiet) {
        char given_back[128] = "";
        if (st->given_back)
            snprintf(given_back, sizeof given_back, ", %lld unstarted given back",
                     (long long)st->given_back);
        if (st->held_back) {
            size_t n = strlen(given_back);
            snprintf(given_back + n, sizeof given_back - n,
                     ", %lld given back while their target was down", (long long)st->held_back);
        }
        fprintf(stderr,
                "drudge work: %lld done, %lld failed, %lld dead, %lld cancelled, %lld to retry, "
                "%lld reaped%s in %.2f s (%.0f tasks/s)%s\n",
                (long long)st->done, (long long)st->failed, (long long)st->dead,
                (long long)st->cancelled, (long long)st->retried, (long long)st->reaped, given_back,
                secs, secs > 0 ? (double)(finished + st->retried) / secs : 0.0,
                st->aborted ? "; aborted: running attempts will be retried" : "");
    }
}

/* Every worker thread was stuck in an attempt that went past its timeout
 * and the grace (runner/work/watchdog.c): the pool drained and the process
 * starts again as itself, which ends those threads; their tasks are
 * recorded already. Returns only if exec fails. */
static void restart(const drudge_cli *cli, const drudge_work_stats *st)
{
    fprintf(stderr,
            "drudge work: %d worker thread%s stuck past %s attempt's timeout and grace "
            "(recorded as timed out); restarting to end %s\n",
            st->stuck, st->stuck == 1 ? " is" : "s are", st->stuck == 1 ? "its" : "their",
            st->stuck == 1 ? "it" : "them");
    fflush(stdout);
    fflush(stderr);
    /* A stop asked for from here on stays pending through the exec (main
     * unblocks it: the new process ends at once, with nothing running). */
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, NULL);
    if (drudge_work_signals_pending())
        return;
    execv("/proc/self/exe", cli->argv);
    sigprocmask(SIG_UNBLOCK, &block, NULL);
    fprintf(stderr, "drudge work: cannot restart (exec /proc/self/exe): %s\n", strerror(errno));
}

/* Runs the pool with SIGINT/SIGTERM asking it to drain (then to abort). */
static drudge_code run_pool(const drudge_work_opts *wo, drudge_work_stats *st, double *secs,
                            drudge_err *err)
{
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    int64_t t0 = drudge_mono_us();
    drudge_code code = drudge_work_run(wo, st, err);
    *secs = (double)(drudge_mono_us() - t0) / 1e6;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return code;
}

int drudge_cmd_work(drudge_cli *cli, int argc, char **argv)
{
    work_args a = {
        .wo = {.db_path = cli->db_path, .threads = 1, .secrets_file = cli->secrets_file}};
    a.scripts = drudge_xmalloc((size_t)argc * sizeof *a.scripts);
    int rc = work_args_parse(argc, argv, &a);
    char *files = rc < 0 ? drudge_cli_files_dir(cli) : NULL;
    if (rc < 0 && !files)
        rc = DRUDGE_EXIT_ERROR;
    if (rc >= 0) {
        free(a.scripts);
        return rc;
    }
    a.wo.files_dir = files;
    /* A worker killed with kill -9 may have left helper processes (a
     * browser) that its own guards missed: they go before any task runs. */
    char what[256];
    int reaped = drudge_child_reap(what, sizeof what);
    if (reaped && !cli->quiet)
        fprintf(stderr, "drudge work: reaped %d helper process%s left by a worker that died (%s)\n",
                reaped, reaped == 1 ? "" : "es", what);
    drudge_err err = {0};
    /* Refused now, not by the first secret() of the first task. */
    if (cli->secrets_file && drudge_host_check_secrets(cli->secrets_file, &err)) {
        free(files);
        free(a.scripts);
        return drudge_cli_fail("work", &err);
    }
    drudge_work_stats st;
    double secs = 0;
    drudge_code code = run_pool(&a.wo, &st, &secs, &err);
    if (!code || st.claimed)
        print_summary(cli, &st, secs);
    if (code)
        rc = drudge_cli_fail("work", &err);
    else
        rc = st.aborted ? DRUDGE_EXIT_ERROR : DRUDGE_EXIT_OK;
    free(files);
    free(a.scripts);
    if (st.restart && !code)
        restart(cli, &st);
    if (st.aborted || st.stuck) {
        /* A worker may still be stuck in a blocking call: leave at once. */
        fflush(stdout);
        fflush(stderr);
        _exit(rc);
    }
    return rc;
}
