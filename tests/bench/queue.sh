#!/usr/bin/env bash
# Queue benchmark: bulk enqueue from JSONL and the full no-op lifecycle with
# -j 2 and durability FULL (attempt rows, task states and audit steps
# committed before a task counts), on an empty queue and on one with a
# backlog of 1,000,000 queued tasks (scheduled a day ahead, so they stay
# queued but sit in the same table and indexes). The two cases alternate,
# ROUNDS times, each round on a fresh empty database and on the backlog
# database: this machine's speed drifts over minutes, and pairing the rounds
# keeps that drift out of the backlog-vs-empty ratios.
# Then bulk enqueue against a raw one-transaction insert of the same rows
# (below). Env: N (tasks per run, default 200000), BACKLOG (default 1000000), J
# (default 2), ROUNDS (default 2). With OLD_DRUDGE (another build's binary)
# each round runs both cases with it too, right after this build's, on
# databases of its own, and prints new/old ratios of the same round.
set -euo pipefail
: "${DRUDGE:?}" "${TMP:?}"
N=${N:-200000}
BACKLOG=${BACKLOG:-1000000}
J=${J:-2}
ROUNDS=${ROUNDS:-2}
cd "$TMP"
trap 'rm -rf "$TMP"' EXIT
cat >noop.lua <<'LUA'
return { name = "noop", run = function(task) return true end }
LUA
cat >later.lua <<'LUA'
return { name = "later", run = function(task) return true end }
LUA
gen() { awk -v n="$1" -v p="$2" 'BEGIN { for (i = 0; i < n; i++) printf "{\"ref\":\"%s%d\",\"n\":%d}\n", p, i, i }'; }
gen "$BACKLOG" c >backlog.jsonl

now() { date +%s.%N; }
rate() { awk -v n="$1" -v s="$2" -v e="$3" 'BEGIN { printf "%.0f", n / (e - s) }'; }

# run_case DB LABEL ROUND: a fresh batch of N tasks into DB, then worked off.
# Prints one line and sets $bulk and $life (tasks/s).
run_case() {
  local t0 t1 t2 t3 DRUDGE=${BIN:-$DRUDGE}
  gen "$N" "r$3x" >batch.jsonl
  # The kernel may still be writing back the previous case's database; a
  # sync here keeps that writeback out of this case's commits.
  sync
  t0=$(now)
  DRUDGE_DB="$1" "$DRUDGE" -q enqueue noop.lua --from batch.jsonl --key-field ref >/dev/null
  t1=$(now)
  sync
  t2=$(now)
  DRUDGE_DB="$1" "$DRUDGE" -q --json work -j "$J" --until-empty >work.json
  t3=$(now)
  bulk=$(rate "$N" "$t0" "$t1")
  life=$(rate "$N" "$t2" "$t3")
  local writer
  writer=$(python3 -c 'import json,sys; w=json.load(open("work.json")); print("%.1f us/task in %d commits" % (w["writer_cpu_seconds"] * 1e6 / int(sys.argv[1]), w["commits"]))' "$N")
  printf "  %-13s bulk enqueue %7d tasks/s   lifecycle %6d tasks/s   (writer thread CPU %s)\n" \
    "$2" "$bulk" "$life" "$writer"
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
t0=$(now)
DRUDGE_DB="$TMP/backlog.db" "$DRUDGE" -q enqueue later.lua --from backlog.jsonl --key-field ref --at +1d >/dev/null
t1=$(now)
echo "backlog of $BACKLOG loaded at $(rate "$BACKLOG" "$t0" "$t1") tasks/s; $N tasks per case, -j $J, FULL"
# old's backlog by old itself: its schema may be older than this build's.
[ -z "${OLD_DRUDGE:-}" ] || DRUDGE_DB="$TMP/old-backlog.db" "$OLD_DRUDGE" -q enqueue later.lua \
  --from backlog.jsonl --key-field ref --at +1d >/dev/null
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", 100 * a / b }'; }
ratios_bulk="" ratios_life="" all_bulk="" all_life="" old_bulk="" old_life="" vs_bulk="" vs_life=""
for ((r = 1; r <= ROUNDS; r++)); do
  echo "round $r:"
  rm -f empty.db empty.db-*
  run_case "$TMP/empty.db" "empty queue" "$r"
  eb=$bulk el=$life
  run_case "$TMP/backlog.db" "1M backlog" "$r"
  all_bulk="$all_bulk $eb" all_life="$all_life $el"
  ratios_bulk="$ratios_bulk $(pct "$bulk" "$eb")"
  ratios_life="$ratios_life $(pct "$life" "$el")"
  if [ -n "${OLD_DRUDGE:-}" ]; then
    nb=$bulk nl=$life
    rm -f empty.db empty.db-*
    BIN=$OLD_DRUDGE run_case "$TMP/empty.db" "old, empty" "o$r"
    old_bulk="$old_bulk $bulk" old_life="$old_life $life"
    vs_bulk="$vs_bulk $(pct "$eb" "$bulk")" vs_life="$vs_life $(pct "$el" "$life")"
    BIN=$OLD_DRUDGE run_case "$TMP/old-backlog.db" "old, backlog" "o$r"
    vs_bulk="$vs_bulk $(pct "$nb" "$bulk")" vs_life="$vs_life $(pct "$nl" "$life")"
  fi
done
echo "empty queue: bulk enqueue$all_bulk tasks/s (target 200000); lifecycle$all_life tasks/s (target 45000)"
echo "backlog / empty, same round: bulk enqueue$(printf ' %s%%' $ratios_bulk); lifecycle$(printf ' %s%%' $ratios_life) (target: within 10%)"
if [ -n "${OLD_DRUDGE:-}" ]; then
  echo "old binary, empty queue: bulk enqueue$old_bulk tasks/s; lifecycle$old_life tasks/s"
  echo "new / old, same round (empty, backlog per round): bulk enqueue$(printf ' %s%%' $vs_bulk); lifecycle$(printf ' %s%%' $vs_life)"
fi
# Bulk enqueue against the raw one-transaction insert of the same rows
# (tests/fixtures/bench_bulk_raw.c: SQLite's JSON functions parse each line,
# one prepared INSERT into the same tasks table and indexes, one commit,
# the checkpoint on close), both timed from outside the process (start,
# dynamic loading, parsing, commit, checkpoint), alternating in each round,
# into copies of one database that has the schema and the script's row.
# Target (#23): drudge >= 70% of raw.
if [ -x "${BUILD:-}/tests/bench_bulk_raw" ]; then
  : >none.jsonl
  rm -f tmpl.db tmpl.db-*
  DRUDGE_DB="$TMP/tmpl.db" "$DRUDGE" -q enqueue noop.lua --from none.jsonl >/dev/null
  sha=$(sqlite3 tmpl.db "select sha256 from script_versions limit 1")
  gen "$N" b >bulk.jsonl
  # bulk_once SIDE: tasks/s of one load of bulk.jsonl into a fresh copy
  bulk_once() {
    local t0 t1
    rm -f "$1.db" "$1.db"-*
    cp tmpl.db "$1.db"
    sync
    t0=$(now)
    if [ "$1" = drudge ]; then
      DRUDGE_DB="$TMP/drudge.db" "$DRUDGE" -q enqueue noop.lua --from bulk.jsonl --key-field ref >/dev/null
    else
      "$BUILD/tests/bench_bulk_raw" raw.db noop "$TMP/noop.lua" "$sha" ref <bulk.jsonl >/dev/null
    fi
    t1=$(now)
    rate "$N" "$t0" "$t1"
  }
  vs_raw=""
  for ((r = 1; r <= ROUNDS; r++)); do
    d=$(bulk_once drudge)
    w=$(bulk_once raw)
    vs_raw="$vs_raw $(pct "$d" "$w")"
    echo "bulk round $r (load $(cut -d' ' -f1 /proc/loadavg)): drudge enqueue $d tasks/s, raw insert $w rows/s"
  done
  q="select script, script_path, key, input, state, max_attempts, later, script_sha256 from tasks order by id"
  same=no
  [ "$(sqlite3 drudge.db "$q" | md5sum)" = "$(sqlite3 raw.db "$q" | md5sum)" ] && same=yes
  echo "bulk enqueue / raw one-transaction insert, same round:$(printf ' %s%%' $vs_raw) (target: at least 70%; the same rows: $same)"
fi
echo "steps on the backlog database's audit chain: $(sqlite3 backlog.db 'select count(*) from steps')"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
