# The warm spare browser (browser.prewarm), issue 18's follow-up:
# 1. What the check before a spare is handed over costs: in a worker of K
#    tasks with browser.prewarm = true, each warm open's check (its
#    response's spare_check_us) beside the whole open (started_ms), paired
#    in the same open.
# 2. Whether starting the spare from a worker's first open pays, in paired
#    rounds of two modes (their order alternating): "auto" (the default:
#    the spare starts at the second open) and "first" (browser.prewarm =
#    true: at the first). Each a worker of 2 tasks that open a browser,
#    load a page and fill a form F times. Printed: task 2's open to its
#    first page (what the spare saves), task 1's form time after its open
#    (what the spare's start beside it costs), and per round their ratios.
# 3. The spare's memory: the peak PSS of a worker's browsers during one
#    task, with browser.prewarm = true (the task's browser and the spare)
#    and false.
# Env: ROUNDS (default 5), K (default 6), F (default 5).
set -euo pipefail
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
cd "$TMP"
ROUNDS=${ROUNDS:-5} K=${K:-6} F=${F:-5}
export DRUDGE_STATE_DIR="$TMP/state" DRUDGE_DB="$TMP/bench.db"
"$BUILD/tests/browser_server" >server.out 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$TMP"' EXIT
for _ in $(seq 50); do [ -s server.out ] && break; sleep 0.1; done
URL="http://127.0.0.1:$(awk '{print $2}' server.out)"
load() { cut -d' ' -f1-3 /proc/loadavg; }
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
echo "load average before: $(load) on $(nproc) CPUs"

# mode_script MODE: a task that opens, loads the form and fills it F times.
mode_script() {
  cat <<LUA
local browser = require "drudge.browser"
$([ "$1" = first ] && echo 'browser.prewarm = true')
$([ "$1" = none ] && echo 'browser.prewarm = false')
return { run = function(task)
  local b = browser.open{}
  b:go("$URL/form")
  for i = 1, $F do
    if i > 1 then b:go("$URL/form") end
    b:type({ label = "First Name" }, "Ada")
    b:type({ label = "Last Name" }, "Lovelace")
    b:click{ role = "button", name = "Submit" }
    b:text("#saved")
  end
  return b:title()
end }
LUA
}
for m in auto first none; do mode_script $m >"$m.lua"; done

# 1. The check's cost.
rm -rf bench.db*
for ((i = 1; i <= K; i++)); do "$DRUDGE" -q enqueue first.lua --input "{\"i\":$i}" >/dev/null; done
l0=$(load)
"$DRUDGE" -q work --until-empty >/dev/null
checks=$(sqlite3 bench.db "select json_extract(response, '\$.spare_check_us') / 1000.0 from steps where name = 'open' and json_extract(response, '\$.prewarmed') order by id" | tr '\n' ' ')
opens=$(sqlite3 bench.db "select json_extract(response, '\$.started_ms') from steps where name = 'open' and json_extract(response, '\$.prewarmed') order by id" | tr '\n' ' ')
shares=$(sqlite3 bench.db "select printf('%.3f', json_extract(response, '\$.spare_check_us') / 1000.0 / max(json_extract(response, '\$.started_ms'), 1)) from steps where name = 'open' and json_extract(response, '\$.prewarmed') order by id" | tr '\n' ' ')
echo "1. the check before a warm spare is handed over, in a worker of $K tasks (load $l0 -> $(load)):"
echo "   check ms per warm open: $checks(median $(echo $checks | median))"
echo "   warm open ms (check included): $opens(median $(echo $opens | median))"
echo "   check / open, paired per open: $shares(median $(echo $shares | median))"

# 2. The spare from the first open, or from the second.
# worker MODE: "<task 2 open+first page s> <task 1 form time after its first page s>"
worker() {
  rm -rf bench.db*
  for i in 1 2; do "$DRUDGE" -q enqueue "$1.lua" --input "{\"i\":$i}" >/dev/null; done
  "$DRUDGE" -q work --until-empty >/dev/null
  local t2 t1
  t2=$(sqlite3 bench.db "select sum(duration_us) / 1e6 from steps where task_id = 2 and (name = 'open' or seq = (select min(seq) from steps s2 where s2.task_id = 2 and s2.name like 'go %'))")
  t1=$(sqlite3 bench.db "select (max(started_at + duration_us) - min(started_at + duration_us)) / 1e6 from steps where task_id = 1 and kind = 'browser' and name <> 'open'")
  echo "$t2 $t1"
}
for ((r = 1; r <= ROUNDS; r++)); do
  order="auto first"
  [ $((r % 2)) = 0 ] && order="first auto"
  l0=$(load)
  for m in $order; do read -r "t2_$m" "t1_$m" < <(worker $m); done
  open_auto="${open_auto:-} $t2_auto" open_first="${open_first:-} $t2_first"
  form_auto="${form_auto:-} $t1_auto" form_first="${form_first:-} $t1_first"
  r_open="${r_open:-} $(awk -v a="$t2_first" -v b="$t2_auto" 'BEGIN { printf "%.2f", a / b }')"
  r_form="${r_form:-} $(awk -v a="$t1_first" -v b="$t1_auto" 'BEGIN { printf "%.2f", a / b }')"
  echo "   round $r ($order; load $l0): task 2 open+page auto $t2_auto s, first $t2_first s; task 1 forms auto $t1_auto s, first $t1_first s"
done
echo "2. the spare from a worker's first open (first) or its second (auto), medians of $ROUNDS paired rounds:"
echo "   task 2's open to its first page: auto $(echo $open_auto | median) s, first $(echo $open_first | median) s; first / auto per round:$r_open (median $(echo $r_open | median))"
echo "   task 1's $F forms after its first page: auto $(echo $form_auto | median) s, first $(echo $form_first | median) s; first / auto per round:$r_form (median $(echo $r_form | median))"

# 3. Memory: peak PSS of the worker's browsers (every process of the
# driver's group and those naming the state directory) during one task.
mem_sample() {
  local pss=0 pid p groups
  groups=$(ps -eo pgid=,args= | awk -v d="$DRUDGE_STATE_DIR" 'index($0, d) { print $1 }' | sort -u | tr '\n' ' ')
  for pid in $(ps -eo pid=,pgid=,args= | awk -v d="$DRUDGE_STATE_DIR" -v g=" $groups" 'index($0, d) || index(g, " " $2 " ") { print $1 }' | sort -u); do
    p=$(awk '/^Pss:/ { print $2 }' "/proc/$pid/smaps_rollup" 2>/dev/null || echo 0)
    pss=$((pss + ${p:-0}))
  done
  echo $pss
}
for m in none first; do
  peaks=""
  for ((r = 1; r <= 2; r++)); do
    rm -rf bench.db*
    "$DRUDGE" -q enqueue "$m.lua" >/dev/null
    "$DRUDGE" -q work --until-empty >/dev/null 2>&1 &
    W=$!
    peak=0
    while kill -0 $W 2>/dev/null; do
      p=$(mem_sample)
      [ "$p" -gt "$peak" ] && peak=$p
      sleep 0.2
    done
    wait $W || true
    peaks="$peaks $((peak / 1024))"
  done
  eval "mem_$m=\"$peaks\""
done
echo "3. peak PSS of a worker's browsers during one task (MiB, 2 runs each): no spare$mem_none; with the spare$mem_first"
echo "load average after: $(load)"
