/*
 * report.c: the time-saved report: figures from the finished tasks and their
 * attempts (read through the store), and the table, CSV and JSON renderings
 * (HTML is in report_html.c).
 *
 * Two sequential scans do the work: the finished tasks (summed per script and
 * UTC day into cells, and kept per task for the attempts and the timeline),
 * then the attempts (each added to its task, found by binary search).
 * Everything else (weeks, months, scripts, the total) is summed from the
 * cells, so the grouping is the same for every format. Sorting and joining
 * in SQL instead was 5 to 10 times slower on a million tasks.
 */
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "logs/report/report.h"
#include "drudge/util.h"

#define DAY_US INT64_C(86400000000)

int64_t drudge_report_finished(const drudge_report_figures *f)
{
    return f->done + f->failed + f->dead;
}

double drudge_report_net_hours(const drudge_report_figures *f)
{
    return (f->gross_minutes - f->lost_minutes - f->late_minutes) / 60.0;
}

static double ratio(double num, int64_t den)
{
    return den > 0 ? num / (double)den : NAN;
}

double drudge_report_success_rate(const drudge_report_figures *f)
{
    return ratio((double)f->done, drudge_report_finished(f));
}

double drudge_report_ftr_rate(const drudge_report_figures *f)
{
    return ratio((double)f->first_time_right, drudge_report_finished(f));
}

double drudge_report_mean_attempts(const drudge_report_figures *f)
{
    return ratio((double)f->attempts, drudge_report_finished(f));
}

double drudge_report_rate_per_day(const drudge_report_group *g)
{
    return (double)g->finished_7d / 7.0;
}

double drudge_report_days_to_clear(const drudge_report_group *g)
{
    int64_t backlog = g->queued + g->running;
    if (backlog == 0)
        return 0;
    if (g->finished_7d == 0)
        return INFINITY;
    return (double)backlog / drudge_report_rate_per_day(g);
}

static const char *const by_names[] = {"script", "day", "week", "month"};

const char *drudge_report_by_name(drudge_report_by by)
{
    return by_names[by];
}

int drudge_report_parse_by(const char *s, drudge_report_by *out)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, by_names[i])) {
            *out = (drudge_report_by)i;
            return 0;
        }
    return -1;
}

static void civil_day(int64_t day, struct tm *tm)
{
    time_t t = (time_t)(day * 86400);
    gmtime_r(&t, tm);
}

void drudge_report_period(drudge_report_by by, int64_t day, char key[40], int64_t *start_day)
{
    struct tm tm;
    civil_day(day, &tm);
    switch (by) {
    case DRUDGE_REPORT_BY_WEEK: {
        /* ISO 8601: weeks start on Monday; a week belongs to the year of its Thursday. */
        int64_t monday = day - (tm.tm_wday + 6) % 7;
        struct tm thu;
        civil_day(monday + 3, &thu);
        snprintf(key, 40, "%04d-W%02d", thu.tm_year + 1900, thu.tm_yday / 7 + 1);
        *start_day = monday;
        break;
    }
    case DRUDGE_REPORT_BY_MONTH:
        snprintf(key, 40, "%04d-%02d", tm.tm_year + 1900, tm.tm_mon + 1);
        *start_day = day - (tm.tm_mday - 1);
        break;
    default:
        snprintf(key, 40, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
        *start_day = day;
        break;
    }
}

static void figures_add(drudge_report_figures *to, const drudge_report_figures *f)
{
    to->done += f->done;
    to->failed += f->failed;
    to->dead += f->dead;
    to->gross_minutes += f->gross_minutes;
    to->lost_minutes += f->lost_minutes;
    to->first_time_right += f->first_time_right;
    to->attempts += f->attempts;
    to->robot_us += f->robot_us;
    to->outage_minutes += f->outage_minutes;
    to->late_minutes += f->late_minutes;
    to->outage_late += f->outage_late;
}

/* ---- outages ---- */

static int add_outage(void *ud, const drudge_outage_row *o)
{
    drudge_report *r = ud;
    int64_t end = o->ended_at ? o->ended_at : r->opts.now;
    int64_t from = o->started_at > r->opts.since ? o->started_at : r->opts.since;
    int64_t to = end < r->opts.until ? end : r->opts.until;
    if (to < from || (to == from && o->ended_at))
        return 0; /* outside the range */
    r->outages = drudge_xrealloc(r->outages, (r->noutages + 1) * sizeof *r->outages);
    drudge_report_outage *x = &r->outages[r->noutages++];
    size_t n = strlen(o->scripts) + 3;
    x->scripts = drudge_xmalloc(n);
    snprintf(x->scripts, n, ",%s,", o->scripts);
    x->id = o->id;
    x->target = drudge_xstrdup(o->target);
    x->trigger = drudge_xstrdup(o->trigger);
    x->start = o->started_at;
    x->end = o->ended_at;
    x->down_us = to - from;
    x->tasks_held = o->tasks_held;
    x->attempts_spent = o->attempts_spent;
    r->down_us += x->down_us;
    return 0;
}

/* Whether a task of script that finished at fin did so during an outage
 * of a target the script uses. */
static int during_outage(const drudge_report *r, const char *script, int64_t fin)
{
    size_t n = strlen(script);
    for (size_t i = 0; i < r->noutages; i++) {
        const drudge_report_outage *x = &r->outages[i];
        if (fin < x->start || (x->end && fin > x->end))
            continue;
        for (const char *p = strstr(x->scripts, script); p; p = strstr(p + 1, script))
            if (p[-1] == ',' && p[n] == ',')
                return 1;
    }
    return 0;
}

/* The group with this key, appended if new. Groups are few (days in a
 * range, scripts), and cells arrive in key order for periods, so the search
 * starts at the end. */
static drudge_report_group *group_for(drudge_report *r, const char *key, int64_t start_us)
{
    for (size_t i = r->ngroups; i-- > 0;)
        if (!strcmp(r->groups[i].key, key))
            return &r->groups[i];
    r->groups = drudge_xrealloc(r->groups, (r->ngroups + 1) * sizeof *r->groups);
    drudge_report_group *g = &r->groups[r->ngroups++];
    memset(g, 0, sizeof *g);
    g->key = drudge_xstrdup(key);
    g->start_us = start_us;
    return g;
}

static int cmp_group_key(const void *a, const void *b)
{
    return strcmp(((const drudge_report_group *)a)->key, ((const drudge_report_group *)b)->key);
}

static int cmp_group_start(const void *a, const void *b)
{
    int64_t x = ((const drudge_report_group *)a)->start_us;
    int64_t y = ((const drudge_report_group *)b)->start_us;
    return (x > y) - (x < y);
}

/* A finished task in range, kept until its attempts are counted. */
typedef struct task_row {
    int64_t id, finished;
    double net_minutes;
    uint32_t cell;   /* index in r->cells before they are sorted */
    uint32_t script; /* index in scan.scripts */
    int32_t attempts;
    int done;
} task_row;

/* The state of one computation: interned scripts, the (script, day) cell
 * index, the tasks in range. */
typedef struct scan {
    drudge_report *r;
    char **scripts;
    int64_t *recent; /* per script: finished in the 7 days before now */
    size_t nscripts, last_script;
    uint64_t *keys; /* open addressing: script << 32 | day + 1, 0 = empty */
    uint32_t *vals; /* cell index */
    size_t cap;
    task_row *tasks;
    size_t ntasks, tcap;
    int64_t recent_from; /* the start of the 7 days before now */
    int sorted;          /* tasks arrived in id order */
    size_t hint;         /* the task the last attempt belonged to */
    int64_t *late;       /* tasks that missed their deadline during an outage, by id */
    size_t nlate, late_cap;
} scan;

static size_t intern_script(scan *sc, const char *name)
{
    /* Tasks of one script often come in runs: try the last one first. */
    if (sc->nscripts && !strcmp(sc->scripts[sc->last_script], name))
        return sc->last_script;
    for (size_t i = 0; i < sc->nscripts; i++)
        if (!strcmp(sc->scripts[i], name))
            return sc->last_script = i;
    sc->scripts = drudge_xrealloc(sc->scripts, (sc->nscripts + 1) * sizeof *sc->scripts);
    sc->recent = drudge_xrealloc(sc->recent, (sc->nscripts + 1) * sizeof *sc->recent);
    sc->scripts[sc->nscripts] = drudge_xstrdup(name);
    sc->recent[sc->nscripts] = 0;
    return sc->last_script = sc->nscripts++;
}

static uint64_t hash64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdu;
    x ^= x >> 33;
    return x;
}

/* Never 0 (the empty slot): days are after 1970, so day + 1 > 0. */
static uint64_t cell_key(size_t script, int64_t day)
{
    return ((uint64_t)(day + 1) & 0xffffffffu) | (uint64_t)script << 32;
}

/* The cell of (script, day), created if new. */
static uint32_t cell_for(drudge_report *r, scan *sc, size_t script, int64_t day)
{
    if ((r->ncells + 1) * 2 > sc->cap) {
        size_t cap = sc->cap ? sc->cap * 2 : 256;
        free(sc->keys);
        free(sc->vals);
        sc->keys = calloc(cap, sizeof *sc->keys);
        sc->vals = calloc(cap, sizeof *sc->vals);
        if (!sc->keys || !sc->vals)
            abort();
        sc->cap = cap;
        for (uint32_t c = 0; c < r->ncells; c++) {
            uint64_t k = cell_key(intern_script(sc, r->cells[c].script), r->cells[c].day);
            size_t i = hash64(k) & (cap - 1);
            while (sc->keys[i])
                i = (i + 1) & (cap - 1);
            sc->keys[i] = k;
            sc->vals[i] = c;
        }
    }
    uint64_t k = cell_key(script, day);
    size_t i = hash64(k) & (sc->cap - 1);
    for (; sc->keys[i]; i = (i + 1) & (sc->cap - 1))
        if (sc->keys[i] == k)
            return sc->vals[i];
    r->cells = drudge_xrealloc(r->cells, (r->ncells + 1) * sizeof *r->cells);
    drudge_report_cell *c = &r->cells[r->ncells];
    memset(c, 0, sizeof *c);
    c->script = drudge_xstrdup(sc->scripts[script]);
    c->day = day;
    sc->keys[i] = k;
    sc->vals[i] = (uint32_t)r->ncells;
    return (uint32_t)r->ncells++;
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Whether task id missed its deadline during an outage. */
static int late_for_outage(const scan *sc, int64_t id)
{
    return sc->nlate && bsearch(&id, sc->late, sc->nlate, sizeof *sc->late, cmp_id);
}

/* One finished task: into the 7-day rate, and, if in range, into its cell. */
static int add_finished(void *ud, const drudge_finished_row *t)
{
    scan *sc = ud;
    drudge_report *r = sc->r;
    int64_t fin = t->finished_at;
    size_t script = intern_script(sc, t->script);
    if (fin >= sc->recent_from && fin <= r->opts.now)
        sc->recent[script]++;
    if (fin < r->opts.since || fin >= r->opts.until)
        return 0;
    /* Days before 1970 do not occur; floor division keeps them right anyway. */
    int64_t day = fin >= 0 ? fin / DAY_US : -((-fin + DAY_US - 1) / DAY_US);
    uint32_t ci = cell_for(r, sc, script, day);
    drudge_report_figures *f = &r->cells[ci].f;
    double net;
    int done = t->state[0] == 'd' && t->state[1] == 'o';
    if (done) {
        f->done++;
        net = t->manual_minutes;
        f->gross_minutes += net;
        /* Done, but past a deadline an outage made it miss: a person handled
         * the breach (once: it is in no other sum). */
        if (late_for_outage(sc, t->id)) {
            f->late_minutes += t->exception_minutes;
            f->outage_minutes += t->exception_minutes;
            f->outage_late++;
            net -= t->exception_minutes;
        }
    } else {
        if (t->state[0] == 'f')
            f->failed++;
        else
            f->dead++;
        net = -t->exception_minutes;
        f->lost_minutes -= net;
        /* In lost already. Its failure is its own unless it came while a
         * target of its script was down: a deadline it then missed during an
         * outage does not make the failure the outage's. */
        if (r->noutages && during_outage(r, t->script, fin))
            f->outage_minutes -= net;
    }
    if (sc->ntasks == sc->tcap) {
        sc->tcap = sc->tcap ? sc->tcap * 2 : 1024;
        sc->tasks = drudge_xrealloc(sc->tasks, sc->tcap * sizeof *sc->tasks);
    }
    if (sc->ntasks && sc->tasks[sc->ntasks - 1].id > t->id)
        sc->sorted = 0;
    sc->tasks[sc->ntasks++] = (task_row){.id = t->id,
                                         .finished = fin,
                                         .net_minutes = net,
                                         .cell = ci,
                                         .script = (uint32_t)script,
                                         .done = done};
    if (sc->ntasks == 1 || fin < r->first_us)
        r->first_us = fin;
    if (sc->ntasks == 1 || fin > r->last_us)
        r->last_us = fin;
    return 0;
}

static int cmp_task_id(const void *a, const void *b)
{
    int64_t x = ((const task_row *)a)->id, y = ((const task_row *)b)->id;
    return (x > y) - (x < y);
}

/* The task with this id among the tasks in range (sorted by id), or -1.
 * Attempts mostly come in task order: try where the last one was first. */
static ptrdiff_t find_task(scan *sc, int64_t id, size_t hint)
{
    if (sc->tasks[hint].id == id)
        return (ptrdiff_t)hint;
    if (hint + 1 < sc->ntasks && sc->tasks[hint + 1].id == id)
        return (ptrdiff_t)hint + 1;
    size_t lo = 0, hi = sc->ntasks;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sc->tasks[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < sc->ntasks && sc->tasks[lo].id == id ? (ptrdiff_t)lo : -1;
}

static int add_attempt(void *ud, int64_t task_id, int64_t us)
{
    scan *sc = ud;
    ptrdiff_t k = find_task(sc, task_id, sc->hint);
    if (k < 0)
        return 0;
    sc->hint = (size_t)k;
    sc->tasks[k].attempts++;
    sc->r->cells[sc->tasks[k].cell].f.robot_us += us;
    return 0;
}

/* Adds each attempt to its task (if in range), then the tasks to their cells. */
static drudge_code scan_attempts(drudge_store *s, scan *sc, drudge_err *err)
{
    if (!sc->ntasks)
        return DRUDGE_OK;
    if (!sc->sorted)
        qsort(sc->tasks, sc->ntasks, sizeof *sc->tasks, cmp_task_id);
    sc->hint = 0;
    drudge_code rc = drudge_store_attempt_times(s, add_attempt, sc, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < sc->ntasks; i++) {
        drudge_report_figures *f = &sc->r->cells[sc->tasks[i].cell].f;
        f->attempts += sc->tasks[i].attempts;
        if (sc->tasks[i].done && sc->tasks[i].attempts == 1)
            f->first_time_right++;
    }
    return DRUDGE_OK;
}

static int cmp_cell(const void *a, const void *b)
{
    const drudge_report_cell *x = a, *y = b;
    if (x->day != y->day)
        return (x->day > y->day) - (x->day < y->day);
    return strcmp(x->script, y->script);
}

static int cmp_point(const void *a, const void *b)
{
    const drudge_report_point *x = a, *y = b;
    if (x->t != y->t)
        return (x->t > y->t) - (x->t < y->t);
    return strcmp(x->script, y->script);
}

/* The chart's timeline: per script, the net minutes in each step. */
static void build_timeline(drudge_report *r, scan *sc)
{
    static const int64_t steps_ms[] = {10,       50,       100,      250,       500,       1000,
                                       5000,     15000,    60000,    300000,    900000,    3600000,
                                       10800000, 21600000, 86400000, 604800000, 2592000000};
    size_t i = 0;
    if (!sc->ntasks)
        return;
    while (i + 1 < sizeof steps_ms / sizeof steps_ms[0] &&
           (r->last_us - r->first_us) / (steps_ms[i] * 1000) >= 200)
        i++;
    r->step_us = steps_ms[i] * 1000;
    /* At most 200 steps per script: a (script, step) table indexed directly. */
    /* Week steps start on Mondays (1970-01-05 was one); others at the epoch. */
    int64_t origin = r->step_us == 7 * DAY_US ? 4 * DAY_US : 0;
    int64_t base = (r->first_us - origin) / r->step_us;
    int64_t nsteps = (r->last_us - origin) / r->step_us - base + 1;
    size_t ns = sc->nscripts;
    double *net = calloc((size_t)nsteps * ns, sizeof *net);
    unsigned char *seen = calloc((size_t)nsteps * ns, 1);
    if (!net || !seen)
        abort();
    for (size_t k = 0; k < sc->ntasks; k++) {
        const task_row *t = &sc->tasks[k];
        size_t at = (size_t)((t->finished - origin) / r->step_us - base) * ns + t->script;
        net[at] += t->net_minutes;
        seen[at] = 1;
    }
    for (int64_t st = 0; st < nsteps; st++)
        for (size_t s = 0; s < ns; s++) {
            size_t at = (size_t)st * ns + s;
            if (!seen[at])
                continue;
            r->points = drudge_xrealloc(r->points, (r->npoints + 1) * sizeof *r->points);
            r->points[r->npoints++] =
                (drudge_report_point){.script = drudge_xstrdup(sc->scripts[s]),
                                      .t = origin + (base + st) * r->step_us,
                                      .net_minutes = net[at]};
        }
    qsort(r->points, r->npoints, sizeof *r->points, cmp_point);
    free(net);
    free(seen);
}

static void scan_free(scan *sc)
{
    for (size_t i = 0; i < sc->nscripts; i++)
        free(sc->scripts[i]);
    free(sc->scripts);
    free(sc->recent);
    free(sc->keys);
    free(sc->vals);
    free(sc->tasks);
    free(sc->late);
}

/* One script's backlog, into its group and the total. A script with a
 * backlog but nothing finished in range gets a row. */
static int add_backlog(void *ud, const char *script, int64_t queued, int64_t running)
{
    drudge_report *r = ud;
    r->total.queued += queued;
    r->total.running += running;
    if (r->opts.by == DRUDGE_REPORT_BY_SCRIPT) {
        drudge_report_group *g = group_for(r, script, 0);
        g->queued = queued;
        g->running = running;
    }
    return 0;
}

/* Sums the cells into the groups (periods or scripts) and the total. */
static void group_cells(drudge_report *r)
{
    if (r->ncells)
        qsort(r->cells, r->ncells, sizeof *r->cells, cmp_cell);
    for (size_t i = 0; i < r->ncells; i++) {
        drudge_report_cell *c = &r->cells[i];
        drudge_report_group *g;
        if (r->opts.by == DRUDGE_REPORT_BY_SCRIPT) {
            g = group_for(r, c->script, 0);
        } else {
            char key[40];
            int64_t start;
            drudge_report_period(r->opts.by, c->day, key, &start);
            g = group_for(r, key, start * DAY_US);
        }
        figures_add(&g->f, &c->f);
        figures_add(&r->total.f, &c->f);
    }
}

/* The deadlines that fall in the report's range, classified at opts.now. */
static drudge_code read_deadlines(drudge_store *s, drudge_report *r, drudge_err *err)
{
    drudge_deadline_summary d;
    drudge_code rc =
        drudge_deadline_summarize(s, r->opts.now, r->opts.since == INT64_MIN ? 0 : r->opts.since,
                                  r->opts.until == INT64_MAX ? 0 : r->opts.until - 1, &d, err);
    if (rc)
        return rc;
    r->deadlines = d.all;
    for (size_t i = 0; r->opts.script && i < d.nscripts; i++)
        if (!strcmp(d.scripts[i].script, r->opts.script))
            r->deadlines = d.scripts[i];
    if (r->opts.script && strcmp(r->deadlines.script, r->opts.script))
        memset(&r->deadlines, 0, sizeof r->deadlines);
    snprintf(r->deadline_outages, sizeof r->deadline_outages, "%s", d.outage_targets);
    drudge_deadline_summary_clear(&d);
    return DRUDGE_OK;
}

/* The tasks that missed their deadline during an outage (deadline.h:
 * missed, why outage), whatever the range: a task counts where it
 * finished. Only tasks with a deadline are read. */
static int add_late(void *ud, const drudge_deadline_row *t)
{
    scan *sc = ud;
    drudge_deadline_why why;
    if (drudge_deadline_classify(t, sc->r->opts.now, &why) != DRUDGE_DL_MISSED ||
        why != DRUDGE_WHY_OUTAGE)
        return 0;
    if (sc->nlate == sc->late_cap) {
        sc->late_cap = sc->late_cap ? sc->late_cap * 2 : 64;
        sc->late = drudge_xrealloc(sc->late, sc->late_cap * sizeof *sc->late);
    }
    sc->late[sc->nlate++] = t->id;
    return 0;
}

static drudge_code read_late(drudge_store *s, scan *sc, drudge_err *err)
{
    drudge_report *r = sc->r;
    /* A missed deadline is before its task's finish, so before the range's end. */
    drudge_deadline_query q = {.now = r->opts.now,
                               .since = 0,
                               .until = r->opts.until == INT64_MAX ? 0 : r->opts.until - 1};
    drudge_code rc = drudge_store_deadlines(s, &q, add_late, sc, err);
    if (!rc && sc->nlate)
        qsort(sc->late, sc->nlate, sizeof *sc->late, cmp_id);
    return rc;
}

/* Everything read from the store, in one read transaction: the figures and
 * the backlog are one snapshot. */
static drudge_code read_figures(drudge_store *s, scan *sc, drudge_err *err)
{
    drudge_report *r = sc->r;
    drudge_code rc = drudge_store_begin(s, DRUDGE_TX_READ, err);
    if (rc)
        return rc;
    sc->sorted = 1;
    sc->recent_from = r->opts.now - 7 * DAY_US;
    rc =
        drudge_store_outages(s, r->opts.since == INT64_MIN ? 0 : r->opts.since, add_outage, r, err);
    if (!rc)
        rc = read_deadlines(s, r, err);
    if (!rc)
        rc = read_late(s, sc, err);
    if (!rc)
        rc = drudge_store_finished(s, r->opts.script, add_finished, sc, err);
    if (!rc)
        rc = scan_attempts(s, sc, err);
    if (!rc) {
        group_cells(r);
        build_timeline(r, sc);
        rc = drudge_store_backlog(s, r->opts.script, add_backlog, r, err);
    }
    drudge_store_rollback(s); /* nothing was written */
    return rc;
}

/* The 7-day completion rates, into the total and the script groups; then
 * the groups in order. */
static void finish_groups(drudge_report *r, const scan *sc)
{
    for (size_t i = 0; i < sc->nscripts; i++) {
        r->total.finished_7d += sc->recent[i];
        /* A script with recent completions but nothing in range and no
         * backlog would only add a row of zeros: no group_for here. */
        for (size_t g = 0; r->opts.by == DRUDGE_REPORT_BY_SCRIPT && g < r->ngroups; g++)
            if (!strcmp(r->groups[g].key, sc->scripts[i]))
                r->groups[g].finished_7d = sc->recent[i];
    }
    for (size_t i = 0; i < r->ngroups; i++)
        r->groups[i].has_backlog = r->opts.by == DRUDGE_REPORT_BY_SCRIPT;
    if (r->ngroups)
        qsort(r->groups, r->ngroups, sizeof *r->groups,
              r->opts.by == DRUDGE_REPORT_BY_SCRIPT ? cmp_group_key : cmp_group_start);
}

drudge_code drudge_report_compute(drudge_store *s, const drudge_report_opts *opts,
                                  drudge_report **out, drudge_err *err)
{
    drudge_report *r = drudge_xmalloc(sizeof *r);
    memset(r, 0, sizeof *r);
    r->opts = *opts;
    if (r->opts.script)
        r->opts.script = drudge_xstrdup(opts->script);
    r->generated_at = drudge_now_us();
    if (!r->opts.now)
        r->opts.now = r->generated_at;
    r->total.key = drudge_xstrdup("total");
    r->total.has_backlog = 1;
    *out = NULL;
    scan sc = {.r = r};
    drudge_code rc = read_figures(s, &sc, err);
    if (rc) {
        drudge_report_free(r);
    } else {
        finish_groups(r, &sc);
        *out = r;
    }
    scan_free(&sc);
    return rc;
}

void drudge_report_free(drudge_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->ngroups; i++)
        free(r->groups[i].key);
    for (size_t i = 0; i < r->ncells; i++)
        free(r->cells[i].script);
    free(r->groups);
    free(r->cells);
    for (size_t i = 0; i < r->npoints; i++)
        free(r->points[i].script);
    free(r->points);
    for (size_t i = 0; i < r->noutages; i++) {
        free(r->outages[i].target);
        free(r->outages[i].trigger);
        free(r->outages[i].scripts);
    }
    free(r->outages);
    free(r->total.key);
    free((char *)r->opts.script);
    drudge_report_audit_clear(r);
    free(r);
}

/* ---- renderings ---- */

/* A cell of the terminal table; NA prints as "-". */
static void cell_num(char *out, size_t n, const char *fmt, double v)
{
    if (isnan(v))
        snprintf(out, n, "-");
    else if (isinf(v))
        snprintf(out, n, "never");
    else
        snprintf(out, n, fmt, v);
}

static void fmt_duration(char *out, size_t n, int64_t us)
{
    int64_t s = (us + 500000) / 1000000;
    snprintf(out, n, "%" PRId64 ":%02d:%02d", s / 3600, (int)(s / 60 % 60), (int)(s % 60));
}

enum { NCOLS = 13 };

static void table_row(const drudge_report_group *g, int with_backlog, char cells[NCOLS][64])
{
    const drudge_report_figures *f = &g->f;
    snprintf(cells[0], 64, "%s", g->key);
    snprintf(cells[1], 64, "%" PRId64, f->done);
    snprintf(cells[2], 64, "%" PRId64, f->failed);
    snprintf(cells[3], 64, "%" PRId64, f->dead);
    cell_num(cells[4], 64, "%.1f", f->gross_minutes);
    cell_num(cells[5], 64, "%.1f", f->lost_minutes);
    cell_num(cells[6], 64, "%.2f", drudge_report_net_hours(f));
    cell_num(cells[7], 64, "%.1f%%", 100 * drudge_report_success_rate(f));
    cell_num(cells[8], 64, "%.1f%%", 100 * drudge_report_ftr_rate(f));
    cell_num(cells[9], 64, "%.2f", drudge_report_mean_attempts(f));
    fmt_duration(cells[10], 64, f->robot_us);
    if (with_backlog && g->has_backlog) {
        snprintf(cells[11], 64, "%" PRId64, g->queued + g->running);
        cell_num(cells[12], 64, "%.1f", drudge_report_days_to_clear(g));
    } else {
        snprintf(cells[11], 64, "-");
        snprintf(cells[12], 64, "-");
    }
}

static void fmt_day(int64_t us, char out[16])
{
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 16, "%Y-%m-%d", &tm);
}

/* "all time", "since 2026-11-01", "2026-11-01 to 2026-11-30" (until is exclusive). */
static void describe_range(const drudge_report *r, char *out, size_t n)
{
    char a[40], b[40];
    int has_since = r->opts.since != INT64_MIN, has_until = r->opts.until != INT64_MAX;
    if (has_since)
        drudge_fmt_time(r->opts.since, a);
    if (has_until)
        drudge_fmt_time(r->opts.until, b);
    if (has_since && has_until)
        snprintf(out, n, "finished from %s to before %s", a, b);
    else if (has_since)
        snprintf(out, n, "finished since %s", a);
    else if (has_until)
        snprintf(out, n, "finished before %s", b);
    else
        snprintf(out, n, "all time");
}

/* The outage section: each outage in range, the robot hours unavailable,
 * and the minutes of exceptions the outages caused. */
static void table_outages(const drudge_report *r, drudge_buf *out)
{
    if (!r->noutages) {
        drudge_buf_puts(out, "Outages: none in range.\n");
        return;
    }
    drudge_buf_printf(out,
                      "\nOutages: %zu; targets down %.2f h in all (robot hours unavailable); "
                      "exceptions they caused %.1f min (tasks failed or dead during an outage, "
                      "and %" PRId64 " done late, their deadline missed during one: %.1f min; "
                      "net hours %.2f subtract them all; without them: %.2f)\n",
                      r->noutages, (double)r->down_us / 3.6e9, r->total.f.outage_minutes,
                      r->total.f.outage_late, r->total.f.late_minutes,
                      drudge_report_net_hours(&r->total.f),
                      drudge_report_net_hours(&r->total.f) + r->total.f.outage_minutes / 60.0);
    for (size_t i = 0; i < r->noutages; i++) {
        const drudge_report_outage *x = &r->outages[i];
        char a[40], b[40] = "still down";
        drudge_fmt_time(x->start, a);
        strcpy(a + 19, "Z"); /* to the second */
        if (x->end) {
            drudge_fmt_time(x->end, b);
            strcpy(b + 19, "Z");
        }
        drudge_buf_printf(out,
                          "  #%" PRId64 " %s: %s to %s, %.1f min in range; %" PRId64
                          " tasks held, %" PRId64 " attempts spent; %s\n",
                          x->id, x->target, a, b, (double)x->down_us / 6e7, x->tasks_held,
                          x->attempts_spent, x->trigger);
    }
}

/* The deadline section: tasks whose deadline falls in the range. */
static void table_deadlines(const drudge_report *r, drudge_buf *out)
{
    const drudge_deadline_counts *c = &r->deadlines;
    if (!c->total) {
        drudge_buf_puts(out, "Deadlines: none in range.\n");
        return;
    }
    drudge_buf_printf(out,
                      "Deadlines: %" PRId64 " in range; %" PRId64 " met, %" PRId64
                      " pending, %" PRId64 " at risk, %" PRId64 " missed (outage %" PRId64
                      ", failure %" PRId64 ", queue %" PRId64 ")%s%s\n",
                      c->total, c->met, c->pending, c->at_risk, c->missed,
                      c->missed_by[DRUDGE_WHY_OUTAGE], c->missed_by[DRUDGE_WHY_FAILURE],
                      c->missed_by[DRUDGE_WHY_QUEUE], *r->deadline_outages ? "; outages of " : "",
                      r->deadline_outages);
}

/* Under the table: how net hours are counted, and the backlog's outlook. */
static void table_footer(const drudge_report *r, drudge_buf *out)
{
    const drudge_report_group *t = &r->total;
    double days = drudge_report_days_to_clear(t);
    drudge_buf_printf(out,
                      "\nnet hours = (saved - lost - late) / 60; lost counts failed and dead "
                      "tasks, also those resolved by hand; late, done tasks that missed their "
                      "deadline during an outage.\nBacklog: %" PRId64 " queued, %" PRId64
                      " running; %" PRId64 " finished in the last 7 days (%.1f/day): ",
                      t->queued, t->running, t->finished_7d, drudge_report_rate_per_day(t));
    if (t->queued + t->running == 0)
        drudge_buf_puts(out, "nothing to clear.\n");
    else if (isinf(days))
        drudge_buf_puts(out, "no recent completions to estimate from.\n");
    else
        drudge_buf_printf(out, "%.1f days to clear.\n", days);
    table_outages(r, out);
    table_deadlines(r, out);
}

void drudge_report_table(const drudge_report *r, drudge_buf *out)
{
    /* Two header lines keep the table narrow enough for a terminal. */
    static const char *const heads[2][NCOLS] = {
        {"", "", "", "", "saved", "lost", "net", "", "1st", "att.", "robot", "", "days to"},
        {NULL, "done", "failed", "dead", "min", "min", "hours", "success", "time", "/task", "time",
         "backlog", "clear"}};
    int with_backlog = r->opts.by == DRUDGE_REPORT_BY_SCRIPT;
    int ncols = with_backlog ? NCOLS : NCOLS - 2;
    size_t nrows = r->ngroups + 3;
    char(*cells)[NCOLS][64] = drudge_xmalloc(nrows * sizeof *cells);
    size_t width[NCOLS] = {0};
    char range[160], gen[40];

    for (int c = 0; c < NCOLS; c++) {
        snprintf(cells[0][c], 64, "%s", heads[0][c]);
        snprintf(cells[1][c], 64, "%s", c ? heads[1][c] : drudge_report_by_name(r->opts.by));
    }
    for (size_t i = 0; i < r->ngroups; i++)
        table_row(&r->groups[i], with_backlog, cells[i + 2]);
    table_row(&r->total, with_backlog, cells[nrows - 1]);
    for (size_t i = 0; i < nrows; i++)
        for (int c = 0; c < ncols; c++) {
            size_t w = strlen(cells[i][c]);
            if (w > width[c])
                width[c] = w;
        }
    describe_range(r, range, sizeof range);
    drudge_fmt_time(r->generated_at, gen);
    gen[16] = '\0'; /* to the minute */
    drudge_buf_printf(out, "Time saved by %s, %s%s%s (UTC; generated %s)\n",
                      drudge_report_by_name(r->opts.by), range, r->opts.script ? ", script " : "",
                      r->opts.script ? r->opts.script : "", gen);
    for (size_t i = 0; i < nrows; i++) {
        if (i == nrows - 1) {
            size_t total = 0;
            for (int c = 0; c < ncols; c++)
                total += width[c] + (c ? 2 : 0);
            for (size_t k = 0; k < total; k++)
                drudge_buf_puts(out, "-");
            drudge_buf_puts(out, "\n");
        }
        for (int c = 0; c < ncols; c++) {
            if (c == 0)
                drudge_buf_printf(out, "%-*s", (int)width[c], cells[i][c]);
            else
                drudge_buf_printf(out, "  %*s", (int)width[c], cells[i][c]);
        }
        drudge_buf_puts(out, "\n");
    }
    free(cells);
    table_footer(r, out);
}

/* JSON and CSV numbers: full precision, NA as null / empty. */
static void json_num(drudge_buf *b, double v)
{
    if (!isfinite(v))
        drudge_buf_puts(b, "null");
    else
        drudge_buf_printf(b, "%.10g", v);
}

static void json_figures(drudge_buf *b, const drudge_report_group *g)
{
    const drudge_report_figures *f = &g->f;
    drudge_buf_printf(b,
                      "\"done\":%" PRId64 ",\"failed\":%" PRId64 ",\"dead\":%" PRId64
                      ",\"finished\":%" PRId64 ",\"gross_minutes\":",
                      f->done, f->failed, f->dead, drudge_report_finished(f));
    json_num(b, f->gross_minutes);
    drudge_buf_puts(b, ",\"lost_minutes\":");
    json_num(b, f->lost_minutes);
    drudge_buf_puts(b, ",\"net_hours\":");
    json_num(b, drudge_report_net_hours(f));
    drudge_buf_puts(b, ",\"success_rate\":");
    json_num(b, drudge_report_success_rate(f));
    drudge_buf_printf(
        b, ",\"first_time_right\":%" PRId64 ",\"first_time_right_rate\":", f->first_time_right);
    json_num(b, drudge_report_ftr_rate(f));
    drudge_buf_printf(b, ",\"attempts\":%" PRId64 ",\"mean_attempts\":", f->attempts);
    json_num(b, drudge_report_mean_attempts(f));
    drudge_buf_puts(b, ",\"robot_seconds\":");
    json_num(b, (double)f->robot_us / 1e6);
    drudge_buf_puts(b, ",\"late_minutes\":");
    json_num(b, f->late_minutes);
    drudge_buf_puts(b, ",\"outage_minutes\":");
    json_num(b, f->outage_minutes);
    drudge_buf_printf(b, ",\"outage_late_tasks\":%" PRId64, f->outage_late);
    if (g->has_backlog) {
        drudge_buf_printf(b,
                          ",\"backlog\":%" PRId64 ",\"queued\":%" PRId64 ",\"running\":%" PRId64
                          ",\"finished_last_7_days\":%" PRId64 ",\"rate_per_day\":",
                          g->queued + g->running, g->queued, g->running, g->finished_7d);
        json_num(b, drudge_report_rate_per_day(g));
        drudge_buf_puts(b, ",\"days_to_clear\":");
        json_num(b, drudge_report_days_to_clear(g));
    }
}

static void json_time_or_null(drudge_buf *b, int64_t t, int64_t none)
{
    char s[40];
    if (t == none) {
        drudge_buf_puts(b, "null");
        return;
    }
    drudge_fmt_time(t, s);
    drudge_buf_printf(b, "\"%s\"", s);
}

void drudge_report_json(const drudge_report *r, drudge_buf *out)
{
    char gen[40];
    drudge_fmt_time(r->generated_at, gen);
    drudge_buf_printf(out,
                      "{\"generated_at\":\"%s\",\"timezone\":\"UTC\",\"by\":\"%s\",\"since\":", gen,
                      drudge_report_by_name(r->opts.by));
    json_time_or_null(out, r->opts.since, INT64_MIN);
    drudge_buf_puts(out, ",\"until\":");
    json_time_or_null(out, r->opts.until, INT64_MAX);
    drudge_buf_puts(out, ",\"script\":");
    if (r->opts.script)
        drudge_buf_json_str(out, r->opts.script, strlen(r->opts.script));
    else
        drudge_buf_puts(out, "null");
    drudge_buf_puts(out, ",\"groups\":[");
    for (size_t i = 0; i < r->ngroups; i++) {
        const drudge_report_group *g = &r->groups[i];
        drudge_buf_puts(out, i ? ",{\"group\":" : "{\"group\":");
        drudge_buf_json_str(out, g->key, strlen(g->key));
        if (r->opts.by != DRUDGE_REPORT_BY_SCRIPT) {
            char day[16];
            fmt_day(g->start_us, day);
            drudge_buf_printf(out, ",\"start\":\"%s\"", day);
        }
        drudge_buf_puts(out, ",");
        json_figures(out, g);
        drudge_buf_puts(out, "}");
    }
    drudge_buf_puts(out, "],\"total\":{");
    json_figures(out, &r->total);
    drudge_buf_puts(out, "},\"outages\":{\"count\":");
    drudge_buf_printf(out, "%zu,\"down_hours\":", r->noutages);
    json_num(out, (double)r->down_us / 3.6e9);
    drudge_buf_puts(out, ",\"outage_minutes\":");
    json_num(out, r->total.f.outage_minutes);
    drudge_buf_puts(out, ",\"late_minutes\":");
    json_num(out, r->total.f.late_minutes);
    drudge_buf_printf(out, ",\"late_tasks\":%" PRId64, r->total.f.outage_late);
    drudge_buf_puts(out, ",\"list\":[");
    for (size_t i = 0; i < r->noutages; i++) {
        const drudge_report_outage *x = &r->outages[i];
        drudge_buf_printf(out, "%s{\"id\":%" PRId64 ",\"target\":", i ? "," : "", x->id);
        drudge_buf_json_str(out, x->target, strlen(x->target));
        drudge_buf_puts(out, ",\"start\":");
        json_time_or_null(out, x->start, 0);
        drudge_buf_puts(out, ",\"end\":");
        json_time_or_null(out, x->end, 0);
        drudge_buf_puts(out, ",\"down_hours\":");
        json_num(out, (double)x->down_us / 3.6e9);
        drudge_buf_printf(out,
                          ",\"tasks_held\":%" PRId64 ",\"attempts_spent\":%" PRId64 ",\"trigger\":",
                          x->tasks_held, x->attempts_spent);
        drudge_buf_json_str(out, x->trigger, strlen(x->trigger));
        drudge_buf_puts(out, "}");
    }
    const drudge_deadline_counts *c = &r->deadlines;
    drudge_buf_printf(out,
                      "]},\"deadlines\":{\"total\":%" PRId64 ",\"met\":%" PRId64
                      ",\"pending\":%" PRId64 ",\"at_risk\":%" PRId64 ",\"missed\":%" PRId64
                      ",\"missed_by\":{\"outage\":%" PRId64 ",\"failure\":%" PRId64
                      ",\"queue\":%" PRId64 "},\"at_risk_by\":{\"outage\":%" PRId64
                      ",\"failure\":%" PRId64 ",\"queue\":%" PRId64 "}}}\n",
                      c->total, c->met, c->pending, c->at_risk, c->missed,
                      c->missed_by[DRUDGE_WHY_OUTAGE], c->missed_by[DRUDGE_WHY_FAILURE],
                      c->missed_by[DRUDGE_WHY_QUEUE], c->at_risk_by[DRUDGE_WHY_OUTAGE],
                      c->at_risk_by[DRUDGE_WHY_FAILURE], c->at_risk_by[DRUDGE_WHY_QUEUE]);
}

static void csv_num(drudge_buf *b, double v)
{
    drudge_buf_puts(b, ",");
    if (isfinite(v))
        drudge_buf_printf(b, "%.10g", v);
}

static void csv_field(drudge_buf *b, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        drudge_buf_puts(b, s);
        return;
    }
    drudge_buf_puts(b, "\"");
    for (; *s; s++) {
        if (*s == '"')
            drudge_buf_puts(b, "\"\"");
        else
            drudge_buf_add(b, s, 1);
    }
    drudge_buf_puts(b, "\"");
}

static void csv_row(drudge_buf *b, const drudge_report_group *g, const char *start)
{
    const drudge_report_figures *f = &g->f;
    csv_field(b, g->key);
    drudge_buf_printf(b, ",%s,%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64, start, f->done,
                      f->failed, f->dead, drudge_report_finished(f));
    csv_num(b, f->gross_minutes);
    csv_num(b, f->lost_minutes);
    csv_num(b, drudge_report_net_hours(f));
    csv_num(b, drudge_report_success_rate(f));
    csv_num(b, drudge_report_ftr_rate(f));
    csv_num(b, drudge_report_mean_attempts(f));
    csv_num(b, (double)f->robot_us / 1e6);
    if (g->has_backlog) {
        drudge_buf_printf(b, ",%" PRId64, g->queued + g->running);
        csv_num(b, drudge_report_days_to_clear(g));
    } else {
        drudge_buf_puts(b, ",,");
    }
    drudge_buf_puts(b, "\r\n");
}

void drudge_report_csv(const drudge_report *r, drudge_buf *out)
{
    drudge_buf_printf(out,
                      "%s,start,done,failed,dead,finished,gross_minutes,lost_minutes,net_hours,"
                      "success_rate,first_time_right_rate,mean_attempts,robot_seconds,backlog,"
                      "days_to_clear\r\n",
                      drudge_report_by_name(r->opts.by));
    for (size_t i = 0; i < r->ngroups; i++) {
        char day[16] = "";
        if (r->opts.by != DRUDGE_REPORT_BY_SCRIPT)
            fmt_day(r->groups[i].start_us, day);
        csv_row(out, &r->groups[i], day);
    }
    csv_row(out, &r->total, "");
}
