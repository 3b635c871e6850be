# CPU per keep-alive GET (user + system, every thread), drudge against a raw
# libcurl loop, without process start and exit: each side runs N2 and then
# N1 requests, and (cpu(N2) - cpu(N1)) / (N2 - N1) is the cost of one more
# request. CPU time moves less than wall time when other jobs share the
# machine, and the rounds alternate the binaries so each ratio compares
# neighbours; the medians of the per-round ratios are the figures.
# Targets (#23): drudge at most 1.2 times the CPU of the raw loop.
# With OLD_DRUDGE (another build's binary) it runs that too and prints
# new/old. For instructions (deterministic; valgrind's CPU lacks the SHA
# instructions, so the audit hash counts about 21,000 there), run
# valgrind --tool=callgrind on the same two scripts.
# Env: N1 (default 2000), N2 (default 10000), ROUNDS (default 7).
set -euo pipefail
: "${DRUDGE:?}" "${TMP:?}" "${BUILD:?}"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
cd "$TMP"
N1=${N1:-2000}
N2=${N2:-10000}
ROUNDS=${ROUNDS:-7}
source "${SRC:?}/tests/bench/fixture.bash"
start_fixture_server
URL="http://127.0.0.1:$PORT/hello"
cat >loop.lua <<LUA
local http = require "drudge.http"
return { timeout = 600, run = function(task)
  for i = 1, task.input.n do
    local r = http.get("$URL")
    if r.status ~= 200 then error("status " .. r.status) end
  end
  return task.input.n
end }
LUA

# cpu CMD...: the CPU seconds (user + system) CMD and its threads used, to
# the microsecond (getrusage of the child; /usr/bin/time rounds to 10 ms).
cpu() {
  /usr/bin/python3 -c '
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(r.ru_utime + r.ru_stime)' "$@"
}
# per A B: microseconds per request from the two runs' CPU seconds
per() { awk -v a="$1" -v b="$2" -v n=$((N2 - N1)) 'BEGIN { printf "%.1f", (b - a) * 1e6 / n }'; }
# drudge_per BIN: CPU per GET of a drudge build, on a database created first
drudge_per() {
  export DRUDGE_DB="$TMP/cpu.db"
  rm -rf cpu.db cpu.db-* cpu.db.files
  "$1" -q run loop.lua --input '{"n":5}' >/dev/null
  local a b
  a=$(cpu "$1" -q run loop.lua --input "{\"n\":$N1}")
  b=$(cpu "$1" -q run loop.lua --input "{\"n\":$N2}")
  per "$a" "$b"
}
raw_per() {
  local a b
  a=$(cpu "$BUILD/tests/bench_curl_raw" "$URL" "$N1" "$@")
  b=$(cpu "$BUILD/tests/bench_curl_raw" "$URL" "$N2" "$@")
  per "$a" "$b"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

to_raw="" to_like="" to_old="" news="" raws="" likes="" olds=""
for ((r = 1; r <= ROUNDS; r++)); do
  new=$(drudge_per "$DRUDGE")
  raw=$(raw_per)
  like=$(raw_per --like-drudge)
  line="round $r (load $(cut -d' ' -f1 /proc/loadavg)): drudge $new us, raw $raw us, like-drudge $like us"
  news="$news $new" raws="$raws $raw" likes="$likes $like"
  to_raw="$to_raw $(ratio "$new" "$raw")" to_like="$to_like $(ratio "$new" "$like")"
  if [ -n "${OLD_DRUDGE:-}" ]; then
    old=$(drudge_per "$OLD_DRUDGE")
    olds="$olds $old" to_old="$to_old $(ratio "$new" "$old")"
    line="$line, old $old us"
  fi
  echo "$line"
done
echo "CPU per GET, median:        drudge $(echo $news | median) us, raw $(echo $raws | median) us, like-drudge $(echo $likes | median) us${olds:+, old $(echo $olds | median) us}"
echo "drudge / raw, paired:       median $(echo $to_raw | median) (rounds:$to_raw; target <= 1.2)"
echo "drudge / like-drudge:       median $(echo $to_like | median) (rounds:$to_like)"
[ -z "$to_old" ] || echo "new / old, paired:          median $(echo $to_old | median) (rounds:$to_old)"
