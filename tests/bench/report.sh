# drudge report over a large history: 1,000,000 finished tasks of 5 scripts
# over a year, each with one or two attempt rows, plus a 10,000-task backlog.
# Prints the wall time of the report by script, by day and as HTML.
# Also times `drudge demo` (the main job: 500 emails end to end).
set -euo pipefail
cd "$TMP"
export DRUDGE_DB="$TMP/bench.db"
"$DRUDGE" -q run "$SRC/scripts/examples/hello.lua" >/dev/null # the schema
sqlite3 "$DRUDGE_DB" <<'SQL'
DELETE FROM attempt_log; DELETE FROM tasks;
PRAGMA synchronous=OFF;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000)
INSERT INTO tasks(id, script, script_path, state, run_at, attempts, max_attempts, manual_minutes,
                  exception_minutes, created_at, finished_at)
SELECT i, 'script' || (i % 5), '/x.lua',
       CASE WHEN i % 50 = 0 THEN 'failed' WHEN i % 333 = 0 THEN 'dead' ELSE 'done' END,
       0, 1 + (i % 7 = 0), 3, 4, 6, 0, 1735689600000000 + i * 31536000000000 / 1000000
FROM n;
INSERT INTO attempts(task_id, n, worker, started_at, ended_at, outcome)
SELECT id, 1, 'w', finished_at - 800000, finished_at, state FROM tasks;
INSERT INTO attempts(task_id, n, worker, started_at, ended_at, outcome)
SELECT id, 2, 'w', finished_at - 2000000, finished_at - 1500000, 'error' FROM tasks WHERE attempts = 2;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)
INSERT INTO tasks(script, script_path, state, run_at, max_attempts, created_at)
SELECT 'script' || (i % 5), '/x.lua', 'queued', 0, 3, 0 FROM n;
COMMIT;
SQL
t() { # t LABEL CMD...: prints the wall time of CMD
  local label=$1 start end; shift
  start=$(date +%s%N); "$@" >/dev/null; end=$(date +%s%N)
  awk -v ns=$((end - start)) -v l="$label" 'BEGIN { printf "%-44s %7.3f s\n", l, ns / 1e9 }'
}
t "report by script, 1,000,000 tasks:" "$DRUDGE" report
t "report by day (365 rows), 1,000,000 tasks:" "$DRUDGE" report --by day
t "report --format html, 1,000,000 tasks:" "$DRUDGE" report --format html -o "$TMP/r.html"
t "report one month (--since/--until):" "$DRUDGE" report --since 2025-06-01 --until 2025-06-30
cd "$TMP" && t "drudge demo (500 emails, -j 4):" "$DRUDGE" demo || true
rm -rf "$TMP"
