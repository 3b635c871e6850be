# drudge watch-folder: every file dropped into the folder becomes exactly one
# task (keyed by name and SHA-256), moves to processing/, then to done/ or
# failed/ when its task ends; 1,000 files while the watcher is killed with
# SIGKILL and started again lose and double nothing; SIGTERM stops it cleanly.
source "$TESTS/lib.sh"
FILES="$TMP/files"
IN="$FILES/inbox"
mkdir -p "$IN"
export DRUDGE_FILES="$FILES"
cat >"$TMP/intake.lua" <<'LUA'
return { run = function(task)
  local f = assert(io.open(task.input.path, "rb"))
  local body = f:read("a")
  f:close()
  if body:match("^BAD") then fail("rejected " .. task.input.name) end
  return { name = task.input.name, len = #body }
end }
LUA
pid=
watch() { "$DRUDGE" watch-folder "$IN" --script "$TMP/intake.lua" --settle 200ms -q 2>>"$TMP/watch.err" & pid=$!; }
stop() { [ -z "$pid" ] || { kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }; pid=; }
trap stop EXIT

expect_exit 2 "$DRUDGE" watch-folder "$IN"
contains "$err" "give --script SCRIPT" "watch-folder without a script"
expect_exit 2 "$DRUDGE" watch-folder "$TMP/nope" --script "$TMP/intake.lua"
contains "$err" "is not a directory" "a folder that does not exist"

# One good and one bad file, end to end, and SIGTERM.
echo "hello" >"$IN/a.txt"
echo "BAD data" >"$IN/b.txt"
watch
wait_sql "select count(*) from tasks" 2 || fail "two tasks queued"
equals "$(ls "$IN/processing" | sort | tr '\n' ' ')" "a.txt b.txt " "moved to processing/"
expect_exit 0 timeout 60 "$DRUDGE" work --until-empty
wait_until 60 test -e "$IN/done/a.txt" -a -e "$IN/failed/b.txt" || true
[ -e "$IN/done/a.txt" ] && pass || fail "a.txt in done/"
[ -e "$IN/failed/b.txt" ] && pass || fail "b.txt in failed/"
contains "$(sql "select key from tasks where input like '%a.txt%'")" "file:a.txt@$(sha256sum "$IN/done/a.txt" | cut -d' ' -f1)" "key: name and SHA-256"
contains "$(sql "select input from tasks where input like '%a.txt%'")" '"path":"inbox/processing/a.txt"' "path relative to the files directory"
kill -TERM "$pid"
set +e; wait "$pid"; rc=$?; set -e; pid=
equals "$rc" "0" "SIGTERM: exit 0"

# 1,000 files while the watcher is killed and started again.
watch
(
  for i in $(seq 1 1000); do
    printf 'file %d\n' "$i" >"$IN/.f$i.tmp" && mv "$IN/.f$i.tmp" "$IN/f$i.txt"
  done
) &
writer=$!
for k in 1 2 3; do
  sleep 0.$((3 + k))
  stop
  watch
done
wait "$writer"
n=0
for _ in $(seq 300); do
  n=$(sql "select count(*) from tasks where key like 'file:f%'")
  [ "$n" -ge 1000 ] && [ -z "$(ls "$IN" | grep '^f[0-9]' || true)" ] && break
  sleep 0.1
done
equals "$n" "1000" "1,000 files, 1,000 tasks"
equals "$(sql "select count(distinct key) from tasks where key like 'file:f%'")" "1000" "no file queued twice"
stop
watch
expect_exit 0 timeout 120 "$DRUDGE" work -j 2 --until-empty
for _ in $(seq 300); do [ "$(ls "$IN/done" | grep -c '^f')" = 1000 ] && break; sleep 0.1; done
equals "$(ls "$IN/done" | grep -c '^f')" "1000" "all 1,000 in done/"
equals "$(ls "$IN/processing" | wc -l)" "0" "nothing left in processing/"
equals "$(sql "select count(*) from tasks where key like 'file:f%' and state = 'done'")" "1000" "every task done once"
equals "$(sql "select count(*) from attempts a join tasks t on t.id = a.task_id where t.key like 'file:f%'")" "1000" "one attempt each"
finish
