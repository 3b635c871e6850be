# The tasks per script and state that status, metrics, the report and the
# control room show are kept as counters (task_counts, done_counts: SQLite
# v14, PostgreSQL v12), not counted: after a mixed workload (single and
# bulk enqueues, done, failed, dead, a retry, a cancel, a resolve, a
# delete, tasks not yet due, a running task) each of them must agree with a
# plain COUNT(*) over the tasks, and so must a copy of the database
# (`drudge db copy`). Runs on SQLite and on PostgreSQL (label pg).
source "$TESTS/lib.sh"

cat >ok.lua <<'LUA'
return { name = "ok", max_attempts = 1, manual_minutes = 2, run = function(task)
  if task.input.bad then fail("bad item " .. task.input.n) end
  if task.input.boom then error("boom " .. task.input.n) end
  if task.input.slow then while true do end end
  return { n = task.input.n }
end }
LUA
sed 's/name = "ok"/name = "two"/' ok.lua >two.lua

# Bulk: 40 done, 10 failed, 5 dead; 7 of "two" that stay queued (not due).
awk 'BEGIN { for (i = 1; i <= 55; i++) printf "{\"n\":%d%s}\n", i,
  (i > 50 ? ",\"boom\":true" : (i > 40 ? ",\"bad\":true" : "")) }' >ok.jsonl
expect_exit 0 "$DRUDGE" -q enqueue ok.lua --from ok.jsonl
awk 'BEGIN { for (i = 1; i <= 7; i++) printf "{\"n\":%d}\n", i }' >two.jsonl
expect_exit 0 "$DRUDGE" -q enqueue two.lua --from two.jsonl --at +1d
for i in 1 2 3; do expect_exit 0 "$DRUDGE" -q enqueue ok.lua --key "one-$i" --input "{\"n\":$((100 + i))}"; done
expect_exit 0 "$DRUDGE" -q enqueue ok.lua --key one-bad --input '{"n":200,"bad":true}'
expect_exit 0 "$DRUDGE" -q work --until-empty --script ok

failed=$(sql "select id from tasks where state = 'failed' order by id" | head -3 | tr '\n' ' ')
set -- $failed
expect_exit 0 "$DRUDGE" -q retry "$1"                      # failed → queued
expect_exit 0 "$DRUDGE" -q resolve "$2" --note "fixed by hand" # open → resolved
dead=$(sql "select id from tasks where state = 'dead' order by id limit 1")
expect_exit 0 "$DRUDGE" -q resolve "$dead" --note "done by hand"
two=$(sql "select id from tasks where script = 'two' order by id limit 1")
expect_exit 0 "$DRUDGE" -q cancel "$two"                   # queued → cancelled
expect_exit 0 "$DRUDGE" -q enqueue ok.lua --key again --input '{"n":300}'
# A task deleted by hand (retention done outside drudge) leaves the counts.
sql "delete from tasks where id = (select max(id) from tasks where state = 'done' and script = 'ok')" >/dev/null
# A task running while the counts are read: queued in its row, running in status.
expect_exit 0 "$DRUDGE" -q enqueue ok.lua --key slow --input '{"n":400,"slow":true}'
"$DRUDGE" -q work -j 1 --script ok >work.out 2>&1 &
wrk=$!
trap 'kill $wrk 2>/dev/null || true' EXIT
wait_sql "select count(*) from task_state where state = 'running'" 1 || fail "the slow task started"
wait_sql "select count(*) from tasks where state = 'queued' and script = 'ok'" 1 || fail "the queue drained"

# The truth: COUNT(*) by script and effective state, and the open exceptions.
truth() {
  sql "select script, state, count(*) from task_state group by 1, 2 order by 1, 2"
  sql "select script, 'open', count(*) from tasks where state in ('failed','dead')
       and resolved_at is null group by 1 order by 1"
}
truth >truth.txt
contains "$(cat truth.txt)" "ok|running|1" "a task runs while the counts are read"
contains "$(cat truth.txt)" "two|cancelled|1" "the workload cancelled one"

# check WHAT: status --json, drudge metrics, the report's backlog and the
# control room's /api/v1/status, each against truth.txt.
check() {
  local what=$1
  expect_exit 0 "$DRUDGE" --json status
  printf '%s' "$out" >status.json
  expect_exit 0 "$DRUDGE" metrics
  printf '%s\n' "$out" >metrics.txt
  expect_exit 0 "$DRUDGE" report --format json
  printf '%s' "$out" >report.json
  # The last check's serve.out goes first: the new server's redirection
  # truncates it only once that process runs, and until then the wait
  # below found the old server's line and read the URL from an empty file.
  rm -f serve.out
  "$DRUDGE" serve --listen 127.0.0.1:0 >serve.out 2>serve.err &
  local srv=$!
  wait_until 60 grep -q http serve.out 2>/dev/null || true
  local url
  url=$(sed -n 's|.*\(http://[^ ]*/\).*|\1|p' serve.out)
  curl -s -H "Authorization: Bearer $token" "${url}api/v1/status" >api.json
  kill $srv
  wait $srv 2>/dev/null || true
  local diff
  diff=$(/usr/bin/python3 - <<'PY' 2>&1
import json, re
truth = {}
for line in open("truth.txt"):
    s, st, n = line.strip().split("|")
    truth[(s, st)] = int(n)
states = ["queued", "running", "done", "failed", "dead", "cancelled"]
scripts = sorted({s for s, _ in truth})
want = {(s, st): truth.get((s, st), 0) for s in scripts for st in states + ["open"]}
bad = []
def cmp(source, got, kinds=states + ["open"]):
    for k, v in want.items():
        if k[1] not in kinds:
            continue
        if k in got and got[k] != v:
            bad.append(f"{source}: {k[0]} {k[1]} = {got[k]}, COUNT(*) = {v}")
        elif k not in got and v:
            bad.append(f"{source}: {k[0]} {k[1]} missing, COUNT(*) = {v}")
for source, doc in (("status", json.load(open("status.json"))),
                    ("api", json.load(open("api.json")))):
    got = {}
    for row in doc["scripts"]:
        for st in states:
            got[(row["script"], st)] = row[st]
        got[(row["script"], "open")] = row["unresolved"]
    cmp(source, got)
got = {}
for line in open("metrics.txt"):
    m = re.match(r'drudge_tasks\{script="([^"]*)",state="([a-z]+)"\} (\d+)', line)
    if m:
        got[(m[1], m[2])] = int(m[3])
cmp("metrics", got, states)
got = {}
for g in json.load(open("report.json"))["groups"]:
    for st in ("queued", "running", "done", "failed", "dead"):
        got[(g["group"], st)] = g[st]
cmp("report", got, ["queued", "running", "done", "failed", "dead"])
print("\n".join(bad))
PY
)
  equals "$diff" "" "$what: every count agrees with COUNT(*)"
}
expect_exit 0 sh -c "echo 'counts-password-1' | \"\$DRUDGE\" -q user add ops --role operator"
expect_exit 0 "$DRUDGE" -q user token ops
token=$out
check "after the workload"

# The counters themselves hold no row that is off (a negative count, or a
# state a task is not in).
equals "$(sql "select count(*) from task_counts where n < 0")" "0" "no counter below zero"

kill -KILL $wrk
wait $wrk 2>/dev/null || true
# db copy: the copy's counters are rebuilt from its tasks. From SQLite into
# a second SQLite file; on PostgreSQL from an SQLite file into a fresh database.
if on_pg; then
  pg_admin -c "CREATE DATABASE ${pg_db}_copy" >/dev/null
  "$PSQL" -qAtX "$(pg_url "${pg_db}_copy")" -f "$TESTS/pg/sqlite_compat.sql" >/dev/null
  expect_exit 0 env DRUDGE_DB="$TMP/plain.db" "$DRUDGE" -q enqueue ok.lua --from ok.jsonl
  expect_exit 0 env DRUDGE_DB="$TMP/plain.db" "$DRUDGE" -q work --until-empty
  expect_exit 0 env DRUDGE_DB="$TMP/plain.db" "$DRUDGE" -q retry --dead
  export DRUDGE_DB="$(pg_url "${pg_db}_copy")"
  expect_exit 0 env DRUDGE_DB="$TMP/plain.db" "$DRUDGE" db copy --to "$DRUDGE_DB"
else
  expect_exit 0 "$DRUDGE" db copy --to "$TMP/copy.db"
  export DRUDGE_DB="$TMP/copy.db"
fi
truth >truth.txt
expect_exit 0 sh -c "echo 'counts-password-1' | \"\$DRUDGE\" -q user add ops2 --role operator"
expect_exit 0 "$DRUDGE" -q user token ops2
token=$out
check "in the copy"
finish
