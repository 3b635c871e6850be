#!/usr/bin/env bash
# Queue benchmark: bulk enqueue from JSONL and the full no-op lifecycle with
# -j 2 and durability FULL (attempt rows, task states and audit steps
# committed before a task counts), on an empty queue and again with a
# backlog of 1,000,000 queued tasks (scheduled a day ahead, so they stay
# queued but sit in the same table and indexes).
# Env: N (tasks per run, default 200000), BACKLOG (default 1000000), J (default 2).
set -euo pipefail
: "${DRUDGE:?}" "${TMP:?}"
N=${N:-200000}
BACKLOG=${BACKLOG:-1000000}
J=${J:-2}
cd "$TMP"
trap 'rm -rf "$TMP"' EXIT
cat >noop.lua <<'LUA'
return { name = "noop", run = function(task) return true end }
LUA
cat >later.lua <<'LUA'
return { name = "later", run = function(task) return true end }
LUA
gen() { awk -v n="$1" -v p="$2" 'BEGIN { for (i = 0; i < n; i++) printf "{\"ref\":\"%s%d\",\"n\":%d}\n", p, i, i }'; }
gen "$N" a >small.jsonl
gen "$N" b >small2.jsonl
gen "$BACKLOG" c >backlog.jsonl

now() { date +%s.%N; }
rate() { awk -v n="$1" -v s="$2" -v e="$3" 'BEGIN { printf "%.0f", n / (e - s) }'; }

run_case() { # label
  local t0 t1 t2
  t0=$(now)
  "$DRUDGE" -q enqueue noop.lua --from "$1" --key-field ref >/dev/null
  t1=$(now)
  "$DRUDGE" -q --json work -j "$J" --until-empty >work.json
  t2=$(now)
  local done
  done=$(sqlite3 drudge.db "select count(*) from tasks where script='noop' and state='done'")
  echo "  bulk enqueue (JSONL, key field): $(rate "$N" "$t0" "$t1") tasks/s"
  echo "  full lifecycle, no-op, -j $J, FULL: $(rate "$N" "$t1" "$t2") tasks/s ($done done so far)"
  python3 - "$N" work.json <<'PY'
import json, sys
n, w = int(sys.argv[1]), json.load(open(sys.argv[2]))
print("    %d commits (%.0f outcomes each); writer thread CPU %.2f s = %.1f us/task, "
      "so at most %.0f tasks/s with this writer on this machine now"
      % (w["commits"], n / max(w["commits"], 1), w["writer_cpu_seconds"],
         w["writer_cpu_seconds"] * 1e6 / n, n / max(w["writer_cpu_seconds"], 1e-9)))
PY
}

export DRUDGE_DB="$TMP/drudge.db"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
echo "empty queue, $N tasks:"
run_case small.jsonl
echo "with $BACKLOG queued (due in a day):"
t0=$(now)
"$DRUDGE" -q enqueue later.lua --from backlog.jsonl --key-field ref --at +1d >/dev/null
t1=$(now)
echo "  (backlog load: $(rate "$BACKLOG" "$t0" "$t1") tasks/s)"
run_case small2.jsonl
echo "steps on the audit chain: $(sqlite3 drudge.db 'select count(*) from steps')"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
