# A lone worker (`drudge work -j 1`, as desktop robots run) on tasks that
# each make one HTTP call of MS ms (the fixture server's /slow), against the
# raw sequential rate: the same requests one after another from a plain
# libcurl loop (tests/fixtures/bench_curl_raw.c). Rounds alternate raw and
# drudge (and OLD_DRUDGE, another build's binary, when set), so each ratio
# compares neighbours; the script's attempts are read back from the
# database to say where a task's time went: the HTTP step itself, the gap
# between one attempt's end and the next one's start (a worker waiting for
# work), and the process's start and end (loading libcurl and its two dozen
# libraries on the first request, the final checkpoint). The raw loop times
# its requests only, so the like-for-like ratio is the steady one: N tasks
# over the span from the first attempt's start to the last one's end; the
# whole process's rate is printed beside it. Target (#23): >= 95% of raw.
# Env: N (tasks, default 500), MS (default 5), ROUNDS (default 5).
set -euo pipefail
: "${DRUDGE:?}" "${TMP:?}" "${BUILD:?}"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
cd "$TMP"
N=${N:-500}
MS=${MS:-5}
ROUNDS=${ROUNDS:-5}
source "${SRC:?}/tests/bench/fixture.bash"
start_fixture_server
URL="http://127.0.0.1:$PORT/slow?ms=$MS"
cat >one.lua <<LUA
local http = require "drudge.http"
return { run = function() return http.get("$URL").status end }
LUA
for ((i = 0; i < N; i++)); do echo "{\"i\":$i}"; done >tasks.jsonl

stats() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { printf "min %s median %s max %s", v[1], v[int((NR + 1) / 2)], v[NR] }'; }
# lone BIN: tasks/s of `work -j 1` over N tasks; prints "rate http_ms gap_ms start_end_ms"
lone() {
  rm -rf lone.db lone.db-* lone.db.files
  DRUDGE_DB="$TMP/lone.db" "$1" -q enqueue one.lua --from tasks.jsonl >/dev/null
  local s e
  s=$(date +%s%N)
  DRUDGE_DB="$TMP/lone.db" "$1" -q work -j 1 --until-empty >/dev/null
  e=$(date +%s%N)
  python3 - "$N" $((e - s)) <<'PY'
import sqlite3, sys
n, ns = int(sys.argv[1]), int(sys.argv[2])
db = sqlite3.connect("lone.db")
a = db.execute("select started_at, ended_at from attempts order by started_at").fetchall()
http = db.execute("select sum(duration_us) from steps where kind = 'http'").fetchone()[0]
gaps = sum(max(0, a[i + 1][0] - a[i][1]) for i in range(len(a) - 1))
span = a[-1][1] - a[0][0]
print("%d %d %.0f %.0f %.0f" % (n / (ns / 1e9), n / (span / 1e6), http / 1000, gaps / 1000,
                               ns / 1e6 - span / 1000))
PY
}
names=(new)
bins=("$DRUDGE")
if [ -n "${OLD_DRUDGE:-}" ]; then
  names+=(old)
  bins+=("$OLD_DRUDGE")
fi
declare -A ratios whole
for ((r = 1; r <= ROUNDS; r++)); do
  raw=$("$BUILD/tests/bench_curl_raw" "$URL" "$N")
  line="round $r: raw $raw/s"
  for k in "${!bins[@]}"; do
    read -r rate steady http gap ends < <(lone "${bins[$k]}")
    ratios[${names[$k]}]="${ratios[${names[$k]}]:-} $(awk -v a="$steady" -v b="$raw" 'BEGIN { printf "%.1f", 100 * a / b }')"
    whole[${names[$k]}]="${whole[${names[$k]}]:-} $(awk -v a="$rate" -v b="$raw" 'BEGIN { printf "%.1f", 100 * a / b }')"
    line="$line, ${names[$k]} $steady/s steady, $rate/s whole (http steps ${http} ms, waits between attempts ${gap} ms, start+end ${ends} ms)"
  done
  echo "$line"
done
for k in "${names[@]}"; do
  echo "work -j 1 ($k) / raw, same round: steady $(echo "${ratios[$k]}" | stats) %; whole process $(echo "${whole[$k]}" | stats) % ($N tasks of one ${MS} ms GET)"
done
