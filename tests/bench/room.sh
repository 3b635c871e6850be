# The control room with 1,000,000 tasks: the overview page (with its charts,
# read from the per-minute counts of the throughput table) and task list
# pages (the first, one deep in the list through keyset paging, a state
# filter) must answer within 100 ms (issue 19). Each figure is the median
# of 15 requests through curl, against the target (ratio < 1 is within it).
# Two databases: "finished" (996,000 tasks done or failed, 4,000 queued)
# and "backlog" (the same with half of them queued again: the counts of a
# big backlog, which status used to count task by task).
# With OLD_DRUDGE (another build's binary) each request alternates between
# its server and this build's, each on a database of its own schema filled
# alike, and the line gains old's median and new/old.
set -euo pipefail
cd "$TMP"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
# fill BIN DB: the schema by BIN, then 1,000,000 tasks.
fill() {
  DRUDGE_DB="$2" "$1" -q run "$SRC/scripts/examples/hello.lua" >/dev/null # the schema
  sqlite3 "$2" <<'SQL'
DELETE FROM attempt_log; DELETE FROM tasks; DELETE FROM done_counts;
PRAGMA synchronous=OFF;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000)
INSERT INTO tasks(id, script, script_path, key, input, state, run_at, attempts, max_attempts,
                  manual_minutes, exception_minutes, error, created_at, finished_at)
SELECT i, 'script' || (i % 5), '/x.lua', 'case-' || i, '{"email":"p' || i || '@example.org"}',
       CASE WHEN i > 996000 THEN 'queued' WHEN i % 200 = 0 THEN 'failed'
            WHEN i % 999 = 0 THEN 'dead' ELSE 'done' END,
       0, 1, 3, 4, 6, CASE WHEN i % 200 = 0 THEN 'no reply' END,
       1735689600000000 + i * 31536000000000 / 1000000,
       CASE WHEN i <= 996000 THEN 1735689600000000 + i * 31536000000000 / 1000000 + 1000000 END
FROM n;
INSERT INTO done_counts SELECT script, count(*) FROM tasks WHERE state = 'done' GROUP BY script;
INSERT INTO scripts(name, path, max_attempts, manual_minutes, exception_minutes, updated_at)
SELECT DISTINCT script, '/x.lua', 3, 4, 6, 0 FROM tasks;
-- The charts' per-minute counts: the year's history of the tasks above,
-- and a busy last day (40 done and 1 failed a minute).
DELETE FROM throughput;
INSERT INTO throughput SELECT finished_at / 60000000, sum(state = 'done'),
       sum(state = 'failed' OR state = 'dead') FROM tasks WHERE finished_at IS NOT NULL GROUP BY 1;
WITH RECURSIVE m(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM m WHERE i < 1440)
INSERT OR REPLACE INTO throughput
SELECT CAST((julianday('now') - 2440587.5) * 1440 AS INTEGER) - i, 40, 1 FROM m;
COMMIT;
SQL
  echo "bench-password-1" | DRUDGE_DB="$2" "$1" -q user add bench --role operator
}
# backlog DB: half of the done tasks queued again (done_counts follows).
backlog() {
  sqlite3 "$1" <<'SQL'
PRAGMA synchronous=OFF;
BEGIN;
UPDATE tasks SET state = 'queued', finished_at = NULL WHERE id % 2 = 0 AND state = 'done';
DELETE FROM done_counts;
INSERT INTO done_counts SELECT script, count(*) FROM tasks WHERE state = 'done' GROUP BY script;
COMMIT;
SQL
}
# serve BIN DB NAME: starts a server; sets url_NAME, token_NAME, pid_NAME.
serve() {
  local tok
  tok=$(DRUDGE_DB="$2" "$1" -q user token bench)
  DRUDGE_DB="$2" "$1" serve -q --listen 127.0.0.1:0 >"serve-$3.out" 2>"serve-$3.err" &
  eval "pid_$3=$!"
  for _ in $(seq 100); do grep -q http "serve-$3.out" 2>/dev/null && break; sleep 0.1; done
  eval "url_$3=\$(sed -n 's|.*\(http://[^ ]*\)/ .*|\1|p' serve-$3.out)"
  eval "token_$3=$tok"
}
pids=""
trap 'kill $pids 2>/dev/null || true' EXIT
# t LABEL PATH: the median time of 15 GETs (after one to warm the cache),
# alternating with old's server when there is one.
t() {
  local label=$1 path=$2 i
  curl -sf -o /dev/null -H "Authorization: Bearer $token_new" "$url_new$path"
  [ -z "${OLD_DRUDGE:-}" ] || curl -sf -o /dev/null -H "Authorization: Bearer $token_old" "$url_old$path"
  : >new.times
  : >old.times
  for i in $(seq 15); do
    curl -s -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $token_new" "$url_new$path" >>new.times
    [ -z "${OLD_DRUDGE:-}" ] ||
      curl -s -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $token_old" "$url_old$path" >>old.times
  done
  local n o
  n=$(sort -n new.times | sed -n 8p)
  if [ -n "${OLD_DRUDGE:-}" ]; then
    o=$(sort -n old.times | sed -n 8p)
    awk -v l="$label" -v n="$n" -v o="$o" 'BEGIN { printf "%-46s %7.1f ms  (%.2f of the 100 ms target)   old %7.1f ms   new/old %.2f\n", l, n * 1000, n * 10, o * 1000, n / o }'
  else
    awk -v l="$label" -v n="$n" 'BEGIN { printf "%-46s %7.1f ms  (%.2f of the 100 ms target)\n", l, n * 1000, n * 10 }'
  fi
}
pages() {
  echo "-- $1 (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  t "overview page, 1,000,000 tasks:" /
  t "task list, first page:" /tasks
  t "task list, page at task 500,000 (keyset):" '/tasks?before=500000'
  t "task list, failed only:" '/tasks?state=failed'
  t "task list, queued only:" '/tasks?state=queued'
  t "task list, one script:" '/tasks?script=script3'
  t "task list, by key (no script):" '/tasks?key=case-123456'
  t "one task:" /tasks/123400
  t "API status:" /api/v1/status
  t "API task list, first page:" /api/v1/tasks
  t "API throughput, last day:" '/api/v1/throughput?period=day'
}
for db in finished backlog; do
  fill "$DRUDGE" "$TMP/new.db"
  [ -z "${OLD_DRUDGE:-}" ] || fill "$OLD_DRUDGE" "$TMP/old.db"
  if [ $db = backlog ]; then
    backlog "$TMP/new.db"
    [ -z "${OLD_DRUDGE:-}" ] || backlog "$TMP/old.db"
  fi
  serve "$DRUDGE" "$TMP/new.db" new
  pids="$pids $pid_new"
  if [ -n "${OLD_DRUDGE:-}" ]; then
    serve "$OLD_DRUDGE" "$TMP/old.db" old
    pids="$pids $pid_old"
  fi
  pages "$db: $(sqlite3 "$TMP/new.db" "SELECT count(*) FILTER (WHERE state = 'queued') FROM tasks") queued"
  kill $pids
  wait $pids 2>/dev/null || true
  pids=""
  rm -rf "$TMP"/new.db* "$TMP"/old.db*
done
