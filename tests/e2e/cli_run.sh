# drudge run / check / help: exit codes, output, what is recorded.
source "$TESTS/lib.sh"
S="$TESTS/scripts"

expect_exit 0 "$DRUDGE" --version
contains "$out" "drudge 0." "version"
expect_exit 0 "$DRUDGE" --help
contains "$out" "enqueue" "help lists commands"
expect_exit 2 "$DRUDGE" frobnicate
contains "$err" "unknown command 'frobnicate'" "unknown command"
expect_exit 2 "$DRUDGE" --frob
contains "$err" "unknown option '--frob'" "unknown global option"
expect_exit 2 "$DRUDGE" run --nope "$S/ok.lua"
contains "$err" "unknown option '--nope'" "unknown run option"
expect_exit 2 "$DRUDGE" run
contains "$err" "which script?" "run without a script"
expect_exit 0 "$DRUDGE" help run
contains "$out" "usage: drudge run SCRIPT" "help run"
expect_exit 2 "$DRUDGE" help nosuch

# A done task: output on stdout, recorded in the database, file mode 0600.
expect_exit 0 "$DRUDGE" run "$S/ok.lua" --input '{"who":"Zoë","n":[1,2]}' --key REF-1
contains "$out" '"who":"Zoë"' "output echoes input"
contains "$out" '"key":"REF-1"' "task key reaches the script"
on_pg || equals "$(stat -c %a "$DRUDGE_DB")" "600" "database mode"
equals "$(sql "select state, key, attempts, cast(manual_minutes * 10 as integer), cast(exception_minutes * 10 as integer) from tasks")" "done|REF-1|1|40|65" "task row"
equals "$(sql "select outcome, case when worker like 'run@%' then 1 else 0 end from attempts")" "done|1" "attempt row"
equals "$(sql "select kind, outcome from steps where seq = 1")" "task|done" "root step recorded"

# The same key again is refused, not run twice.
expect_exit 1 "$DRUDGE" run "$S/ok.lua" --key REF-1
contains "$err" "already exists" "duplicate key"
equals "$(sql "select count(*) from tasks")" "1" "no second task"

# --input from a file, and invalid input.
echo '{"from":"file"}' > in.json
expect_exit 0 "$DRUDGE" run "$S/ok.lua" --input @in.json
contains "$out" '"from":"file"' "input from file"
expect_exit 2 "$DRUDGE" run "$S/ok.lua" --input '{"a":'
contains "$err" "is not valid JSON" "invalid input JSON"
expect_exit 1 "$DRUDGE" run "$S/ok.lua" --input @missing.json
contains "$err" "missing.json" "missing input file named"

# Outcomes and exit codes.
expect_exit 3 "$DRUDGE" -q run "$S/outcomes.lua" --input '{"what":"fail","ref":"X9"}'
contains "$err" "failed: no such case: X9" "fail message"
expect_exit 4 "$DRUDGE" -q run "$S/outcomes.lua" --input '{"what":"error"}'
contains "$err" "outcomes.lua:11: attempt to index a nil value" "error names file and line"
contains "$err" "stack traceback:" "traceback printed"
expect_exit 5 "$DRUDGE" -q run "$S/outcomes.lua" --input '{"what":"retry"}'
expect_exit 4 "$DRUDGE" -q run "$S/outcomes.lua" --input '{"what":"loop"}'
contains "$err" "timeout" "timeout reported"
equals "$(sql "select state, error_kind from tasks order by id desc limit 1")" "dead|timeout" "timeout stored"
equals "$(sql "select group_concat(state || ':' || ifnull(error_kind,''), ' ') from tasks where script = 'outcomes'")" \
  "failed:business dead:system queued: dead:timeout" "outcomes stored"
expect_exit 4 "$DRUDGE" --json -q run "$S/outcomes.lua" --input '{"what":"error"}'
contains "$out" '"outcome":"error"' "json outcome"
contains "$out" '"traceback":"stack traceback:' "json traceback"

# Secrets: from the environment, never stored.
DRUDGE_SECRET_API_TOKEN=tok-9f8e7d6c5b expect_exit 4 "$DRUDGE" -q run "$S/outcomes.lua" --input '{"what":"secret"}'
contains "$err" "[REDACTED:api_token]" "secret redacted in the error"
if on_pg; then
  equals "$(sql "select count(*) from steps where concat(request, response, error) like '%tok-9f8e7d6c5b%'")" 0 "secret value not in the database"
else
  sqlite3 "$DRUDGE_DB" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
  if grep -rq "tok-9f8e7d6c5b" "$TMP"/drudge.db*; then fail "secret value found in the database"; else pass; fi
fi

# Scripts that break the contract, and check.
expect_exit 6 "$DRUDGE" run "$S/bad_fields.lua"
contains "$err" "bad_fields.lua:4: unknown field 'max_attempt'" "run reports contract problems"
expect_exit 6 "$DRUDGE" check "$S/ok.lua" "$S/bad_fields.lua" "$S/syntax.lua"
contains "$out" "ok  $S/ok.lua" "check ok line"
contains "$err" "bad_fields.lua:7: the returned table needs a 'run' function" "check all problems"
contains "$err" "syntax.lua:3:" "check syntax line"
contains "$err" "2 of 3 scripts are invalid" "check summary"
expect_exit 6 "$DRUDGE" check "$SRC"/scripts/examples/*.lua
contains "$err" "secret 'CMS_TOKEN' is not set: export DRUDGE_SECRET_CMS_TOKEN" "check: a secret the machine lacks"
expect_exit 0 "$DRUDGE" check --no-secrets "$SRC"/scripts/examples/*.lua
DRUDGE_SECRET_CMS_TOKEN=x DRUDGE_SECRET_IMAP_PASSWORD=y expect_exit 0 "$DRUDGE" check "$SRC"/scripts/examples/*.lua
printf 'IMAP_PASSWORD=y\nCMS_TOKEN=x\n' > "$TMP/secrets"
chmod 600 "$TMP/secrets"
expect_exit 0 "$DRUDGE" --secrets "$TMP/secrets" check "$SRC"/scripts/examples/*.lua

# Static checks: what would only fail at run time, found before.
cat > "$TMP/lint.lua" <<'LUA'
local http = require "drudge.http"
local api = http.client{ base_url = "http://x/" }
local queue = require "drudge.queue"
return { run = function(task)
  local csv = require "drudge.csvx"
  local helper = require "nohelper"
  local n = cnt + 1
  http.get("x", { timout = 1 })
  api.post{ url = "y", jsn = { a = 1 } }
  queue.enqueue("other.lua", {}, { priorty = 5 })
  wait_until(function() return true end, { evry = 1 })
  local t = secret "LINT_TOKEN"
  total = n
  return { ok = string.format("%d", n), t = t, helper = helper, csv = csv }
end }
LUA
expect_exit 6 "$DRUDGE" check "$TMP/lint.lua"
contains "$err" "lint.lua:5:15: require: no built-in module 'drudge.csvx' (built-in: drudge.json, drudge.log, drudge.queue, drudge.http" "check: unknown drudge module, listing the modules"
contains "$err" "lint.lua:6:18: require: module 'nohelper' not found" "check: unknown Lua module"
contains "$err" "lint.lua:7:13: undefined global 'cnt'" "check: undefined global"
contains "$err" "lint.lua:8:19: http.get: unknown option 'timout'" "check: http option"
contains "$err" "lint.lua:9:24: http.post: unknown option 'jsn'" "check: option of a client"
contains "$err" "lint.lua:10:36: queue.enqueue: unknown option 'priorty'" "check: queue option"
contains "$err" "lint.lua:11:44: wait_until: unknown option 'evry'" "check: wait_until option"
contains "$err" "lint.lua:12:13: secret 'LINT_TOKEN' is not set" "check: missing secret"
contains "$err" "lint.lua:13:3: assignment to undeclared global 'total'" "check: global assignment"
echo 'return {}' > "$TMP/nohelper.lua"
DRUDGE_SECRET_LINT_TOKEN=x expect_exit 6 "$DRUDGE" check "$TMP/lint.lua"
case "$err" in *nohelper*|*LINT_TOKEN*) fail "check: a module beside the script and a set secret are fine: $err" ;; *) pass ;; esac
# Without luacheck only the contract is checked, and check says so.
DRUDGE_LUACHECK_PATH=/nonexistent/?.lua expect_exit 0 "$DRUDGE" check "$S/ok.lua"
contains "$err" "static checks need luacheck" "check without luacheck"
expect_exit 1 "$DRUDGE" run "$S/nope.lua"
contains "$err" "nope.lua" "missing script named"

# A file that is not a database, and a read-only one.
echo "not sqlite at all, just text" > notdb.db
expect_exit 1 "$DRUDGE" --db notdb.db run "$S/ok.lua"
contains "$err" "notdb.db" "not-a-database names the file"
cp "$DRUDGE_DB" ro.db && chmod 0400 ro.db
if [ "$(id -u)" != 0 ]; then
  expect_exit 1 "$DRUDGE" --db ro.db run "$S/ok.lua"
  contains "$err" "read-only" "read-only database"
fi
finish
