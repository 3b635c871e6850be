#!/usr/bin/env bash
# Disk full during `drudge work` (issue 24): the database on a small tmpfs,
# filled up mid-run. The worker stops with an error naming the database and
# saying what it leaves behind; with max_attempts = 1 no task that it had
# claimed, or ran without being able to record, ends dead: once space is
# freed and the lease has expired, the next `drudge work` gives them back
# unspent and every task ends done, each with one attempt, the chain intact.
# Needs a mount namespace (root, or an unprivileged user namespace): skipped
# (77) where neither is allowed.
source "$TESTS/lib.sh"
if [ -z "${DRUDGE_IN_NS:-}" ]; then
  if unshare -m --propagation private true 2>/dev/null; then
    exec env DRUDGE_IN_NS=1 unshare -m --propagation private bash "$0"
  elif unshare -rm true 2>/dev/null; then
    exec env DRUDGE_IN_NS=1 unshare -rm bash "$0"
  fi
  echo "skipped: cannot make a mount namespace for a small tmpfs"
  exit 77
fi
on_pg && { echo "skipped: SQLite's disk"; exit 77; }
mkdir -p mnt
mount -t tmpfs -o size=16m tmpfs mnt
export DRUDGE_DB="$TMP/mnt/full.db"
cat >fill.lua <<'LUA'
return { name = "fill", max_attempts = 1, run = function(task)
  local s = step("work", function() return string.rep("x", 200) end)
  return { n = task.input.n, pad = s }
end }
LUA
seq 1 600 | awk '{ printf "{\"n\":%d}\n", $1 }' >backlog.jsonl
expect_exit 0 "$DRUDGE" enqueue fill.lua --from backlog.jsonl
# Leave about 400 KiB: the chain and outcomes of about a hundred tasks.
avail=$(df -k --output=avail mnt | tail -1)
dd if=/dev/zero of=mnt/filler bs=1k count=$((avail - 400)) status=none

expect_exit 1 "$DRUDGE" work -j 2 --until-empty --lease 2s
contains "$err" "database $DRUDGE_DB" "the error names the database"
contains "$err" "database or disk is full" "the error says the disk is full"
contains "$err" "without spending an attempt" "the error says what becomes of the claims"
done1=$(sql "select count(*) from tasks where state = 'done'")
[ "$done1" -gt 0 ] && [ "$done1" -lt 600 ] || fail "the disk filled mid-run ($done1 done)"
equals "$(sql "select count(*) from tasks where state = 'dead'")" 0 "nothing is dead after the disk filled"
held=$(sql "select count(*) from running")
[ "$held" -gt 0 ] || fail "the failed worker left claims behind (a test that can fail)"

rm mnt/filler
sleep 2.2 # the lease
expect_exit 0 "$DRUDGE" --json work -j 2 --until-empty --lease 2s
given=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["given_back"])' "$out")
equals "$given" "$held" "the next worker gives every claim left behind back unstarted"
equals "$(sql "select state || ':' || count(*) from tasks group by state")" "done:600" "every task ends done"
equals "$(sql "select count(*) from attempts")" 600 "one attempt each: none lost, none doubled"
equals "$(sql "select count(*) from attempts where outcome <> 'done'")" 0 "no lost attempt"
equals "$(sql "select count(*) from running")" 0 "nothing left running"
expect_exit 0 "$DRUDGE" audit verify
equals "$(sql "select count(distinct task_id) from steps where kind = 'task'")" 600 "each task's attempt on the chain"
equals "$(sql "select count(*) from steps where kind = 'task'")" 600 "and only one per task"
finish
