#!/usr/bin/env bash
# The report's outage figures against values computed by hand on a fixed
# database (issue #20): down hours (robot hours unavailable), the exception
# minutes outages caused (failed tasks that finished while a target their
# script uses was down), and net hours, the same in text, JSON and HTML.
source "$TESTS/lib.sh"

cat >rep.lua <<'LUA'
return { name = "rep", manual_minutes = 10, exception_minutes = 30,
  run = function(task)
    if task.input.fail then fail("bad item " .. task.input.n) end
    return { n = task.input.n }
  end }
LUA
printf '%s\n' '{"n":1}' '{"n":2}' '{"n":3}' '{"n":4}' \
  '{"n":5,"fail":true}' '{"n":6,"fail":true}' '{"n":7,"fail":true}' >items.jsonl
expect_exit 0 "$DRUDGE" enqueue rep.lua --from items.jsonl
expect_exit 0 "$DRUDGE" work --until-empty
equals "$(sql "SELECT state, count(*) FROM tasks GROUP BY state ORDER BY state" | tr '\n' ' ')" \
  "done|4 failed|3 " "4 done, 3 failed"

# Fixed times: T0 = 2026-12-06T00:53:20Z. Done tasks finish at T0+10..40 s;
# failed ones at T0+50 s (before the outage), T0+200 s and T0+300 s (during it).
T0=1796518400000000
S=1000000
sql "UPDATE tasks SET finished_at = $T0 + id * 10 * $S WHERE state = 'done'" >/dev/null
sql "UPDATE tasks SET finished_at = $T0 + 50 * $S WHERE state = 'failed' AND id = 5" >/dev/null
sql "UPDATE tasks SET finished_at = $T0 + 200 * $S WHERE state = 'failed' AND id = 6" >/dev/null
sql "UPDATE tasks SET finished_at = $T0 + 300 * $S WHERE state = 'failed' AND id = 7" >/dev/null
# cms.test (used by rep) down from T0+100 s to T0+400 s; other.test (used by
# no script) from T0 to T0+1000 s.
sql "INSERT INTO script_targets(target, script, declared) VALUES ('cms.test', 'rep', 1)" >/dev/null
sql "INSERT INTO outages(target, started_at, opened_at, ended_at, trigger, probes, tasks_held,
       attempts_spent) VALUES
     ('cms.test', $T0 + 100 * $S, $T0 + 101 * $S, $T0 + 400 * $S, 'HTTP 503', 3, 2, 1),
     ('other.test', $T0, $T0 + 1 * $S, $T0 + 1000 * $S, 'connection refused', 5, 0, 0)" >/dev/null

# All time. By hand: gross 4 x 10 = 40 min; lost 3 x 30 = 90 min, of which
# outages caused 2 x 30 = 60 (tasks 6 and 7); net (40 - 90) / 60 = -0.8333 h;
# down 300 s + 1000 s = 1300 s = 0.3611 h.
expect_exit 0 "$DRUDGE" --json report
json=$out
read -r gross lost outage net down count <<<"$(python3 -c '
import json, sys
r = json.loads(sys.argv[1]); t = r["total"]; o = r["outages"]
print(t["gross_minutes"], t["lost_minutes"], t["outage_minutes"], round(t["net_hours"], 4),
      round(o["down_hours"], 4), o["count"])' "$json")"
equals "$gross $lost $outage $net $down $count" "40 90 60 -0.8333 0.3611 2" \
  "report --json: gross, lost, outage minutes, net hours, down hours, outages"

# From T0+250 s: tasks 7 only (failed during the outage); cms.test overlaps
# 150 s, other.test 750 s: 900 s = 0.25 h.
expect_exit 0 "$DRUDGE" --json report --since "2026-12-06T00:57:30Z"
read -r lost outage net down <<<"$(python3 -c '
import json, sys
r = json.loads(sys.argv[1]); t = r["total"]; o = r["outages"]
print(t["lost_minutes"], t["outage_minutes"], round(t["net_hours"], 4), round(o["down_hours"], 4))' "$out")"
equals "$lost $outage $net $down" "30 30 -0.5 0.25" "report --since: the overlap only"

# Text and HTML say the same.
expect_exit 0 "$DRUDGE" report
contains "$out" "Outages: 2; targets down 0.36 h in all (robot hours unavailable); exceptions they caused 60.0 min" "text"
contains "$out" "#1 cms.test: 2026-12-06T00:55:00Z to 2026-12-06T01:00:00Z, 5.0 min in range; 2 tasks held, 1 attempts spent; HTTP 503" "text: the outage"
expect_exit 0 "$DRUDGE" report --format html -o report.html
html=$(cat report.html)
contains "$html" "2 outages in range; targets down 0.36 h in all (robot hours unavailable); exceptions they caused: 60.0 min" "html"
contains "$html" "<td>cms.test</td>" "html: the outage's row"
contains "$html" "kpi-outage-hours" "html: the outage KPI"

finish
