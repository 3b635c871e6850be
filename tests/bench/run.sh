# `drudge run` of a trivial script (scripts/examples/hello.lua): wall time
# per invocation (process start, Lua host, script load, database open, the
# run's task row and outcome committed, the checkpoint on close), beside
# `lua5.4 -e 'print(1)'` and `sqlite3 :memory: 'select 1'` as references, in
# ROUNDS interleaved rounds of RUNS invocations each (a loaded machine
# disturbs rounds, not the ratios between neighbours). With OLD_DRUDGE set
# (another build's binary) it runs that too, in the same rounds, and prints
# new/old ratios. Also: fdatasync calls per run (strace, when installed) and
# the instructions of one run (callgrind, with BENCH_CALLGRIND=1).
# Target (#23): at most 4 ms per run.
set -euo pipefail
: "${DRUDGE:?}" "${TMP:?}" "${SRC:?}"
cd "$TMP"
trap 'rm -rf "$TMP"' EXIT
RUNS=${RUNS:-50}
ROUNDS=${ROUNDS:-5}
hello="$SRC/scripts/examples/hello.lua"

# ms per invocation of "$@", over RUNS invocations
per_run() {
  local start end
  start=$(date +%s%N)
  for ((i = 0; i < RUNS; i++)); do "$@" >/dev/null; done
  end=$(date +%s%N)
  awk -v ns=$((end - start)) -v n="$RUNS" 'BEGIN { printf "%.2f", ns / n / 1e6 }'
}
stats() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { printf "min %s median %s max %s", v[1], v[int((NR + 1) / 2)], v[NR] }'; }

names=(new)
bins=("$DRUDGE")
if [ -n "${OLD_DRUDGE:-}" ]; then
  names+=(old)
  bins+=("$OLD_DRUDGE")
fi
for k in "${!bins[@]}"; do
  DRUDGE_DB="$TMP/${names[$k]}.db" "${bins[$k]}" -q run "$hello" >/dev/null # create and migrate
done
command -v lua5.4 >/dev/null || echo "(lua5.4 is not installed: apt-get install lua5.4 for its reference figure)"
declare -A all
ratios=""
for ((r = 1; r <= ROUNDS; r++)); do
  line="round $r:"
  for k in "${!bins[@]}"; do
    ms=$(DRUDGE_DB="$TMP/${names[$k]}.db" per_run "${bins[$k]}" -q run "$hello")
    all[${names[$k]}]="${all[${names[$k]}]:-} $ms"
    line="$line ${names[$k]} $ms ms"
  done
  if command -v lua5.4 >/dev/null; then # Debian package lua5.4 (not a build dependency)
    lua=$(per_run lua5.4 -e 'print(1)')
    all[lua]="${all[lua]:-} $lua"
    line="$line, lua5.4 $lua ms"
  fi
  if command -v sqlite3 >/dev/null; then
    sq=$(per_run sqlite3 :memory: 'select 1')
    all[sqlite3]="${all[sqlite3]:-} $sq"
    line="$line, sqlite3 $sq ms"
  fi
  if [ -n "${OLD_DRUDGE:-}" ]; then
    ratios="$ratios $(echo "$line" | awk '{ for (i = 1; i <= NF; i++) { if ($i == "new") n = $(i + 1); if ($i == "old") o = $(i + 1) } printf "%.2f", n / o }')"
  fi
  echo "$line"
done
for k in "${names[@]}" lua sqlite3; do
  [ -n "${all[$k]:-}" ] && echo "drudge run ($k): $(echo "${all[$k]}" | stats) ms per run over $ROUNDS rounds of $RUNS" | sed 's/drudge run (lua)/lua5.4 -e print(1)/; s/drudge run (sqlite3)/sqlite3 :memory: select 1/'
done
[ -n "$ratios" ] && echo "new / old, same round: $(echo "$ratios" | stats)"
if command -v strace >/dev/null; then
  for k in "${!bins[@]}"; do
    DRUDGE_DB="$TMP/${names[$k]}.db" strace -f -c -e trace=fdatasync,fsync -o sync.txt "${bins[$k]}" -q run "$hello" >/dev/null
    echo "fsyncs per run (${names[$k]}): $(awk '/fdatasync|fsync/ { n += $4 } END { print n + 0 }' sync.txt)"
  done
fi
if [ "${BENCH_CALLGRIND:-0}" = 1 ] && command -v valgrind >/dev/null; then
  for k in "${!bins[@]}"; do
    DRUDGE_DB="$TMP/${names[$k]}.db" valgrind --tool=callgrind --callgrind-out-file=cg.out "${bins[$k]}" -q run "$hello" 2>cg.txt >/dev/null
    echo "instructions per run (${names[$k]}, user space): $(awk '/Collected/ { print $NF }' cg.txt)"
  done
fi
