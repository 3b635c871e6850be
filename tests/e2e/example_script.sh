# scripts/examples/log_email_to_case.lua against the demo case-management
# service, run by hand as the README shows: outcomes, retries in the audit
# trail, the idempotency key, and the token kept out of the database.
source "$TESTS/lib.sh"
script="$SRC/scripts/examples/log_email_to_case.lua"

pid=
start() { # start FAIL_RATE
  rm -f "$TMP/port" # else the loop below may read the previous service's port
  DRUDGE_DEMO_TOKEN=s3cret-token "$DRUDGE" demo serve --fail-rate "$1" >"$TMP/port" 2>/dev/null &
  pid=$!
  for _ in $(seq 400); do [ -s "$TMP/port" ] && break; sleep 0.05; done
  export CMS_URL="http://127.0.0.1:$(cat "$TMP/port")"
  wait_port "$(cat "$TMP/port")"
}
stop() { [ -z "$pid" ] || { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }; pid=; }
trap stop EXIT
export DRUDGE_SECRET_CMS_TOKEN=s3cret-token
email() { echo "{\"case_ref\":\"$1\",\"subject\":\"Witness statement\",\"sender\":\"a@b.example\"}"; }

start 0
expect_exit 0 "$DRUDGE" check "$script"
expect_exit 0 "$DRUDGE" run -q "$script" --key m1 --input "$(email CR-2026-10007)"
contains "$out" '"case_id":7' "logged on case 7"
contains "$out" '"replayed":false' "first time"
expect_exit 3 "$DRUDGE" run -q "$script" --key m2 --input "$(email CR-2026-99999)"
contains "$err" "no such case: CR-2026-99999" "unknown case: fail()"
expect_exit 3 "$DRUDGE" run -q "$script" --key m3 --input "$(email 'CR-2026/../x')"
contains "$err" "malformed case reference" "malformed reference: fail()"
expect_exit 3 "$DRUDGE" run -q "$script" --key m4 --input '"just text"'
contains "$err" "not an email" "bad input: fail()"
# The same email run again (as when a worker died after the POST but before
# its outcome was committed; a fresh database stands in for that): the
# Idempotency-Key, script and task key, is the same, so nothing is logged twice.
expect_exit 0 "$DRUDGE" --db "$TMP/second.db" run -q "$script" --key m1 --input "$(email CR-2026-10007)"
contains "$out" '"replayed":true' "the service answered from the Idempotency-Key"
DRUDGE_SECRET_CMS_TOKEN=wrong expect_exit 4 "$DRUDGE" run -q "$script" --key m5 --input "$(email CR-2026-10007)"
contains "$err" "answered HTTP 401" "a wrong token is a system error"
stop

# Every request answers 503: four tries each in the audit trail, then a system error.
start 1000
expect_exit 4 "$DRUDGE" run -q "$script" --key m6 --input "$(email CR-2026-10008)"
contains "$err" "answered HTTP 503" "503 after the retries"
id=$(sql "select id from tasks where key = 'm6'")
equals "$(sql "select count(*) from steps where task_id = $id and kind = 'http'")" "4" "4 tries recorded"
stop

# The token never reaches the database (secret() values are redacted).
for db in "$DRUDGE_DB" "$TMP/second.db"; do
  if grep -q s3cret-token "$db"* 2>/dev/null; then fail "token found in $db"; else pass; fi
done
finish
