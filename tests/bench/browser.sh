# drudge.browser: a 7-field form (found by the fields' labels) filled and
# submitted N times (default 100) by a drudge script, every action an
# audited step, beside the same WebDriver commands from a plain libcurl loop
# (tests/fixtures/bench_wd_raw.c) in the same run, in paired rounds.
# Targets: drudge within 10% of the raw loop; browser.open to the first
# page loaded under 1 s (in the engines and modes below). Also Chromium's
# own memory per session, per engine.
set -euo pipefail
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
cd "$TMP"
N=${BROWSER_BENCH_N:-100}
ROUNDS=${BROWSER_BENCH_ROUNDS:-3}
export DRUDGE_STATE_DIR="$TMP/state" DRUDGE_DB="$TMP/bench.db"
"$BUILD/tests/browser_server" >server.out 2>&1 &
SERVER=$!
DRIVER=
trap 'kill $SERVER $DRIVER 2>/dev/null || true; rm -rf "$TMP"' EXIT
for _ in $(seq 50); do [ -s server.out ] && break; sleep 0.1; done
URL="http://127.0.0.1:$(awk '{print $2}' server.out)/form"

cat >fill.lua <<LUA
local browser = require "drudge.browser"
return { timeout = 3600, run = function(task)
  local b = browser.open{}
  b:go("$URL")
  for i = 1, task.input.n do
    if i > 1 then b:go("$URL") end
    b:type({ label = "First Name" }, "Ada")
    b:type({ label = "Last Name" }, "Lovelace")
    b:type({ label = "Email" }, "ada@example.org")
    b:type({ label = "Phone" }, "0123")
    b:type({ label = "City" }, "London")
    b:select({ label = "Country" }, "France")
    b:type({ label = "Notes" }, "Analyst")
    b:click{ role = "button", name = "Submit" }
    b:text("#saved")
  end
  return task.input.n
end }
LUA

# Peak memory of our browser processes while a command runs: those whose
# command line names the state directory (chromedriver, Chromium's browser
# process) and every process in their process groups (zygotes, renderers,
# utilities), as PSS (shared pages split between the processes that share
# them) and RSS, summed.
mem_sample() {
  local pss=0 rss=0 pid p r groups
  # the processes naming the state directory, and every process in their groups
  groups=$(ps -eo pgid=,args= | awk -v d="$DRUDGE_STATE_DIR" 'index($0, d) { print $1 }' | sort -u | tr '\n' ' ')
  for pid in $(ps -eo pid=,pgid=,args= | awk -v d="$DRUDGE_STATE_DIR" -v g=" $groups" 'index($0, d) || index(g, " " $2 " ") { print $1 }' | sort -u); do
    read -r p r < <(awk '/^Pss:/ { p = $2 } /^Rss:/ { r = $2 } END { print p + 0, r + 0 }' \
      "/proc/$pid/smaps_rollup" 2>/dev/null || echo "0 0")
    pss=$((pss + p)) rss=$((rss + r))
  done
  echo "$pss $rss"
}

median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
ratios="" raws="" drudges="" opens=""
for ((r = 1; r <= ROUNDS; r++)); do
  # the raw loop, on a chromedriver of its own
  chromedriver --port=0 --log-level=SEVERE >driver.out 2>&1 &
  DRIVER=$!
  for _ in $(seq 100); do grep -q 'successfully on port' driver.out && break; sleep 0.05; done
  port=$(grep -o 'successfully on port [0-9]*' driver.out | grep -o '[0-9]*$')
  raw=$("$BUILD/tests/bench_wd_raw" "$port" "$URL" "$N")
  kill $DRIVER; wait $DRIVER 2>/dev/null || true
  # drudge (memory is sampled in a run of its own below: the sampler's
  # CPU would otherwise count against this side only)
  rm -rf bench.db*
  "$DRUDGE" -q run fill.lua --input "{\"n\":$N}" >/dev/null
  # the forms' time: from the first go's end to the last step's end
  drudge=$(sqlite3 bench.db "select (max(started_at + duration_us) - min(started_at + duration_us)) / 1e6 from steps where kind = 'browser' and name <> 'open' and seq > (select min(seq) from steps where name like 'go %')")
  first_go=$(sqlite3 bench.db "select duration_us / 1e6 from steps where name like 'go %' order by seq limit 1")
  open=$(sqlite3 bench.db "select duration_us / 1e6 from steps where name = 'open'")
  ratios="$ratios $(awk -v a="$drudge" -v b="$raw" 'BEGIN { printf "%.3f", a / b }')"
  raws="$raws $raw" drudges="$drudges $drudge"
  opens="$opens $(awk -v a="$open" -v b="$first_go" 'BEGIN { printf "%.3f", a + b }')"
  echo "round $r: raw $raw s, drudge $drudge s, open $open s + first page $first_go s"
done
# browser.open to the first page in a worker running K tasks that each open
# a browser and load a page, in paired rounds of three modes: "chromium"
# (browser.headless_shell = false: chromium --headless=new, what every open
# cost before the shell), "shell" (chromium-headless-shell, with
# browser.prewarm = false: every open starts Chromium cold), "prewarm" (the
# shell, and browser.prewarm = true, which a worker's "auto" default does
# from its second open on: every open but the first takes the browser the
# one before started). The
# first task of each worker also starts chromedriver; tasks 2..K reuse it.
K=${BROWSER_BENCH_TASKS:-4}
for mode in chromium shell prewarm; do
  cat >"first-$mode.lua" <<LUA
local browser = require "drudge.browser"
browser.headless_shell = $([ $mode = chromium ] && echo false || echo true)
browser.prewarm = $([ $mode = prewarm ] && echo true || echo false)
return { run = function(task)
  local b = browser.open{}
  b:go("${URL%/form}/table")
  return b:title()
end }
LUA
done
# first_open MODE: the open + first page times of a worker's K tasks
first_open() {
  rm -rf bench.db*
  for ((i = 1; i <= K; i++)); do "$DRUDGE" -q enqueue "first-$1.lua" --input "{\"i\":$i}" >/dev/null; done
  "$DRUDGE" -q work --until-empty >/dev/null
  sqlite3 bench.db "select sum(duration_us) / 1e6 from steps where name = 'open' or name like 'go %' group by task_id order by task_id" | tr '\n' ' '
}
for ((r = 1; r <= ROUNDS; r++)); do
  line="round $r:"
  for mode in chromium shell prewarm; do
    t=$(first_open $mode)
    eval "first_$mode=\"\${first_$mode:-} \$(echo $t | cut -d' ' -f1)\""
    eval "later_$mode=\"\${later_$mode:-} \$(echo $t | cut -d' ' -f2-)\""
    eval "t_$mode=\"$t\""
    line="$line $mode [$t]"
  done
  # paired per round: the shell's later opens beside chromium's
  ratio_first="${ratio_first:-} $(awk -v a="$(echo $t_shell | cut -d' ' -f1)" -v b="$(echo $t_chromium | cut -d' ' -f1)" 'BEGIN { printf "%.2f", a / b }')"
  ratio_later="${ratio_later:-} $(awk -v a="$(echo $t_shell | cut -d' ' -f2- | median)" -v b="$(echo $t_chromium | cut -d' ' -f2- | median)" 'BEGIN { printf "%.2f", a / b }')"
  echo "$line"
done

# Memory of one session with a page loaded, per engine: peak PSS and RSS
# summed over chromedriver and every Chromium process (a run of its own:
# the sampler's CPU would otherwise slow the timed runs).
for mode in chromium shell; do
  cat >"mem-$mode.lua" <<LUA
local browser = require "drudge.browser"
browser.headless_shell = $([ $mode = chromium ] && echo false || echo true)
return { run = function(task)
  local b = browser.open{}
  b:go("$URL")
  pcall(b.wait_for, b, { text = "words this page never shows", timeout = 3 })
end }
LUA
  rm -rf bench.db*
  "$DRUDGE" -q run "mem-$mode.lua" >/dev/null 2>&1 &
  RUN=$!
  peak_pss=0 peak_rss=0
  while kill -0 $RUN 2>/dev/null; do
    read -r pss rss < <(mem_sample)
    [ "$pss" -gt "$peak_pss" ] && peak_pss=$pss
    [ "$rss" -gt "$peak_rss" ] && peak_rss=$rss
    sleep 0.3
  done
  wait $RUN || true
  eval "mem_$mode=\"PSS $((peak_pss / 1024)) MiB, RSS sum $((peak_rss / 1024)) MiB\""
done

echo "forms filled per side per round: $N (7 fields by label, submit, read the answer)"
echo "raw libcurl WebDriver loop:   median $(echo $raws | median) s ($(awk -v t="$(echo $raws | median)" -v n="$N" 'BEGIN { printf "%.1f", 1000 * t / n }') ms per form)"
echo "drudge script, audited steps: median $(echo $drudges | median) s"
echo "drudge / raw, paired rounds:  median $(echo $ratios | median) (rounds:$ratios; target <= 1.10)"
echo "browser.open to first page:   median $(echo $opens | median) s (rounds:$opens; target < 1 s)"
echo "browser.open to first page in a worker of $K tasks (target < 1 s), medians over $ROUNDS rounds:"
for mode in chromium shell prewarm; do
  eval "f=\$first_$mode l=\$later_$mode"
  printf '  %-9s first task (starts chromedriver) %s s, tasks 2..%d %s s\n' "$mode" "$(echo $f | median)" "$K" "$(echo $l | median)"
done
echo "  shell / chromium, paired rounds: first task $(echo $ratio_first | median) (rounds:$ratio_first), tasks 2..$K $(echo $ratio_later | median) (rounds:$ratio_later)"
echo "Chromium per session (peak, a page loaded; chromedriver and every Chromium process): chromium $mem_chromium; headless shell $mem_shell"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs (wall times swing when others share them)"
