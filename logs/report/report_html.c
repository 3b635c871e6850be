/*
 * report_html.c: the report as one self-contained HTML file: inline CSS, an
 * inline SVG chart of the cumulative net hours saved per script over time,
 * and the table. Nothing is fetched: no scripts, fonts or images, so the file
 * can be mailed, archived or opened on a machine without network.
 *
 * Table cells carry data-k="<JSON key>" so tests (and people with scrapers)
 * can read the numbers back.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "logs/report/report.h"
#include "drudge/util.h"

#define DAY_US INT64_C(86400000000)

static const char *const palette[] = {"#2563eb", "#d97706", "#059669", "#dc2626",
                                      "#7c3aed", "#0891b2", "#be185d", "#4d7c0f"};
#define NPALETTE (sizeof palette / sizeof palette[0])

static void esc(drudge_buf *b, const char *s)
{
    drudge_buf_html(b, s, SIZE_MAX);
}

static void num(drudge_buf *b, const char *fmt, double v)
{
    if (isnan(v))
        drudge_buf_puts(b, "&ndash;");
    else if (isinf(v))
        drudge_buf_puts(b, "never");
    else
        drudge_buf_printf(b, fmt, v);
}

static const char css[] =
    "*{box-sizing:border-box}"
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1f2937;"
    "background:#f8fafc;margin:0;padding:24px 32px}"
    "h1{font-size:22px;margin:0 0 2px}"
    ".sub{color:#64748b;margin:0 0 18px}"
    ".kpis{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:18px}"
    ".kpi{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:10px 14px;"
    "flex:1 1 120px}"
    ".kpi .v{display:block;font-size:24px;font-weight:600}"
    ".kpi .l{color:#64748b;font-size:12px}"
    ".kpi.net .v{color:#047857}.kpi.net.neg .v{color:#b91c1c}"
    "figure{background:#fff;border:1px solid #e2e8f0;border-radius:8px;margin:0 0 18px;"
    "padding:12px}"
    "figcaption{color:#64748b;font-size:12px;margin-top:4px}"
    "svg{display:block;width:100%;height:auto}"
    "svg text{font:11px system-ui,sans-serif;fill:#475569}"
    "svg .grid{stroke:#e2e8f0}svg .zero{stroke:#94a3b8}"
    "table{border-collapse:collapse;background:#fff;border:1px solid #e2e8f0;width:100%}"
    "th,td{padding:5px 10px;text-align:right;white-space:nowrap;border-bottom:1px solid #f1f5f9}"
    "th:first-child,td:first-child{text-align:left}"
    "thead th{background:#f1f5f9;font-weight:600;font-size:12px}"
    "tfoot td{font-weight:600;border-top:2px solid #cbd5e1}"
    ".note{color:#64748b;font-size:12px;max-width:70em}"
    "h2{font-size:17px;margin:22px 0 8px}"
    ".integrity{border:2px solid;border-radius:8px;padding:8px 12px;margin:0 0 18px;"
    "background:#fff}"
    ".integrity.ok{border-color:#059669;background:#ecfdf5}"
    ".integrity.bad{border-color:#dc2626;background:#fef2f2}"
    ".integrity .verdict{font-weight:700}"
    ".integrity pre{white-space:pre-wrap;overflow-wrap:anywhere;margin:4px 0}"
    "code{font:12px ui-monospace,'DejaVu Sans Mono',monospace}"
    "table#exceptions td{text-align:left;white-space:normal;vertical-align:top}"
    "table#exceptions td.num{text-align:right;white-space:nowrap}"
    "td.unresolved{color:#b91c1c;font-weight:600}";

/* A headline figure, its thousands grouped by narrow no-break spaces (the
 * ISO 31-0 way, which no locale reads as a decimal sign): 62 842.8. */
static void kpi(drudge_buf *b, const char *cls, const char *id, const char *label, const char *fmt,
                double v)
{
    char s[64];
    drudge_buf_printf(b, "<div class=\"kpi %s\"><span class=\"v\" id=\"%s\">", cls, id);
    if (!isfinite(v)) {
        num(b, fmt, v);
    } else {
        snprintf(s, sizeof s, fmt, v);
        size_t digits = strspn(s + (s[0] == '-'), "0123456789");
        const char *p = s;
        if (*p == '-')
            drudge_buf_add(b, p++, 1);
        for (size_t i = 0; i < digits; i++, p++) {
            if (i && (digits - i) % 3 == 0)
                drudge_buf_puts(b, "\u202f");
            drudge_buf_add(b, p, 1);
        }
        drudge_buf_puts(b, p);
    }
    drudge_buf_printf(b, "</span><span class=\"l\">%s</span></div>\n", label);
}

/* ---- the chart ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A tick step of 1, 2 or 5 times a power of ten giving about n ticks. */
static double nice_step(double range, int n)
{
    double raw = range / n, p = pow(10, floor(log10(raw))), m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

/* A time axis label, dated: the date alone for day steps and longer, else
 * the time of day over the date (two lines), so that a chart printed or cut
 * out of its page still says when. */
static void time_label(const drudge_report *r, int64_t t, char *time_part, char *date_part,
                       size_t n)
{
    time_t s = (time_t)(t / 1000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(date_part, n, "%Y-%m-%d", &tm);
    if (r->step_us >= 86400 * INT64_C(1000000)) {
        time_part[0] = '\0';
    } else if (r->step_us >= 60 * INT64_C(1000000)) {
        strftime(time_part, n, "%H:%M", &tm);
    } else if (r->step_us >= 1000000) {
        strftime(time_part, n, "%H:%M:%S", &tm);
    } else {
        size_t k = strftime(time_part, n, "%H:%M:%S", &tm);
        snprintf(time_part + k, n - k, ".%02d", (int)(t / 10000 % 100));
    }
}

static void step_name(int64_t us, char *out, size_t n)
{
    int64_t s = us / 1000000;
    if (us < 1000000)
        snprintf(out, n, "%lld ms", (long long)(us / 1000));
    else if (s % 86400 == 0)
        snprintf(out, n, "%lld day%s", (long long)(s / 86400), s == 86400 ? "" : "s");
    else if (s % 3600 == 0)
        snprintf(out, n, "%lld h", (long long)(s / 3600));
    else if (s % 60 == 0)
        snprintf(out, n, "%lld min", (long long)(s / 60));
    else
        snprintf(out, n, "%lld s", (long long)s);
}

/* The cumulative net hours of each script (and of all, when there are
 * several) over the report's timeline. */
static void chart(const drudge_report *r, drudge_buf *b)
{
    const double W = 960, H = 350, ml = 64, mr = 210, mt = 16, mb = 54;
    const double pw = W - ml - mr, ph = H - mt - mb;
    char **scripts = NULL, label[40], date[40];
    size_t ns = 0;

    drudge_buf_printf(b,
                      "<figure><svg id=\"chart\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" "
                      "aria-label=\"Net hours saved over time per script\">\n",
                      W, H);
    if (!r->npoints) {
        drudge_buf_printf(b,
                          "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">No tasks finished "
                          "in this period.</text>\n</svg></figure>\n",
                          W / 2, H / 2);
        return;
    }
    for (size_t i = 0; i < r->npoints; i++) {
        size_t k = 0;
        while (k < ns && strcmp(scripts[k], r->points[i].script))
            k++;
        if (k == ns) {
            scripts = drudge_xrealloc(scripts, (ns + 1) * sizeof *scripts);
            scripts[ns++] = r->points[i].script;
        }
    }
    qsort(scripts, ns, sizeof *scripts, cmp_str);
    size_t nseries = ns > 1 ? ns + 1 : ns;
    /* The y range: every running sum, and 0. */
    double lo = 0, hi = 0;
    double *sum = calloc(nseries, sizeof *sum);
    if (!sum)
        abort();
    for (size_t i = 0; i < r->npoints; i++) {
        size_t s = 0;
        while (strcmp(scripts[s], r->points[i].script))
            s++;
        sum[s] += r->points[i].net_minutes / 60;
        lo = fmin(lo, sum[s]);
        hi = fmax(hi, sum[s]);
        if (nseries > ns) {
            sum[ns] += r->points[i].net_minutes / 60;
            lo = fmin(lo, sum[ns]);
            hi = fmax(hi, sum[ns]);
        }
    }
    if (hi - lo < 1e-9)
        hi = lo + 1;
    double ystep = nice_step(hi - lo, 5);
    lo = floor(lo / ystep) * ystep;
    hi = ceil(hi / ystep) * ystep;
    /* x: from the first step's start to the last step's end. */
    int64_t x0 = r->points[0].t, x1 = r->points[r->npoints - 1].t + r->step_us;
#define X(t) (ml + pw * (double)((t)-x0) / (double)(x1 - x0))
#define Y(v) (mt + ph * (hi - (v)) / (hi - lo))
    for (double v = lo; v <= hi + ystep / 2; v += ystep) {
        int zero = fabs(v) < ystep / 2;
        drudge_buf_printf(b,
                          "<line class=\"%s\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
                          "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
                          zero ? "zero" : "grid", ml, ml + pw, Y(v), Y(v), ml - 6, Y(v) + 4,
                          zero ? 0.0 : v);
    }
    drudge_buf_printf(b,
                      "<text x=\"14\" y=\"%.1f\" transform=\"rotate(-90 14 %.1f)\" "
                      "text-anchor=\"middle\">net hours saved (cumulative)</text>\n",
                      mt + ph / 2, mt + ph / 2);
    for (int k = 0; k <= 5; k++) {
        int64_t t = x0 + (x1 - x0) * k / 5;
        const char *anchor = k == 0 ? "start" : k == 5 ? "end" : "middle";
        time_label(r, t, label, date, sizeof label);
        drudge_buf_printf(b,
                          "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
                          "<text class=\"tick\" data-t=\"%lld\" x=\"%.1f\" y=\"%.1f\" "
                          "text-anchor=\"%s\">",
                          X(t), X(t), mt + ph, mt + ph + 4, (long long)t, X(t), H - mb + 18,
                          anchor);
        if (*label)
            drudge_buf_printf(b,
                              "<tspan x=\"%.1f\">%s</tspan><tspan x=\"%.1f\" dy=\"14\">%s</tspan>",
                              X(t), label, X(t), date);
        else
            drudge_buf_puts(b, date);
        drudge_buf_puts(b, "</text>\n");
    }
    for (size_t s = 0; s < nseries; s++) {
        const char *name = s < ns ? scripts[s] : "all scripts";
        const char *color = s < ns ? palette[s % NPALETTE] : "#334155";
        double cum = 0;
        drudge_buf_puts(b, "<g class=\"series\" data-script=\"");
        esc(b, name);
        drudge_buf_printf(b,
                          "\"><polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
                          "stroke-linejoin=\"round\"%s points=\"%.1f,%.1f",
                          color, s < ns ? "" : " stroke-dasharray=\"6 4\"", X(x0), Y(0.0));
        /* A step function: flat while nothing finishes, then up (or down) at
         * the end of each step where the series changed; never a slope,
         * which would claim hours saved between finishes. */
        double before = 0; /* the sum when the current step began */
        int in_step = 0;
        for (size_t i = 0; i < r->npoints; i++) {
            if (s < ns && strcmp(r->points[i].script, name))
                continue;
            if (!in_step)
                before = cum;
            in_step = 1;
            cum += r->points[i].net_minutes / 60;
            int last = 1;
            for (size_t j = i + 1; j < r->npoints && r->points[j].t == r->points[i].t; j++)
                if (s == ns || !strcmp(r->points[j].script, name))
                    last = 0;
            if (last) {
                double x = X(r->points[i].t + r->step_us);
                drudge_buf_printf(b, " %.1f,%.1f %.1f,%.1f", x, Y(before), x, Y(cum));
                in_step = 0;
            }
        }
        drudge_buf_printf(b, " %.1f,%.1f\"/>", X(x1), Y(cum));
        double ly = mt + 8 + 18.0 * (double)s;
        drudge_buf_printf(
            b,
            "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
            "stroke-width=\"3\"/><text x=\"%.1f\" y=\"%.1f\" data-net-hours=\"%.2f\">",
            ml + pw + 16, ml + pw + 36, ly, ly, color, ml + pw + 42, ly + 4, cum);
        esc(b, name);
        drudge_buf_printf(b, " (%.2f h)</text></g>\n", cum);
    }
#undef X
#undef Y
    step_name(r->step_us, label, sizeof label);
    drudge_buf_printf(b,
                      "</svg><figcaption>Net hours saved, cumulative, per script, by finish time "
                      "(UTC) in steps of %s.</figcaption></figure>\n",
                      label);
    free(sum);
    free(scripts);
}

/* ---- the table ---- */

static void td(drudge_buf *b, const char *k, const char *fmt, double v)
{
    drudge_buf_printf(b, "<td data-k=\"%s\">", k);
    num(b, fmt, v);
    drudge_buf_puts(b, "</td>");
}

static void row(drudge_buf *b, const drudge_report_group *g, int with_backlog, int total)
{
    const drudge_report_figures *f = &g->f;
    int64_t s = (f->robot_us + 500000) / 1000000;
    drudge_buf_puts(b, "<tr data-group=\"");
    esc(b, g->key);
    drudge_buf_puts(b, total ? "\"><td>" : "\"><td data-k=\"group\">");
    esc(b, g->key);
    drudge_buf_printf(b,
                      "</td><td data-k=\"done\">%" PRId64 "</td><td data-k=\"failed\">%" PRId64
                      "</td><td data-k=\"dead\">%" PRId64 "</td>",
                      f->done, f->failed, f->dead);
    td(b, "gross_minutes", "%.1f", f->gross_minutes);
    td(b, "lost_minutes", "%.1f", f->lost_minutes);
    td(b, "net_hours", "%.2f", drudge_report_net_hours(f));
    td(b, "success_rate", "%.1f%%", 100 * drudge_report_success_rate(f));
    td(b, "first_time_right_rate", "%.1f%%", 100 * drudge_report_ftr_rate(f));
    td(b, "mean_attempts", "%.2f", drudge_report_mean_attempts(f));
    drudge_buf_printf(b, "<td data-k=\"robot_time\">%" PRId64 ":%02d:%02d</td>", s / 3600,
                      (int)(s / 60 % 60), (int)(s % 60));
    if (with_backlog) {
        drudge_buf_printf(b, "<td data-k=\"backlog\">%" PRId64 "</td>", g->queued + g->running);
        td(b, "days_to_clear", "%.1f", drudge_report_days_to_clear(g));
    }
    drudge_buf_puts(b, "</tr>\n");
}

/* ---- the audit trail: verdict, head, exceptions ---- */

static void trail_box(const drudge_report *r, drudge_buf *b)
{
    const drudge_report_trail *t = &r->trail;
    char gen[40];
    if (!t->checked)
        return;
    drudge_fmt_time(r->generated_at, gen);
    gen[10] = ' '; /* "2026-11-23 09:37:12" */
    gen[19] = '\0';
    drudge_buf_printf(b,
                      "<section class=\"integrity %s\" id=\"integrity\" data-verified=\"%s\">"
                      "<div class=\"verdict\" id=\"verdict\">",
                      t->verified ? "ok" : "bad", t->verified ? "true" : "false");
    if (t->verified)
        drudge_buf_printf(b,
                          "The audit trail verified when this report was made: %" PRId64
                          " rows, every task row cross-checked.",
                          t->rows);
    else if (t->problems)
        drudge_buf_printf(b,
                          "The audit trail does NOT verify (%d problem%s): these figures come "
                          "from rows that do not match it.",
                          t->problems, t->problems == 1 ? "" : "s");
    else
        drudge_buf_puts(b, "The audit trail could not be verified.");
    drudge_buf_puts(b, "</div>\n");
    if (t->problem_text) {
        drudge_buf_puts(b, "<pre id=\"problems\">");
        esc(b, t->problem_text);
        drudge_buf_puts(b, "</pre>\n");
    }
    drudge_buf_printf(b,
                      "<div>Chain head at %s UTC: row <span id=\"head-id\">%" PRId64
                      "</span>, hash <code id=\"head-hash\">%s</code></div></section>\n",
                      gen, t->head_id, t->head);
}

static void exceptions(const drudge_report *r, drudge_buf *b)
{
    if (!r->trail.checked)
        return;
    drudge_buf_printf(b,
                      "<h2>Exceptions</h2>\n<p class=\"note\" id=\"exceptions-count\" "
                      "data-total=\"%" PRId64 "\" data-shown=\"%zu\">",
                      r->exceptions_total, r->nexceptions);
    if (!r->exceptions_total) {
        drudge_buf_puts(b, "No task failed or died in this period.</p>\n");
        return;
    }
    drudge_buf_printf(b, "%" PRId64 " task%s failed or died in this period", r->exceptions_total,
                      r->exceptions_total == 1 ? "" : "s");
    if ((int64_t)r->nexceptions < r->exceptions_total)
        drudge_buf_printf(b,
                          "; the newest %zu are listed (drudge tasks --state failed|dead "
                          "lists the others)",
                          r->nexceptions);
    drudge_buf_puts(b, ", newest first, with the error and how a person resolved it. "
                       "<code>drudge audit show TASK --html</code> gives a task's case "
                       "record.</p>\n<table id=\"exceptions\"><thead><tr><th>task</th>"
                       "<th>finished</th><th>script</th><th>key</th><th>state</th>"
                       "<th>error</th><th>resolution</th></tr></thead><tbody>\n");
    for (size_t i = 0; i < r->nexceptions; i++) {
        const drudge_report_exception *e = &r->exceptions[i];
        char fin[40];
        drudge_fmt_time(e->finished_at, fin);
        fin[10] = ' ';
        fin[19] = '\0';
        drudge_buf_printf(b,
                          "<tr data-task=\"%" PRId64 "\"><td class=\"num\">#%" PRId64
                          "</td><td class=\"num\">%s</td><td>",
                          e->id, e->id, fin);
        esc(b, e->script ? e->script : "");
        drudge_buf_puts(b, "</td><td>");
        esc(b, e->key ? e->key : "");
        drudge_buf_puts(b, "</td><td data-x=\"state\">");
        esc(b, e->state ? e->state : "");
        drudge_buf_puts(b, "</td><td data-x=\"error\">");
        esc(b, e->error ? e->error : "");
        if (e->resolved_at) {
            char at[40];
            drudge_fmt_time(e->resolved_at, at);
            at[10] = ' ';
            at[16] = '\0';
            drudge_buf_puts(b, "</td><td data-x=\"resolution\">");
            esc(b, e->resolved_note ? e->resolved_note : "");
            drudge_buf_puts(b, " <span class=\"note\">(");
            esc(b, e->resolved_by ? e->resolved_by : "?");
            drudge_buf_printf(b, ", %s)</span></td></tr>\n", at);
        } else {
            drudge_buf_puts(b, "</td><td data-x=\"resolution\" class=\"unresolved\">"
                               "unresolved</td></tr>\n");
        }
    }
    drudge_buf_puts(b, "</tbody></table>\n");
}

/* The deadline section: the tasks whose deadline falls in the range. */
static void deadlines(const drudge_report *r, drudge_buf *b)
{
    const drudge_deadline_counts *c = &r->deadlines;
    drudge_buf_puts(b, "<h2>Deadlines</h2>\n<p class=\"note\" id=\"deadlines\">");
    if (!c->total) {
        drudge_buf_puts(b, "No task has a deadline in range.</p>\n");
        return;
    }
    drudge_buf_printf(b,
                      "%" PRId64 " task%s with a deadline in range: %" PRId64 " met, %" PRId64
                      " pending, %" PRId64 " at risk, %" PRId64
                      " missed. A deadline is missed when the task was not done (or resolved) "
                      "by then; it is at risk when it is not done and due within an hour, or an "
                      "exception waits for a person.</p>\n",
                      c->total, c->total == 1 ? "" : "s", c->met, c->pending, c->at_risk,
                      c->missed);
    drudge_buf_printf(b,
                      "<table id=\"deadline-why\"><thead><tr><th></th><th>outage</th>"
                      "<th>failure</th><th>queue</th></tr></thead>\n<tbody>\n"
                      "<tr><td>missed</td><td>%" PRId64 "</td><td>%" PRId64 "</td><td>%" PRId64
                      "</td></tr>\n<tr><td>at risk</td><td>%" PRId64 "</td><td>%" PRId64
                      "</td><td>%" PRId64 "</td></tr>\n</tbody></table>\n",
                      c->missed_by[DRUDGE_WHY_OUTAGE], c->missed_by[DRUDGE_WHY_FAILURE],
                      c->missed_by[DRUDGE_WHY_QUEUE], c->at_risk_by[DRUDGE_WHY_OUTAGE],
                      c->at_risk_by[DRUDGE_WHY_FAILURE], c->at_risk_by[DRUDGE_WHY_QUEUE]);
    if (*r->deadline_outages) {
        drudge_buf_puts(b, "<p class=\"note\">Missed during outages of ");
        esc(b, r->deadline_outages);
        drudge_buf_puts(b, ".</p>\n");
    }
}

/* The outage section: each outage in range, and what the figures mean. */
static void outages(const drudge_report *r, drudge_buf *b)
{
    drudge_buf_printf(b,
                      "<h2>Outages</h2>\n<p class=\"note\" id=\"outages\">%zu outage%s in "
                      "range; targets down %.2f h in all (robot hours unavailable); exceptions "
                      "they caused: %.1f min, which net hours subtract. An exception is caused "
                      "by an outage when its task failed or went dead while a target its script "
                      "uses was down, or when it was done after a deadline it missed while one "
                      "was (%lld late task%s, %.1f min).</p>\n",
                      r->noutages, r->noutages == 1 ? "" : "s", (double)r->down_us / 3.6e9,
                      r->total.f.outage_minutes, (long long)r->total.f.outage_late,
                      r->total.f.outage_late == 1 ? "" : "s", r->total.f.late_minutes);
    if (!r->noutages)
        return;
    drudge_buf_puts(b, "<table id=\"outage-list\"><thead><tr><th>#</th><th>target</th>"
                       "<th>start</th><th>end</th><th>minutes in range</th><th>tasks held</th>"
                       "<th>attempts spent</th><th>trigger</th></tr></thead>\n<tbody>\n");
    for (size_t i = 0; i < r->noutages; i++) {
        const drudge_report_outage *x = &r->outages[i];
        char a[40], e[40] = "still down";
        drudge_fmt_time(x->start, a);
        strcpy(a + 19, "Z"); /* to the second */
        if (x->end) {
            drudge_fmt_time(x->end, e);
            strcpy(e + 19, "Z");
        }
        drudge_buf_printf(b, "<tr><td>%" PRId64 "</td><td>", x->id);
        esc(b, x->target);
        drudge_buf_printf(b,
                          "</td><td>%s</td><td>%s</td><td>%.1f</td><td>%" PRId64 "</td><td>%" PRId64
                          "</td><td>",
                          a, e, (double)x->down_us / 6e7, x->tasks_held, x->attempts_spent);
        esc(b, x->trigger);
        drudge_buf_puts(b, "</td></tr>\n");
    }
    drudge_buf_puts(b, "</tbody></table>\n");
}

void drudge_report_html(const drudge_report *r, drudge_buf *b)
{
    const drudge_report_group *t = &r->total;
    char gen[40], since[40] = "", until[40] = "";
    int with_backlog = r->opts.by == DRUDGE_REPORT_BY_SCRIPT;
    double net = drudge_report_net_hours(&t->f);

    drudge_fmt_time(r->generated_at, gen);
    gen[10] = ' '; /* "2026-11-23 09:37" */
    gen[16] = '\0';
    if (r->opts.since != INT64_MIN)
        drudge_fmt_time(r->opts.since, since);
    if (r->opts.until != INT64_MAX)
        drudge_fmt_time(r->opts.until, until);
    drudge_buf_printf(b,
                      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
                      "<meta name=\"generator\" content=\"drudge " DRUDGE_VERSION "\">"
                      "<title>drudge: time saved</title>\n<style>%s</style></head>\n<body>\n"
                      "<h1>Time saved</h1>\n<p class=\"sub\">By %s",
                      css, drudge_report_by_name(r->opts.by));
    if (r->opts.script) {
        drudge_buf_puts(b, ", script ");
        esc(b, r->opts.script);
    }
    if (*since || *until)
        drudge_buf_printf(b, ", tasks finished %s%s%s%s", *since ? "from " : "", since,
                          *until ? " until before " : "", until);
    else
        drudge_buf_puts(b, ", all time");
    drudge_buf_printf(b, ". Times in UTC; generated %s.</p>\n<section class=\"kpis\">\n", gen);
    kpi(b, net < 0 ? "net neg" : "net", "kpi-net-hours", "net hours saved", "%.1f", net);
    kpi(b, "", "kpi-gross-hours", "hours saved by done tasks", "%.1f", t->f.gross_minutes / 60);
    kpi(b, "", "kpi-lost-hours", "hours lost to failures", "%.1f", t->f.lost_minutes / 60);
    kpi(b, "", "kpi-outage-hours", "hours lost to outages (in net)", "%.1f",
        t->f.outage_minutes / 60);
    kpi(b, "", "kpi-down-hours", "robot hours unavailable (targets down)", "%.1f",
        (double)r->down_us / 3.6e9);
    kpi(b, "", "kpi-done", "tasks done", "%.0f", (double)t->f.done);
    kpi(b, "", "kpi-success", "success rate", "%.1f%%", 100 * drudge_report_success_rate(&t->f));
    kpi(b, "", "kpi-backlog", "backlog (queued + running)", "%.0f",
        (double)(t->queued + t->running));
    kpi(b, "", "kpi-days", "days to clear at the last 7 days' rate", "%.1f",
        drudge_report_days_to_clear(t));
    drudge_buf_puts(b, "</section>\n");
    trail_box(r, b);
    chart(r, b);
    drudge_buf_printf(b,
                      "<table id=\"report\"><thead><tr><th>%s</th><th>done</th><th>failed</th>"
                      "<th>dead</th><th>saved min</th><th>lost min</th><th>net hours</th>"
                      "<th>success</th><th>first time right</th><th>attempts per task</th>"
                      "<th>robot time</th>%s</tr></thead>\n<tbody>\n",
                      drudge_report_by_name(r->opts.by),
                      with_backlog ? "<th>backlog</th><th>days to clear</th>" : "");
    for (size_t i = 0; i < r->ngroups; i++)
        row(b, &r->groups[i], with_backlog, 0);
    drudge_buf_puts(b, "</tbody><tfoot>\n");
    row(b, t, with_backlog, 1);
    drudge_buf_printf(b,
                      "</tfoot></table>\n<p class=\"note\">Saved: the manual minutes of done "
                      "tasks. Lost: the exception minutes of failed and dead tasks, also those a "
                      "person resolved by hand. Net hours = (saved &minus; lost) / 60. Minutes "
                      "are the values stored with each task when it was enqueued. Success = done "
                      "/ finished; first time right = done at the first attempt / finished; "
                      "robot time = the summed duration of the attempts. Backlog now: %" PRId64
                      " queued, %" PRId64 " running; %" PRId64
                      " tasks finished in the last 7 days.</p>\n",
                      t->queued, t->running, t->finished_7d);
    exceptions(r, b);
    outages(r, b);
    deadlines(r, b);
    drudge_buf_puts(b, "</body></html>\n");
}
