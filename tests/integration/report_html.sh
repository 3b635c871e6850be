# drudge report --format html renders in a real browser (headless Chromium):
# a screenshot is produced, and the numbers on the page are those of the JSON.
source "$TESTS/lib.sh"
command -v chromium >/dev/null || { echo "chromium not installed"; exit 77; }

# Two scripts over ten days of March 2025, with failures and retries.
/usr/bin/python3 - "$DRUDGE_DB" <<'PY'
import sqlite3, subprocess, sys, os
db = sys.argv[1]
subprocess.run([os.environ["DRUDGE"], "run", "-q", os.environ["SRC"] + "/scripts/examples/hello.lua"],
               check=True, stdout=subprocess.DEVNULL)  # creates the schema
c = sqlite3.connect(db)
c.execute("DELETE FROM attempt_log"); c.execute("DELETE FROM tasks")
day0 = 1740787200 * 10**6  # 2025-03-01T00:00Z
tid = 1000
for d in range(10):
    for script, manual, exc, n in (("intake", 4, 6, 12 + d), ("triage", 2.5, 10, 5 + d % 3)):
        for k in range(n):
            tid += 1
            state = "failed" if k % 7 == 3 else "dead" if (k + d) % 11 == 5 else "done"
            atts = 1 + (k % 3 == 0)
            fin = day0 + d * 86400 * 10**6 + (k + 1) * 60 * 10**6
            c.execute("INSERT INTO tasks(id,script,script_path,state,run_at,attempts,max_attempts,"
                      "manual_minutes,exception_minutes,created_at,finished_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                      (tid, script, "/x.lua", state, 0, atts, 3, manual, exc, 0, fin))
            for a in range(atts):
                c.execute("INSERT INTO attempts(task_id,n,worker,started_at,ended_at,outcome) VALUES (?,?,?,?,?,?)",
                          (tid, a + 1, "w", fin - (a + 1) * 1500000, fin - a * 1500000 - 100000,
                           state if a == atts - 1 else "error"))
c.execute("INSERT INTO tasks(script,script_path,state,run_at,max_attempts,created_at) "
          "VALUES ('intake','/x.lua','queued',0,3,0)")
c.commit()
PY

for by in script day; do
  expect_exit 0 "$DRUDGE" report --by $by --format html -o "$TMP/report-$by.html"
  expect_exit 0 "$DRUDGE" report --by $by --format json -o "$TMP/report-$by.json"
  profile=$(mktemp -d "$TMP/chromium.XXXXXX")
  flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
         --disable-background-networking --disable-component-update --disable-sync
         --user-data-dir="$profile")
  timeout 60 chromium "${flags[@]}" --screenshot="$TMP/shot-$by.png" --window-size=1280,1000 \
    "file://$TMP/report-$by.html" >/dev/null 2>&1 || true
  if [ -s "$TMP/shot-$by.png" ] && [ "$(head -c 8 "$TMP/shot-$by.png" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ]; then
    pass
  else
    fail "no PNG screenshot of the $by report"
  fi
  timeout 60 chromium "${flags[@]}" --dump-dom "file://$TMP/report-$by.html" \
    >"$TMP/dom-$by.html" 2>/dev/null || true
  # Every number in the rendered table matches the JSON, formatted as documented.
  got=$(/usr/bin/python3 - "$TMP/dom-$by.html" "$TMP/report-$by.json" "$TMP/report-script.json" <<'PY'
import json, sys
from html.parser import HTMLParser
dom = open(sys.argv[1], encoding="utf-8").read()
rep = json.load(open(sys.argv[2]))
class P(HTMLParser):
    rows, group, key, series, texts, legend, kpis, kpi = {}, None, None, [], [], {}, {}, None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and "data-group" in a:
            self.group = a["data-group"]; self.rows[self.group] = {}
        if tag == "td" and "data-k" in a:
            self.key = a["data-k"]; self.texts = []
        if tag == "g" and "data-script" in a:
            self.series.append(a["data-script"])
        if tag == "span" and a.get("id", "").startswith("kpi-"):
            self.kpi = a["id"]; self.kpis[self.kpi] = ""
        if tag == "text" and "data-net-hours" in a:
            self.legend[self.series[-1]] = a["data-net-hours"]
    def handle_data(self, d):
        if self.key: self.texts.append(d)
        if self.kpi: self.kpis[self.kpi] += d
    def handle_endtag(self, tag):
        if tag == "span": self.kpi = None
        if tag == "td" and self.key:
            self.rows[self.group][self.key] = "".join(self.texts).strip(); self.key = None
p = P(); p.feed(dom)
def fmt(k, v):
    if v is None: return "never" if k == "days_to_clear" else "\u2013"
    if k in ("done", "failed", "dead", "backlog"): return str(v)
    if k in ("gross_minutes", "lost_minutes", "days_to_clear"): return "%.1f" % v
    if k in ("net_hours", "mean_attempts"): return "%.2f" % v
    if k.endswith("_rate"): return "%.1f%%" % (100 * v)
    s = int(v + 0.5); return "%d:%02d:%02d" % (s // 3600, s // 60 % 60, s % 60)
groups = [(g["group"], g) for g in rep["groups"]] + [("total", rep["total"])]
bad, checked = [], 0
for name, g in groups:
    row = p.rows.get(name)
    if row is None: bad.append("no row " + name); continue
    for k, text in row.items():
        if k == "group": continue
        want = fmt(k, g["robot_seconds"] if k == "robot_time" else g[k])
        checked += 1
        if text != want: bad.append("%s %s: page %r, json %r" % (name, k, text, want))
if len(p.rows) != len(groups): bad.append("rows: %d, groups: %d" % (len(p.rows), len(groups)))
if sorted(p.series) != ["all scripts", "intake", "triage"]: bad.append("chart series %r" % p.series)
# The chart ends at each script's net hours (from the by-script JSON).
per_script = json.load(open(sys.argv[3]))
ends = {g["group"]: g["net_hours"] for g in per_script["groups"]}
ends["all scripts"] = per_script["total"]["net_hours"]
for name, h in ends.items():
    if p.legend.get(name) != "%.2f" % h: bad.append("chart %s ends at %r, json %.2f" % (name, p.legend.get(name), h))
# The headline figures (thousands grouped by U+202F).
t = rep["total"]
for k, want in (("kpi-net-hours", "%.1f" % t["net_hours"]), ("kpi-done", str(t["done"])),
                ("kpi-lost-hours", "%.1f" % (t["lost_minutes"] / 60)), ("kpi-backlog", str(t["backlog"]))):
    if p.kpis.get(k, "").replace("\u202f", "") != want: bad.append("%s: page %r, json %r" % (k, p.kpis.get(k), want))
print("\n".join(bad) if bad else "ok %d" % checked)
PY
)
  contains "$got" "ok " "$by report: page numbers match the JSON ($got)"
done
# Ten days of finish times: the chart steps by hour (3-hour steps, as
# 9 days in hours would be over 200 steps).
contains "$(cat "$TMP/report-day.html")" "in steps of 3 h" "chart step"
finish
