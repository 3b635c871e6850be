#!/usr/bin/env bash
# The report's outage figures against values computed by hand on a fixed
# database (issue #20): down hours (robot hours unavailable), the exception
# minutes outages caused (failed tasks that finished while a target their
# script uses was down, done tasks late because their deadline passed
# during an outage), and net hours, the same in text, JSON and HTML.
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

# ---- deadlines missed during an outage ----
# Task 4 is now done at T0+450 s, after its deadline T0+150 s, which fell in
# cms.test's outage: done late because of it, its 30 exception minutes are
# "late" (subtracted from net) and part of outage minutes. Task 6 failed
# during the outage and its deadline (T0+150 s) was missed during it too:
# counted once. Task 5 failed before the outage; its deadline (T0+120 s)
# passed during it, but its failure is its own: not the outage's. Task 2
# missed its deadline (T0+5 s) before the outage; task 3 met its own.
sql "UPDATE tasks SET finished_at = $T0 + 450 * $S, deadline = $T0 + 150 * $S WHERE id = 4" >/dev/null
sql "UPDATE tasks SET deadline = $T0 + 150 * $S WHERE id = 6" >/dev/null
sql "UPDATE tasks SET deadline = $T0 + 120 * $S WHERE id = 5" >/dev/null
sql "UPDATE tasks SET deadline = $T0 + 5 * $S WHERE id = 2" >/dev/null
sql "UPDATE tasks SET deadline = $T0 + 35 * $S WHERE id = 3" >/dev/null
# By hand: gross 40; lost 90 (5, 6, 7); late 30 (4); outage minutes
# 30 (6) + 30 (7) + 30 (4) = 90; net (40 - 90 - 30) / 60 = -1.3333 h;
# without the outages -1.3333 + 90 / 60 = 0.1667 h.
expect_exit 0 "$DRUDGE" --json report
read -r lost late outage ltasks net olate otasks <<<"$(python3 -c '
import json, sys
r = json.loads(sys.argv[1]); t = r["total"]; o = r["outages"]
print(t["lost_minutes"], t["late_minutes"], t["outage_minutes"], t["outage_late_tasks"],
      round(t["net_hours"], 4), o["late_minutes"], o["late_tasks"])' "$out")"
equals "$lost $late $outage $ltasks $net $olate $otasks" "90 30 90 1 -1.3333 30 1" \
  "report --json: lost, late, outage minutes, late tasks, net hours"
expect_exit 0 "$DRUDGE" report
contains "$out" "exceptions they caused 90.0 min (tasks failed or dead during an outage, and 1 done late, their deadline missed during one: 30.0 min; net hours -1.33 subtract them all; without them: 0.17)" "text: late tasks in the outage figures"
contains "$out" "net hours = (saved - lost - late) / 60" "text: the formula"
contains "$out" "-1.33" "text: the table's net"
expect_exit 0 "$DRUDGE" report --format html -o late.html
html=$(cat late.html)
contains "$html" "exceptions they caused: 90.0 min, which net hours subtract" "html: outage minutes"
contains "$html" "(1 late task, 30.0 min)" "html: the late task"
contains "$html" ">-1.3<" "html: the net KPI"
# The range counts a task where it finished: until T0+400 s, task 4 (done
# at T0+450 s) is out, and with it its late minutes.
expect_exit 0 "$DRUDGE" --json report --until "2026-12-06T01:00:00Z"
equals "$(python3 -c '
import json, sys
t = json.loads(sys.argv[1])["total"]
print(t["done"], t["late_minutes"], t["outage_minutes"], round(t["net_hours"], 4))' "$out")" \
  "3 0 60 -1" "report --until: the late task outside the range"

finish
