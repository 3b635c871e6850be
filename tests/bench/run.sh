# `drudge run` of a trivial script: wall time per invocation (process start,
# Lua host, script load, database open and migrate check, one recorded attempt).
set -euo pipefail
cd "$TMP"
n=200
export DRUDGE_DB="$TMP/bench.db"
"$DRUDGE" -q run "$SRC/scripts/examples/hello.lua" >/dev/null
start=$(date +%s%N)
for ((i = 0; i < n; i++)); do
  "$DRUDGE" -q run "$SRC/scripts/examples/hello.lua" >/dev/null
done
end=$(date +%s%N)
awk -v ns=$((end - start)) -v n=$n 'BEGIN { printf "drudge run (trivial script): %.2f ms per run over %d runs\n", ns / n / 1e6, n }'
rm -rf "$TMP"
