# A database handed over as one file: after any drudge command has exited the
# main file alone holds every commit (the last connection checkpoints the
# WAL and deletes it), so `cp drudge.db elsewhere/` is the whole database;
# `drudge db backup FILE` writes a consistent 0600 copy while workers run.
source "$TESTS/lib.sh"
cat > slow.lua <<'LUA'
return { name = "slow", run = function(task)
  local c = os.clock()
  while os.clock() - c < 0.05 do end
  step("file", function() return task.input.n end)
  return { n = task.input.n }
end }
LUA
expect_exit 0 "$DRUDGE" -q run slow.lua --input '{"n":0}'
[ ! -e "$DRUDGE_DB-wal" ] && pass || fail "a -wal file is left after drudge run"
expect_exit 0 "$DRUDGE" -q enqueue slow.lua --input '{"n":1}'
[ ! -e "$DRUDGE_DB-wal" ] && pass || fail "a -wal file is left after drudge enqueue"
mkdir elsewhere
cp "$DRUDGE_DB" elsewhere/
expect_exit 0 "$DRUDGE" --db elsewhere/drudge.db show 2
contains "$out" '"n":1' "the copy holds the last enqueue"
expect_exit 0 "$DRUDGE" --db elsewhere/drudge.db replay 1
contains "$out" "identical outcome (done)" "the copy replays the run"

# A backup while a worker writes.
for i in $(seq 2 200); do echo "{\"n\":$i}"; done > backlog.jsonl
expect_exit 0 "$DRUDGE" -q enqueue slow.lua --from backlog.jsonl
"$DRUDGE" -q work -j 2 --until-empty >work.out 2>&1 & pid=$!
wait_sql "select count(*) > 5 from tasks where state = 'done'" 1 || true
expect_exit 0 "$DRUDGE" db backup backup.db
contains "$out" "backed up" "db backup says what it did"
kill -0 $pid 2>/dev/null && pass || fail "the worker was still running during the backup (make the backlog longer)"
wait $pid || fail "drudge work"
equals "$(stat -c %a backup.db)" "600" "the backup is private"
[ ! -e backup.db-wal ] && [ ! -e backup.db-journal ] && pass || fail "the backup is not one file"
equals "$(sqlite3 backup.db 'pragma journal_mode; pragma integrity_check' | tr '\n' ' ')" "delete ok " \
  "the backup is a self-contained, intact database"
expect_exit 0 "$DRUDGE" --db backup.db audit verify
contains "$out" "ok:" "the backup's chain verifies (a consistent snapshot)"
done_then=$(sqlite3 backup.db "select count(*) from tasks where state = 'done'")
[ "$done_then" -lt 200 ] && pass || fail "the backup was taken after the work ended ($done_then done)"
expect_exit 1 "$DRUDGE" db backup backup.db
contains "$err" "it exists (a backup never overwrites)" "an existing file is refused"
expect_exit 2 "$DRUDGE" db backup
# A new database that another program holds locked while it is being made
# (as the first of two drudge commands started together holds it while it
# switches the file to WAL): the second waits for the lock like any write,
# instead of failing at once with "switching to WAL: database is locked",
# which ended a worker started beside its first enqueue (e2e.work_ceiling).
: >new.db
chmod 600 new.db
(
  echo "BEGIN IMMEDIATE;"
  echo ".print held"
  sleep 2
  echo "COMMIT;"
) | sqlite3 new.db >holder.out &
holder=$!
wait_until 60 grep -q held holder.out
expect_exit 0 "$DRUDGE" --db new.db -q enqueue slow.lua --input '{"n":9}'
wait $holder
equals "$(sqlite3 new.db "select count(*) from tasks")" 1 "the enqueue that waited for a new database's lock is stored"
finish
