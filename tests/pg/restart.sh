#!/usr/bin/env bash
# Faults: a PostgreSQL restart in the middle of `drudge work` (workers
# reconnect and go on: nothing lost, nothing done twice), and a server that
# cannot be reached (a clear error naming host and cause, exit 1). This test
# restarts a server of its own, not the suite's.
source "$TESTS/lib.sh"
N=${N:-300}
chmod 0755 "$TMP"
own="$TMP/pg"
PG_PORT=5441 "$SRC/tests/pg/server.sh" start "$own" >/dev/null
trap '"$SRC/tests/pg/server.sh" stop "$own"' EXIT
export DRUDGE_DB="postgresql:///postgres?host=$own&port=5441&user=postgres"
as_owner() { if [ "$(id -u)" -eq 0 ]; then runuser -u drudge-pg -- "$@"; else "$@"; fi; }

cat >busy.lua <<'LUA'
return { name = "busy", run = function(task)
  local c = os.clock()
  while os.clock() - c < 0.01 do end
  return { n = task.input.n }
end }
LUA
for i in $(seq "$N"); do echo "{\"n\":$i}"; done >items.jsonl
expect_exit 0 "$DRUDGE" -q enqueue busy.lua --from items.jsonl
"$DRUDGE" -q --json work -j 2 --until-empty >work.json 2>work.err &
w=$!
for _ in $(seq 100); do [ "$(sql "select count(*) from tasks where state = 'done'")" -ge 30 ] && break; sleep 0.1; done
as_owner "$DRUDGE_PG_BIN/pg_ctl" -D "$own/data" -m fast -w restart >/dev/null
rc=0
wait $w || rc=$?
equals "$rc" 0 "the worker rode out the restart: $(cat work.err)"
equals "$(sql "select count(*) from tasks where state = 'done'")" "$N" "every task done"
equals "$(sql "select count(*) from (select task_id from attempts where outcome = 'done' group by task_id having count(*) > 1) x")" 0 "none done twice"
equals "$(sql "select count(*) from steps where seq = 1 and outcome = 'done'")" "$N" "each done attempt once on the chain"
expect_exit 0 "$DRUDGE" audit verify

# Unreachable: the server is down.
as_owner "$DRUDGE_PG_BIN/pg_ctl" -D "$own/data" -m fast -w stop >/dev/null
expect_exit 1 "$DRUDGE" status
contains "$err" "cannot connect to PostgreSQL database $own:5441/postgres" "names the host"
contains "$err" "No such file or directory" "and the cause"
expect_exit 1 "$DRUDGE" --db "postgresql://robot:s3cret@127.0.0.1:1/fleet?connect_timeout=3" status
contains "$err" "127.0.0.1:1/fleet" "names host, port and database"
contains "$err" "Connection refused" "says why"
case "$err" in *s3cret*) fail "the password shows in the message" ;; *) pass ;; esac
finish
