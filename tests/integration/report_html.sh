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
                      "manual_minutes,exception_minutes,created_at,finished_at,error) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                      (tid, script, "/x.lua", state, 0, atts, 3, manual, exc, 0, fin,
                       None if state == "done" else "portal <timeout> on case %d" % tid))
            for a in range(atts):
                c.execute("INSERT INTO attempts(task_id,n,worker,started_at,ended_at,outcome) VALUES (?,?,?,?,?,?)",
                          (tid, a + 1, "w", fin - (a + 1) * 1500000, fin - a * 1500000 - 100000,
                           state if a == atts - 1 else "error"))
c.execute("INSERT INTO tasks(script,script_path,state,run_at,max_attempts,created_at) "
          "VALUES ('intake','/x.lua','queued',0,3,0)")
c.commit()
PY
# Two exceptions resolved by hand (operator steps on the chain).
first_failed=$(sql "select min(id) from tasks where state='failed'")
last_dead=$(sql "select max(id) from tasks where state='dead'")
expect_exit 0 "$DRUDGE" resolve "$first_failed" --note "re-keyed by hand & checked"
expect_exit 0 "$DRUDGE" resolve "$last_dead" --note "duplicate of another case"
# The synthetic rows have no steps on the chain: verify says so (exit 6),
# and the report must say the same.
expect_exit 6 "$DRUDGE" audit verify --json
verify_json=$out

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
# What the report adds for auditors (by-script page): the verify status and
# chain head when it was made, the exceptions with errors and resolutions
# (newest first), dated axis labels, and step-shaped cumulative lines.
got=$(/usr/bin/python3 - "$TMP/dom-script.html" "$TMP/report-script.json" "$DRUDGE_DB" "$verify_json" <<'PY'
import json, re, sqlite3, sys
from html.parser import HTMLParser
dom = open(sys.argv[1], encoding="utf-8").read()
rep = json.load(open(sys.argv[2]))
db = sqlite3.connect(sys.argv[3])
verify = json.loads(sys.argv[4])
class P(HTMLParser):
    def __init__(s):
        super().__init__(); s.ids, s.cur, s.text, s.rows, s.cell, s.ticks, s.lines = {}, None, "", [], None, [], []
        s.tick = None
    def handle_starttag(s, tag, a):
        a = dict(a)
        if "id" in a: s.ids[a["id"]] = dict(a, text=""); s.cur = a["id"] if tag in ("code", "span", "div") else None
        if tag == "tr" and "data-task" in a: s.rows.append({"task": int(a["data-task"])})
        if tag == "td" and "data-x" in a: s.cell = a["data-x"]; s.rows[-1][s.cell] = ""
        if tag == "text" and a.get("class") == "tick": s.tick = ""; s.ticks.append(s)
        if tag == "polyline": s.lines.append([tuple(map(float, p.split(","))) for p in a["points"].split()])
    def handle_endtag(s, tag):
        if tag == "td": s.cell = None
        if tag in ("code", "span", "div"): s.cur = None
        if tag == "text" and s.tick is not None: s.ticks[-1] = s.tick; s.tick = None
    def handle_data(s, d):
        if s.cur: s.ids[s.cur]["text"] += d
        if s.cell: s.rows[-1][s.cell] += d
        if s.tick is not None: s.tick += d + " "
p = P(); p.feed(dom)
bad = []
ok = "true" if verify["ok"] else "false"
if p.ids.get("integrity", {}).get("data-verified") != ok: bad.append("verdict %r, verify says ok=%s" % (p.ids.get("integrity"), ok))
if p.ids.get("head-hash", {}).get("text") != verify["head"]: bad.append("head %r vs %s" % (p.ids.get("head-hash"), verify["head"]))
total = rep["total"]["failed"] + rep["total"]["dead"]
cnt = p.ids.get("exceptions-count", {})
if cnt.get("data-total") != str(total): bad.append("exceptions total %r, json %d" % (cnt.get("data-total"), total))
if len(p.rows) != min(total, 200): bad.append("exception rows %d of %d" % (len(p.rows), total))
prev = None
for r in p.rows:
    state, error, fin, note = db.execute("select state, error, finished_at, resolved_note from tasks where id=?", (r["task"],)).fetchone()
    if r.get("state") != state or state not in ("failed", "dead"): bad.append("task %d state %r vs %s" % (r["task"], r.get("state"), state))
    if r.get("error") != error: bad.append("task %d error %r vs %r" % (r["task"], r.get("error"), error))
    res = r.get("resolution", "")
    if (note and not res.startswith(note + " (")) or (not note and res != "unresolved"): bad.append("task %d resolution %r vs %r" % (r["task"], res, note))
    if prev is not None and fin > prev: bad.append("not newest first at task %d" % r["task"])
    prev = fin
notes = [r["resolution"] for r in p.rows if r.get("resolution") != "unresolved"]
if len(notes) != 2: bad.append("resolved rows %r" % notes)
if len(p.ticks) != 6 or not all(re.search(r"\b2025-03-\d\d\b", t) for t in p.ticks): bad.append("axis labels without dates %r" % p.ticks)
for pts in p.lines:
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if x0 != x1 and y0 != y1: bad.append("a sloped segment %r-%r" % ((x0, y0), (x1, y1))); break
print("\n".join(bad) if bad else "ok %d exceptions, %d lines" % (len(p.rows), len(p.lines)))
PY
)
contains "$got" "ok " "the report's audit content ($got)"
# A database whose trail verifies says so; a forged note is caught when the
# next report is made, naming the task and the field.
(
  export DRUDGE_DB="$TMP/real.db"
  printf 'return { run = function(task) if task.input.n == 2 then fail("bad case") end return true end }\n' > real.lua
  expect_exit 0 "$DRUDGE" enqueue real.lua --input '{"n":1}'
  expect_exit 0 "$DRUDGE" enqueue real.lua --input '{"n":2}'
  expect_exit 0 "$DRUDGE" -q work --until-empty
  expect_exit 0 "$DRUDGE" resolve 2 --note "closed by hand"
  expect_exit 0 "$DRUDGE" report --format html -o "$TMP/real.html"
  contains "$(cat "$TMP/real.html")" 'data-verified="true"' "an intact trail verifies"
  contains "$(cat "$TMP/real.html")" "closed by hand" "the resolution note"
  sqlite3 "$DRUDGE_DB" "update tasks set resolved_note='forged' where id=2"
  expect_exit 0 "$DRUDGE" report --format html -o "$TMP/forged.html"
  contains "$(cat "$TMP/forged.html")" 'data-verified="false"' "the report says the trail does not verify"
  contains "$(cat "$TMP/forged.html")" "task 2: resolved_note" "naming the task and field"
  finish
) || fails=$((fails + 1))
# The other formats stay figures: no verify run for them.
expect_exit 0 "$DRUDGE" report --format json
[[ "$out" != *exceptions* ]] && pass || fail "json report changed"

# Ten days of finish times: the chart steps by hour (3-hour steps, as
# 9 days in hours would be over 200 steps).
contains "$(cat "$TMP/report-day.html")" "in steps of 3 h" "chart step"
finish
