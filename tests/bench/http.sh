# drudge.http throughput: 10,000 sequential GETs to the local fixture server
# from one drudge script (every request recorded as an http step, committed
# with the attempt) against a plain libcurl keep-alive loop
# (tests/fixtures/bench_curl_raw.c), in the same run. Target: drudge >= 90%.
# With OLD_DRUDGE set (another build's binary) it runs that too, in the same
# rounds, and prints new/old ratios.
set -euo pipefail
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
cd "$TMP"
N=${HTTP_BENCH_N:-10000}
ROUNDS=${HTTP_BENCH_ROUNDS:-7}
source "${SRC:?}/tests/bench/fixture.bash"
start_fixture_server
URL="http://127.0.0.1:$PORT/hello"
export DRUDGE_DB="$TMP/bench.db"

cat >loop.lua <<LUA
local http = require "drudge.http"
return { timeout = 600, run = function(task)
  local n = task.input.n
  local t0 = os.clock()
  for i = 1, n do
    local r = http.get("$URL")
    if r.status ~= 200 then error("status " .. r.status) end
  end
  return n
end }
LUA

# best of ROUNDS for each, alternating, so both see the same machine load
# CPU seconds (user + system) of a command, which a loaded machine disturbs less than wall time.
cpu() { /usr/bin/time -f "%U %S" -o cpu.txt "$@" >/dev/null; awk '{ print $1 + $2 }' cpu.txt; }
best_raw=0 best_like=0 best_drudge=0 best_drudge_total=0 cpu_raw=999 cpu_drudge=999 ratios="" likes=""
olds="" news_old="" cpu_olds="" cpu_news="" old=""
for ((r = 0; r < ROUNDS; r++)); do
  raw=$(/usr/bin/time -f "%U %S" -o cpu.txt "$BUILD/tests/bench_curl_raw" "$URL" "$N")
  c=$(awk '{ print $1 + $2 }' cpu.txt)
  awk -v a="$c" -v b="$cpu_raw" 'BEGIN { exit !(a < b) }' && cpu_raw=$c
  [ "$raw" -gt "$best_raw" ] && best_raw=$raw
  like=$("$BUILD/tests/bench_curl_raw" "$URL" "$N" --like-drudge)
  [ "$like" -gt "$best_like" ] && best_like=$like
  rm -rf bench.db*
  start=$(date +%s%N)
  # the script's own time: from the recorded http steps' first start to last end
  c=$(cpu "$DRUDGE" -q run loop.lua --input "{\"n\":$N}")
  cpu_round=$c
  awk -v a="$c" -v b="$cpu_drudge" 'BEGIN { exit !(a < b) }' && cpu_drudge=$c
  end=$(date +%s%N)
  inner=$(sqlite3 bench.db "select cast($N * 1e6 / (max(started_at + duration_us) - min(started_at)) as int) from steps where kind='http'")
  total=$(awk -v ns=$((end - start)) -v n="$N" 'BEGIN { printf "%d", n / (ns / 1e9) }')
  ratios="$ratios $(awk -v a="$inner" -v b="$raw" 'BEGIN { printf "%.1f", 100 * a / b }')"
  likes="$likes $(awk -v a="$inner" -v b="$like" 'BEGIN { printf "%.1f", 100 * a / b }')"
  [ "$inner" -gt "$best_drudge" ] && best_drudge=$inner
  [ "$total" -gt "$best_drudge_total" ] && best_drudge_total=$total
  if [ -n "${OLD_DRUDGE:-}" ]; then
    # another build in the same round, right after: new/old of the script's own rate
    rm -rf bench.db*
    c=$(cpu "$OLD_DRUDGE" -q run loop.lua --input "{\"n\":$N}")
    cpu_olds="$cpu_olds $(awk -v c="$c" -v n="$N" 'BEGIN { printf "%.1f", c * 1e6 / n }')"
    cpu_news="$cpu_news $(awk -v c="$cpu_round" -v n="$N" 'BEGIN { printf "%.1f", c * 1e6 / n }')"
    old=$(sqlite3 bench.db "select cast($N * 1e6 / (max(started_at + duration_us) - min(started_at)) as int) from steps where kind='http'")
    olds="$olds $(awk -v a="$old" -v b="$raw" 'BEGIN { printf "%.1f", 100 * a / b }')"
    news_old="$news_old $(awk -v a="$inner" -v b="$old" 'BEGIN { printf "%.2f", a / b }')"
  fi
  echo "round $((r + 1)) (load $(cut -d' ' -f1 /proc/loadavg)): raw $raw, like-drudge $like, drudge $inner req/s${old:+, old $old}"
done
echo "raw libcurl keep-alive loop:   $best_raw req/s"
echo "drudge script (requests only): $best_drudge req/s ($(awk -v a=$best_drudge -v b=$best_raw 'BEGIN{printf "%.0f", 100*a/b}')% of raw)"
# Each round pairs the raw runs with the drudge run right after them: the
# median of those ratios is what load on a shared machine disturbs least.
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
echo "libcurl set up like drudge:    $best_like req/s (cookie engine, shared DNS/TLS cache, decompression, User-Agent, header callback)"
echo "drudge / raw, paired rounds:   median $(echo $ratios | median)% (rounds:$ratios)"
echo "drudge / like-drudge, paired:  median $(echo $likes | median)% (rounds:$likes)"
echo "drudge run, whole process:     $best_drudge_total req/s (start, $N recorded steps committed, exit)"
if [ -n "$olds" ]; then
  echo "old drudge / raw, paired:      median $(echo $olds | median)% (rounds:$olds)"
  echo "new / old, same round:         median $(echo $news_old | median) (rounds:$news_old)"
  echo "CPU per request, new vs old:   new$cpu_news us; old$cpu_olds us (whole process, per round)"
fi
awk -v r="$cpu_raw" -v d="$cpu_drudge" -v n="$N" 'BEGIN { printf "CPU per request (user+sys):    raw %.1f us, drudge %.1f us (whole process)\n", r * 1e6 / n, d * 1e6 / n }'
echo "(wall-time ratios swing widely when other jobs share the CPUs; compare rounds on a quiet machine)"

# -j 4 workers, once `drudge work` exists
if "$DRUDGE" work --help >/dev/null 2>&1 && ! "$DRUDGE" work --help 2>&1 | grep -q "not built"; then
  cat >one.lua <<LUA
local http = require "drudge.http"
return { run = function() return http.get("$URL").status end }
LUA
  rm -rf bench.db*
  for ((i = 0; i < N; i++)); do echo "{\"i\":$i}"; done >tasks.jsonl
  "$DRUDGE" -q enqueue one.lua --from tasks.jsonl >/dev/null
  start=$(date +%s%N)
  "$DRUDGE" -q work -j 4 --until-empty >/dev/null
  end=$(date +%s%N)
  awk -v ns=$((end - start)) -v n="$N" 'BEGIN { printf "drudge work -j 4, one GET per task: %d tasks/s\n", n / (ns / 1e9) }'
else
  echo "drudge work -j 4: skipped (the queue's work command is not built yet)"
fi
