#!/usr/bin/env bash
# PostgreSQL benchmark (tests/bench/run pg): bulk enqueue and the durable
# full lifecycle of no-op tasks (every outcome and audit step committed with
# synchronous_commit=on and fsync), with PostgreSQL 15 on the same machine,
# each beside a raw libpq baseline in the same run, as a ratio:
#   - bulk enqueue: the same rows COPYed by psql into a plain table
#   - lifecycle: pgbench (a libpq client), C connections, one transaction
#     per task that claims it with FOR UPDATE SKIP LOCKED and completes it
# first on an empty queue, then with BACKLOG tasks queued for tomorrow
# (loads with keys; once without, on an empty queue);
# then FLOW tasks through one database, and the sizes of its tables and
# indexes after (the hot tables stay small: no bloat).
# Env: N (tasks per case, default 200000), BACKLOG (1000000), FLOW
# (1000000), J (worker threads, 2), C (baseline connections, 8).
set -euo pipefail
: "${DRUDGE:?}" "${TMP:?}" "${SRC:?}"
N=${N:-200000} BACKLOG=${BACKLOG:-1000000} FLOW=${FLOW:-1000000} J=${J:-2} C=${C:-8}
bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
chmod 0755 "$TMP"
cd "$TMP"
# A server set up as README's "Running on several machines" advises (the
# tests' 64 MB of shared buffers would hold a tenth of a 1,000,000-task
# backlog's table, and measure the disk cache instead).
PG_DURABLE=1 PG_PORT=5442 PG_SHARED_BUFFERS=${PG_SHARED_BUFFERS:-2GB} PG_MAX_WAL_SIZE=${PG_MAX_WAL_SIZE:-4GB} \
  "$SRC/tests/pg/server.sh" start "$TMP/pg" >/dev/null
trap '"$SRC/tests/pg/server.sh" stop "$TMP/pg"; rm -rf "$TMP"' EXIT
url() { echo "postgresql:///$1?host=$TMP/pg&port=5442&user=postgres"; }
psql() { "$bin/psql" -qAtX -v ON_ERROR_STOP=1 "$@"; }
mkdb() { psql "$(url postgres)" -c "CREATE DATABASE $1" >/dev/null; }
cat >noop.lua <<'LUA'
return { name = "noop", run = function(task) return true end }
LUA
cat >later.lua <<'LUA'
return { name = "later", run = function(task) return true end }
LUA
gen() { awk -v n="$1" -v p="$2" 'BEGIN { for (i = 0; i < n; i++) printf "{\"ref\":\"%s%d\",\"n\":%d}\n", p, i, i }'; }
now() { date +%s.%N; }
rate() { awk -v n="$1" -v s="$2" -v e="$3" 'BEGIN { printf "%.0f", n / (e - s) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# The baseline's queue: one row per job, claimed and completed in place.
baseline_db() {
  psql "$(url "$1")" -c "CREATE TABLE jobs(id bigserial PRIMARY KEY, state text NOT NULL DEFAULT 'queued',
    payload text, done_at timestamptz); CREATE INDEX jobs_queued ON jobs(id) WHERE state = 'queued'"
}
cat >claim.sql <<'SQL'
BEGIN;
UPDATE jobs SET state = 'done', done_at = now() WHERE id = (SELECT id FROM jobs
  WHERE state = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED);
COMMIT;
SQL

# CPU seconds (user + system) the server has used so far: the postmaster,
# the children it reaped, and those alive. CPU per task is what a loaded
# machine disturbs least (wall time on 2 shared cores measures the load),
# and from it follows the rate two idle cores could reach.
pg_cpu() {
  python3 - "$TMP/pg/data/postmaster.pid" <<'PY'
import os, sys
pm = int(open(sys.argv[1]).readline())
tot = 0
for p in os.listdir("/proc"):
    if not p.isdigit():
        continue
    try:
        f = open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()
    except OSError:
        continue
    if int(p) == pm:
        tot += sum(int(x) for x in f[11:15])
    elif int(f[1]) == pm:
        tot += int(f[11]) + int(f[12])
print(tot / os.sysconf("SC_CLK_TCK"))
PY
}
us() { awk -v c="$1" -v n="$N" 'BEGIN { printf "%.0f", 1e6 * c / n }'; }
# sample_backends DB: "pid cputicks" of drudge's server processes on DB
# every 0.2 s, to backends.out, until killed.
sample_backends() {
  local pids="" p
  : >backends.out
  sleep 0.5
  pids=$(psql "$(url postgres)" -c "SELECT pid FROM pg_stat_activity WHERE datname = '$1' AND application_name = 'drudge'" 2>/dev/null) || true
  while sleep 0.05; do
    for p in $pids; do
      awk -v p="$p" '{ print p, $14 + $15 }' "/proc/$p/stat" 2>/dev/null >>backends.out || true
    done
  done
}
TIMEFORMAT='%U %S'

# Each phase starts from a checkpoint, so that none pays for the writes
# of the phase before it (a checkpoint of the 1,000,000-task backlog's
# pages fell into the backlog case's lifecycle and not the empty one's).
ckpt() { psql "$(url "$1")" -c CHECKPOINT; }

# run_case DB LABEL: N tasks enqueued and worked off by drudge, and by the baseline.
run_case() {
  local db=$1 t0 t1 t2 t3 c0 c1 d
  gen "$N" "r$RANDOM" >batch.jsonl
  ckpt "$db"
  c0=$(pg_cpu)
  t0=$(now)
  DRUDGE_DB=$(url "$db") "$DRUDGE" -q enqueue noop.lua --from batch.jsonl --key-field ref >/dev/null
  ckpt "$db"
  t1=$(now)
  c1=$(pg_cpu)
  bulk_pg=$(us "$(awk -v a="$c0" -v b="$c1" 'BEGIN { print b - a }')")
  c0=$(pg_cpu)
  sample_backends "$db" &
  local sampler=$!
  { time DRUDGE_DB=$(url "$db") "$DRUDGE" -q --json work -j "$J" --until-empty >work.json; } 2>cpu.out
  t2=$(now)
  c1=$(pg_cpu)
  local life_wall
  life_wall=$(awk -v a="$t1" -v b="$t2" 'BEGIN { print b - a }')
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  d=$(awk '{ print $1 + $2 }' cpu.out)
  life_pg=$(us "$(awk -v a="$c0" -v b="$c1" 'BEGIN { print b - a }')") life_dr=$(us "$d")
  bulk=$(rate "$N" "$t0" "$t1") life=$(rate "$N" "$t1" "$t2")
  # baseline: the same lines COPYed, then claimed one transaction each
  psql "$(url "$db")" -c "TRUNCATE jobs"
  ckpt "$db"
  t0=$(now)
  psql "$(url "$db")" -c "\\copy jobs(payload) FROM 'batch.jsonl' WITH (FORMAT text, DELIMITER E'\\x01')"
  ckpt "$db"
  t1=$(now)
  c0=$(pg_cpu)
  { time "$bin/pgbench" -n -h "$TMP/pg" -p 5442 -U postgres -c "$C" -j 2 -t $((N / C)) -f claim.sql "$db" >pgbench.out 2>&1; } 2>cpu.out
  t2=$(now)
  c1=$(pg_cpu)
  d=$(awk '{ print $1 + $2 }' cpu.out)
  base_pg=$(us "$(awk -v a="$c0" -v b="$c1" 'BEGIN { print b - a }')") base_cl=$(us "$d")
  base_bulk=$(rate "$N" "$t0" "$t1") base_life=$(rate "$N" "$t1" "$t2")
  printf "  %-11s bulk enqueue %7d tasks/s (COPY baseline %7d: %sx)   lifecycle %6d tasks/s (libpq baseline %5d: %sx)   %s commits\n" \
    "$2" "$bulk" "$base_bulk" "$(ratio "$bulk" "$base_bulk")" "$life" "$base_life" "$(ratio "$life" "$base_life")" \
    "$(python3 -c 'import json; print(json.load(open("work.json"))["commits"])')"
  printf "  %-11s lifecycle CPU per task: PostgreSQL %d us + drudge %d us = %d us (2 idle cores: %d tasks/s); baseline %d + pgbench %d = %d us (%d tasks/s)\n" \
    "" "$life_pg" "$life_dr" $((life_pg + life_dr)) $((2000000 / (life_pg + life_dr))) \
    "$base_pg" "$base_cl" $((base_pg + base_cl)) $((2000000 / (base_pg + base_cl)))
  # A load is one transaction on one connection: one server process does
  # it, so its CPU a row bounds the rate whatever the cores.
  printf "  %-11s bulk enqueue: PostgreSQL's CPU %d us a row, most of it in the load's one server process (at that cost: %d tasks/s)\n" \
    "" "$bulk_pg" $((1000000 / (bulk_pg > 0 ? bulk_pg : 1)))
  # The writer's server process does a turn's statements one after another:
  # its CPU per task bounds the rate whatever the cores.
  awk -v w="$life_wall" -v hz="$(getconf CLK_TCK)" -v n="$N" -v l="$2" \
    '{ if ($2 > m[$1]) m[$1] = $2 } END { for (p in m) if (m[p] > b) b = m[p]
      if (b) printf "  %-11s busiest server process (the writer'"'"'s): %.0f us a task, busy %.0f%% of the lifecycle (alone it bounds the rate at %d tasks/s)\n", "", 1e6 * b / hz / n, 100 * b / hz / w, n * hz / b }' backends.out
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; PostgreSQL $("$bin/postgres" -V | awk '{print $3}'), fsync and synchronous_commit on, shared_buffers ${PG_SHARED_BUFFERS:-2GB}, max_wal_size ${PG_MAX_WAL_SIZE:-4GB}"
echo "$N tasks per case, drudge work -j $J, baseline with $C connections"
mkdb empty && baseline_db empty
run_case empty "empty queue"
eb=$bulk el=$life
# The cases above load with keys (--key-field ref), as a backlog that may
# be loaded twice is: each row's key is checked by ON CONFLICT. A load
# without keys has nothing to skip and is COPYed straight in.
mkdb nokey
DRUDGE_DB=$(url nokey) "$DRUDGE" -q enqueue noop.lua --from /dev/null --format jsonl >/dev/null # schema
gen "$N" "k$RANDOM" >batch.jsonl
ckpt nokey
c0=$(pg_cpu)
t0=$(now)
DRUDGE_DB=$(url nokey) "$DRUDGE" -q enqueue noop.lua --from batch.jsonl >/dev/null
ckpt nokey
t1=$(now)
c1=$(pg_cpu)
printf "  %-11s bulk enqueue without keys %7d tasks/s, PostgreSQL's CPU %d us a row\n" "empty queue" \
  "$(rate "$N" "$t0" "$t1")" "$(us "$(awk -v a="$c0" -v b="$c1" 'BEGIN { print b - a }')")"
mkdb backlog && baseline_db backlog
gen "$BACKLOG" c >backlog.jsonl
t0=$(now)
DRUDGE_DB=$(url backlog) "$DRUDGE" -q enqueue later.lua --from backlog.jsonl --key-field ref --at +1d >/dev/null
t1=$(now)
psql "$(url backlog)" -c "INSERT INTO jobs(state, payload) SELECT 'later', g::text FROM generate_series(1, $BACKLOG) g" -c "VACUUM ANALYZE"
echo "  backlog of $BACKLOG for tomorrow loaded at $(rate "$BACKLOG" "$t0" "$t1") tasks/s"
run_case backlog "1M backlog"
echo "backlog / empty: bulk enqueue $(awk -v a="$bulk" -v b="$eb" 'BEGIN { printf "%.0f%%", 100 * a / b }'), lifecycle $(awk -v a="$life" -v b="$el" 'BEGIN { printf "%.0f%%", 100 * a / b }') (target: within 10%)"

# FLOW tasks through one database, in batches, then the sizes.
if [ "$FLOW" -gt 0 ]; then
  mkdb flow
  done_n=0 t0=$(now)
  while [ "$done_n" -lt "$FLOW" ]; do
    gen 200000 "f$done_n" | head -n $((FLOW - done_n)) >batch.jsonl
    DRUDGE_DB=$(url flow) "$DRUDGE" -q enqueue noop.lua --from batch.jsonl >/dev/null
    DRUDGE_DB=$(url flow) "$DRUDGE" -q work -j "$J" --until-empty
    done_n=$((done_n + $(wc -l <batch.jsonl)))
  done
  t1=$(now)
  echo "$FLOW tasks through one database (enqueue and lifecycle) at $(rate "$FLOW" "$t0" "$t1") tasks/s; sizes after:"
  psql "$(url flow)" -F ' ' -c "SELECT rpad(c.relname, 22), lpad(pg_size_pretty(pg_relation_size(c.oid)), 9),
      lpad(pg_size_pretty(pg_total_relation_size(c.oid)), 9)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i') AND c.relname IN ('tasks', 'tasks_pkey',
      'ready', 'ready_pkey', 'ready_due', 'running', 'running_pkey', 'running_cancel', 'leases',
      'leases_pkey', 'steps', 'steps_pkey', 'steps_task', 'done_counts', 'chain_head')
    ORDER BY c.relname" | awk '{ printf "  %-22s %s %s\n", $1, $2, $3 }'
  psql "$(url flow)" -c "SELECT 'dead rows left: ' || string_agg(relname || ' ' || n_dead_tup, ', ' ORDER BY relname)
    FROM pg_stat_user_tables WHERE relname IN ('tasks', 'ready', 'running', 'leases')"
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
