# drudge demo: the main job end to end, as a new user runs it.
source "$TESTS/lib.sh"

expect_exit 2 "$DRUDGE" demo --count 0
contains "$err" "--count: '0' is not 1 to 1000000" "bad --count"
expect_exit 2 "$DRUDGE" demo --bogus
contains "$err" "unknown option '--bogus'" "unknown option"
mkdir "$TMP/mine" && echo precious >"$TMP/mine/notes.txt"
expect_exit 2 "$DRUDGE" demo --dir "$TMP/mine"
contains "$err" "was not made by drudge demo" "refuses a directory it did not make"
equals "$(cat "$TMP/mine/notes.txt")" "precious" "and leaves it alone"


# A different directory than the demo's: it must work from anywhere.
mkdir "$TMP/elsewhere" && cd "$TMP/elsewhere"
start=$(date +%s)
expect_exit 0 "$DRUDGE" demo
demo_out=$out
secs=$(( $(date +%s) - start ))
echo "drudge demo took ${secs}s"
[ "$fails" -eq 0 ] || { echo "$out"; echo "$err"; }
d="$TMP/elsewhere/drudge-demo"
db="$d/drudge.db"
contains "$out" "Time saved by script" "prints the report"
contains "$out" "log_email_to_case" "the report names the script"
contains "$out" "$db" "says where the database is"
contains "$out" "$d/report.html" "says where the report is"
contains "$out" "The service is stopped" "stops the service"
contains "$out" "Outages: 1;" "the report ends with the service's outage"
contains "$out" "tasks held" "and what it held"

# The backlog: 500 emails, 10 with unknown case references; each is a task.
equals "$(wc -l <"$d/backlog.jsonl")" "500" "500 emails"
equals "$(sqlite3 "$db" "select count(*) from tasks")" "500" "500 tasks"
equals "$(sqlite3 "$db" "select count(*) from tasks where state = 'failed'")" "10" "unknown cases failed"
equals "$(sqlite3 "$db" "select count(*) from tasks where state = 'failed' and error like '%no such case%'")" "10" "with the reason"
equals "$(sqlite3 "$db" "select count(*) from tasks where state in ('queued','running')")" "0" "nothing left"
equals "$(sqlite3 "$db" "select count(*), min(ended_at) > started_at from outages")" "1|1" \
  "one outage on record, ended (the service went down half-way for 6 s)"
done=$(sqlite3 "$db" "select count(*) from tasks where state = 'done'")
dead=$(sqlite3 "$db" "select count(*) from tasks where state = 'dead'")
equals "$((done + dead))" "490" "every known case done (or, rarely, dead)"
# The 503s were retried: some tasks needed more than one try of a call.
retried=$(sqlite3 "$db" "select count(*) from steps where kind = 'http' and name like 'GET%'")
[ "$retried" -gt 490 ] && pass || fail "expected retried GETs in the audit trail, got $retried"
# The service logged each done email once (idempotency keys).
contains "$out" "logged $done documents for $done done tasks" "no email logged twice"
# The API token never reaches the database.
token_leaks=$(sqlite3 "$db" "select count(*) from steps where request like '%Bearer %' and request not like '%REDACTED%'")
equals "$token_leaks" "0" "the bearer token is redacted"

# The report files agree with the report command.
expect_exit 0 "$DRUDGE" --db "$db" report --format json
equals "$(/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["total"]["done"])' <<<"$out")" "$done" "report: done"
gross=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["total"]["gross_minutes"])' "$d/report.json")
equals "$gross" "$((done * 4))" "4 minutes saved per done email"
grep -q "<svg" "$d/report.html" && pass || fail "report.html has the chart"

# The audit trail verifies.
expect_exit 0 "$DRUDGE" --db "$db" audit verify

# Private files: the directory 0700, the data 0600.
equals "$(stat -c %a "$d")" "700" "demo directory mode"
equals "$(stat -c %a "$db")" "600" "database mode"
equals "$(stat -c %a "$d/backlog.jsonl")" "600" "backlog mode"

# No service left running on the port it had.
port=$(grep -o 'http://127.0.0.1:[0-9]*' <<<"$demo_out" | head -1 | cut -d: -f3)
(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && fail "the demo service still listens" || pass

# A second run replaces the first demo's directory.
expect_exit 0 "$DRUDGE" demo --count 40 -j 2
equals "$(sqlite3 "$db" "select count(*) from tasks")" "40" "a fresh demo directory"
finish
