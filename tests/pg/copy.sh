#!/usr/bin/env bash
# Moving up: `drudge db copy --to postgresql://...` copies an SQLite
# database (tasks in every state, attempts, scripts, paused scripts,
# schedules, the audit chain and its checkpoints, the script versions), `audit verify` gives the
# same head on both, the copy goes on working, and a copy into a database
# that is not empty is refused.
source "$TESTS/lib.sh"
pg=$DRUDGE_DB
export DRUDGE_DB="$TMP/local.db"
cat >mixed.lua <<'LUA'
return { name = "mixed", max_attempts = 2, manual_minutes = 3, run = function(task)
  step("look\tat, line\nbreak, back\\slash", function() end)
  if task.input.n % 4 == 0 then fail("bad item") end
  if task.input.n % 5 == 0 then error("down") end
  return { n = task.input.n }
end }
LUA
for i in $(seq 30); do echo "{\"n\":$i}"; done >items.jsonl
expect_exit 0 "$DRUDGE" -q enqueue mixed.lua --from items.jsonl --key-field n
expect_exit 0 "$DRUDGE" -q work -j 2 --until-empty --backoff-base 0
expect_exit 0 "$DRUDGE" -q enqueue mixed.lua --input '{"n":101}' --at +1d
expect_exit 0 "$DRUDGE" -q enqueue mixed.lua --input '{"n":102}'
# one task waiting for its retry (its backoff: an hour)
cat >flaky.lua <<'LUA'
return { name = "flaky", max_attempts = 3, run = function(task) error("the service is down") end }
LUA
expect_exit 0 "$DRUDGE" -q enqueue flaky.lua --input '{"n":1}'
expect_exit 0 "$DRUDGE" -q work --until-empty --script flaky --backoff-base 1h
expect_exit 0 "$DRUDGE" -q schedule add nightly --cron "0 19 * * *" mixed.lua
expect_exit 0 "$DRUDGE" audit keygen --key k.pem --pub k.pub
expect_exit 0 "$DRUDGE" audit checkpoint --key k.pem
expect_exit 0 "$DRUDGE" -q pause mixed
expect_exit 0 sh -c 'echo "a long passphrase" | "$DRUDGE" -q user add ann --role auditor'
expect_exit 0 "$DRUDGE" -q user token ann
expect_exit 0 "$DRUDGE" --json audit verify
local_verify=$out
expect_exit 0 "$DRUDGE" db copy --to "$pg"
contains "$out" "(the same on both)" "db copy checks the head"
export DRUDGE_DB=$pg
expect_exit 0 "$DRUDGE" --json audit verify --pubkey k.pub
equals "$(echo "$out" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["head"], r["rows"], r["checkpoints"])')" \
  "$(echo "$local_verify" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["head"], r["rows"], r["checkpoints"])')" \
  "audit verify: the same head, rows and checkpoints on both"
equals "$(sql "select count(*), sum(attempts) from tasks")" "$(sqlite3 local.db "select count(*), sum(attempts) from tasks")" "tasks and attempts copied"
equals "$(sql "select count(*) from attempts")" "$(sqlite3 local.db "select count(*) from attempts")" "attempt rows copied"
equals "$(sql "select name, role, hash from room_users")" "$(sqlite3 local.db "select name, role, hash from room_users")" "the control room's users copied"
equals "$(sql "select count(*) from room_keys")" "1" "and their tokens"
no_age() { awk '{ $8 = ""; print }'; } # the OLDEST column moves on with the clock
equals "$(DRUDGE_DB=$pg "$DRUDGE" status | head -3 | no_age)" "$(DRUDGE_DB=local.db "$DRUDGE" status | head -3 | no_age)" "status the same"
waiting() { "$DRUDGE" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"]["waiting"])'; }
equals "$(DRUDGE_DB=$pg waiting)" "$(DRUDGE_DB=local.db waiting)" "why tasks wait: the same on both"
contains "$(DRUDGE_DB=$pg waiting)" "'backoff': 1" "the retry waits on the copy too"
expect_exit 0 "$DRUDGE" schedule list
contains "$out" "nightly" "schedules copied"
expect_exit 0 "$DRUDGE" -q resume mixed
expect_exit 0 "$DRUDGE" -q --json work --until-empty --backoff-base 0
contains "$out" '"done":1' "the copy goes on: the queued task runs"
expect_exit 0 "$DRUDGE" -q enqueue mixed.lua --input '{"n":103}'
equals "$(sql "select max(id) from tasks")" "$(( $(sqlite3 local.db "select max(id) from tasks") + 1 ))" "ids go on after the copied ones"
expect_exit 0 "$DRUDGE" audit verify --pubkey k.pub
# The code that ran came along: the versions and their source files, byte
# for byte, so replay needs no script file on the new database either.
equals "$(sql "select count(*) from script_versions")" "$(sqlite3 local.db "select count(*) from script_versions")" "script versions copied"
equals "$(sql "select sha256 || ':' || encode(sha256(data), 'hex') from script_files order by sha256")" \
  "$(sqlite3 local.db "select sha256 from script_files order by sha256" | sed 's/.*/&:&/')" "script files copied byte for byte"
equals "$(sql "select count(*) from tasks where script_sha256 is not null and script_sha256 not in (select sha256 from script_versions)")" "0" "every task's version is there"
mv mixed.lua mixed.lua.gone
expect_exit 0 "$DRUDGE" replay 1
contains "$err" "from the database" "replay on the copy uses the stored source"
mv mixed.lua.gone mixed.lua
# Copying again into the same database is refused.
expect_exit 1 env DRUDGE_DB="$TMP/local.db" "$DRUDGE" db copy --to "$pg"
contains "$err" "already holds tasks or audit rows" "a non-empty target is refused"
finish
