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
expect_exit 0 "$DRUDGE" check "$SRC"/scripts/examples/*.lua
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
