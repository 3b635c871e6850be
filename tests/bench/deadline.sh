#!/usr/bin/env bash
# Deadline and breaker claim benchmark (issue #20): the full no-op lifecycle
# (-j J, durability FULL) of N tasks in four cases, paired in each round so
# that this machine's drift stays out of the ratios:
#   plain      no task has a deadline, no breaker is open (each claim level
#              still probes the empty deadline index once)
#   deadline   every task has a deadline (claims read tasks_due_deadline)
#   breakers   no deadlines, but breaker rows are present: 20 targets open,
#              each used by 5 other scripts (the claim's NOT_HELD subqueries
#              read them; none holds noop)
#   before     (only with DRUDGE_BEFORE=path to a drudge built without
#              deadlines) the plain case on that binary
# Prints tasks/s per case and the ratios to plain, round by round.
# Env: N (default 20000), J (default 2), ROUNDS (default 3), DRUDGE_BEFORE.
set -euo pipefail
: "${DRUDGE:?}" "${TMP:?}"
N=${N:-20000}
J=${J:-2}
ROUNDS=${ROUNDS:-3}
cd "$TMP"
trap 'rm -rf "$TMP"' EXIT
cat >noop.lua <<'LUA'
return { name = "noop", run = function(task) return true end }
LUA
awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++) printf "{\"ref\":\"r%d\"}\n", i }' >plain.jsonl
# Deadlines spread over the next 10 days, in no order (so claims reorder).
awk -v n="$N" 'BEGIN { srand(7); for (i = 0; i < n; i++)
  printf "{\"ref\":\"r%d\",\"due\":\"+%dm\"}\n", i, 60 + int(rand() * 14400) }' >deadline.jsonl

now() { date +%s.%N; }
rate() { awk -v n="$1" -v s="$2" -v e="$3" 'BEGIN { printf "%.0f", n / (e - s) }'; }

# run_case CASE BINARY: a fresh database, N tasks enqueued, then worked
# off; sets $life (tasks/s).
run_case() {
  local db="$TMP/$1.db" bin=$2 t0 t1
  rm -f "$db" "$db"-*
  case $1 in
  deadline) DRUDGE_DB=$db "$bin" -q enqueue noop.lua --from deadline.jsonl --key-field ref \
    --deadline-field due >/dev/null ;;
  *) DRUDGE_DB=$db "$bin" -q enqueue noop.lua --from plain.jsonl --key-field ref >/dev/null ;;
  esac
  if [ "$1" = breakers ]; then
    sqlite3 "$db" "BEGIN;
      WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 100)
      INSERT INTO script_targets(target, script, declared)
        SELECT 'down' || (i % 20) || '.test', 'other' || i, 1 FROM k;
      WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < 19)
      INSERT INTO outages(target, started_at, opened_at, trigger)
        SELECT 'down' || i || '.test', 1, 1, 'bench' FROM k;
      INSERT INTO breakers(target, outage_id, probe_at)
        SELECT target, id, 9000000000000000 FROM outages;
      COMMIT;"
  fi
  sync
  t0=$(now)
  DRUDGE_DB=$db "$bin" -q work -j "$J" --until-empty --breaker-probe 1d >/dev/null
  t1=$(now)
  life=$(rate "$N" "$t0" "$t1")
  local left
  left=$(sqlite3 "$db" "SELECT count(*) FROM tasks WHERE state <> 'done'")
  [ "$left" = 0 ] || { echo "$1: $left tasks not done" >&2; exit 1; }
}

cases="plain deadline breakers"
[ -n "${DRUDGE_BEFORE:-}" ] && cases="$cases before"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; N=$N, -j $J, FULL"
declare -A all ratio
for ((r = 1; r <= ROUNDS; r++)); do
  line="round $r:"
  for c in $cases; do
    bin=$DRUDGE
    [ "$c" = before ] && bin=$DRUDGE_BEFORE
    run_case "$([ "$c" = before ] && echo plain || echo "$c")" "$bin"
    eval "life_$c=$life"
    all[$c]="${all[$c]:-} $life"
    line="$line  $c $life/s"
  done
  for c in $cases; do
    [ "$c" = plain ] && continue
    v=$(eval echo "\$life_$c")
    ratio[$c]="${ratio[$c]:-} $(awk -v a="$v" -v b="$life_plain" 'BEGIN { printf "%.0f%%", 100 * a / b }')"
  done
  echo "$line"
done
for c in $cases; do echo "$c: lifecycle${all[$c]} tasks/s"; done
for c in $cases; do
  [ "$c" = plain ] || echo "$c / plain, same round:${ratio[$c]}"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
