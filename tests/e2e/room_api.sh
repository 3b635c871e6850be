# The control room's API (drudge serve, runner/room/): each endpoint with
# curl, as each role; bad input (malformed JSON, an unknown task, a wrong
# role) answered with a clear JSON error; an enqueue retried with the same
# idempotency key makes one task; sessions need their CSRF token for
# changes; every person's action is on the audit chain with the user and
# the address. Runs on SQLite and on PostgreSQL (label pg).
source "$TESTS/lib.sh"

cat > s.lua <<'EOF2'
return {
  name = "s", max_attempts = 1,
  run = function(task)
    if task.input.fail then fail("no reply from " .. task.input.email) end
    return { filed = task.input.email }
  end,
}
EOF2
expect_exit 0 "$DRUDGE" -q enqueue s.lua --key ann@example.org --input '{"email":"ann@example.org"}'
expect_exit 0 "$DRUDGE" -q enqueue s.lua --key bob@example.org --input '{"email":"bob@example.org","fail":true}'
expect_exit 0 "$DRUDGE" -q enqueue s.lua --key cy@example.org --input '{"email":"cy@example.org","fail":true}'
expect_exit 0 "$DRUDGE" -q work --until-empty

# ---- drudge user ----
for u in vic:viewer olga:operator aud:auditor adam:admin; do
  expect_exit 0 sh -c "echo 'pass-$u-12345' | \"\$DRUDGE\" user add ${u%%:*} --role ${u##*:}"
done
expect_exit 2 "$DRUDGE" user add eve --role operator --password secret123456
contains "$err" "no password on the command line" "a password in argv is refused"
expect_exit 2 sh -c "echo short | \"\$DRUDGE\" user add eve --role operator"
contains "$err" "too short" "a short password is refused"
expect_exit 2 sh -c "echo 'long enough pw' | \"\$DRUDGE\" user add eve --role boss"
contains "$err" "want viewer, operator, auditor or admin" "an unknown role is refused"
expect_exit 1 sh -c "echo 'long enough pw' | \"\$DRUDGE\" user add vic --role viewer"
contains "$err" "already exists" "a name is taken once"
expect_exit 0 "$DRUDGE" user list
contains "$out" "olga" "user list names the users"
contains "$out" "operator" "and their roles"
equals "$(sql "select count(*) from room_users where hash like '\$argon2id\$%'")" "4" "passwords are kept as Argon2id hashes"
equals "$(sql "select count(*) from room_users where hash like '%pass-%'")" "0" "never as given"
declare -A tok
for u in vic olga aud adam; do
  expect_exit 0 "$DRUDGE" -q user token $u --label test
  tok[$u]=$out
  equals "${#out}" "64" "a token is 64 hex digits"
done
equals "$(sql "select count(*) from room_keys where kind = 'token' and hash <> ''")" "4" "tokens are stored"
equals "$(sql "select count(*) from room_keys where hash = '${tok[vic]}'")" "0" "but only hashed"
equals "$(sql "select name from steps where kind = 'operator' and name like 'user%' or name like 'token%' order by id" | sort | uniq -c | tr -s ' ' | tr '\n' ',')" \
  " 4 token add, 4 user add," "each user change is an operator step"

# ---- the server ----
expect_exit 2 "$DRUDGE" serve --listen 0.0.0.0:0
contains "$err" "not a loopback address" "plain HTTP off loopback is refused"
expect_exit 2 "$DRUDGE" serve --listen nowhere:80
contains "$err" "not an IP address" "a bad --listen is named"
"$DRUDGE" serve --listen 127.0.0.1:0 > serve.out 2> serve.err &
srv=$!
trap 'kill $srv 2>/dev/null || true' EXIT
wait_until 60 grep -q http serve.out 2>/dev/null || true
url=$(sed -n 's|.*\(http://[^ ]*/\).*|\1|p' serve.out)
contains "$url" "http://127.0.0.1:" "serve prints its address"

# api WHO METHOD PATH [BODY] [CURL ARGS...]: sets $code and $body.
api() {
  local who=$1 method=$2 path=$3 data=${4:-}
  shift 4 2>/dev/null || shift $#
  local auth=()
  [ "$who" = "-" ] || auth=(-H "Authorization: Bearer ${tok[$who]}")
  local d=()
  [ -z "$data" ] || d=(-H 'Content-Type: application/json' --data-binary "$data")
  code=$(curl -s -o body.out -w '%{http_code}' -X "$method" "${auth[@]}" "${d[@]}" "$@" "${url%/}$path")
  body=$(cat body.out)
}

api - GET /api/v1/status
equals "$code" "401" "no token: 401"
contains "$body" '"error":"not logged in' "as a JSON error"
api - GET /api/v1/openapi.json
equals "$code" "200" "the API description needs no login"
python3 -c 'import json,sys; json.load(open("body.out"))' && pass || fail "openapi.json is JSON"
# Every route of the router is in openapi.json (and nothing more under /api/v1/).
expect_exit 0 "$DRUDGE" serve --routes
routes=$(echo "$out" | awk '$2 ~ "^/api/v1/" {print tolower($1) " " $2}' | sort)
documented=$(python3 -c 'import json; d=json.load(open("body.out"))
for p, ops in d["paths"].items():
    for m in ops: print(m, p)' | sed 's/{[a-z0-9]*}/{x}/g' | sort)
equals "$(echo "$routes" | sed 's/{[a-z0-9]*}/{x}/g')" "$documented" "openapi.json documents every route of the router"

api vic GET /api/v1/status
equals "$code" "200" "a viewer reads the counts"
contains "$body" '"script":"s","queued":0,"running":0,"done":1,"failed":2' "the counts per script"

# ---- the charts: from the database, not from the server's memory ----
equals "$(sql "select sum(done) || '|' || sum(failed) from throughput")" "1|2" "each outcome counted in its minute as it committed"
api vic GET '/api/v1/throughput?period=hour'
equals "$code" "200" "the last hour's throughput"
contains "$body" '"done":1,"failed":2,"failure_rate":0.6667}' "counts the attempts that ended before this server started"
api vic GET '/api/v1/throughput?period=day'
contains "$body" '"bucket_seconds":3600' "the last day's, per hour"
contains "$body" '"done":1,"failed":2,"failure_rate":0.6667}' "the same attempts"
api vic GET '/api/v1/throughput?period=week'
equals "$code" "400" "an unknown period"
code=$(curl -s -o body.out -w '%{http_code}' -H "Authorization: Bearer ${tok[vic]}" "$url")
contains "$(cat body.out)" "Last hour, per minute: <span class=sum>1 done, 2 failed</span> (66.7% failure rate)" "the overview's chart of the last hour"
contains "$(cat body.out)" "Last day, per hour: <span class=sum>1 done, 2 failed</span>" "and of the last day"

# ---- what each role sees ----
api vic GET /api/v1/tasks
equals "$code" "200" "a viewer lists tasks"
contains "$body" '"id":3' "the list"
case "$body" in *@*|*input*|*'"key"'*|*"no reply"*) fail "a viewer got task data: $body" ;; *) pass ;; esac
api vic GET /api/v1/tasks/2
case "$body" in *@*|*input*|*steps*|*"no reply"*) fail "a viewer got task data: $body" ;; *) pass ;; esac
contains "$body" '"state":"failed"' "a viewer sees the state"
api vic GET '/api/v1/tasks?key=bob@example.org'
equals "$code" "403" "a viewer may not search by key"
contains "$body" "the role viewer may not search tasks by key" "and is told why"
api olga GET /api/v1/tasks/2
contains "$body" '"input":{"email":"[REDACTED:email]","fail":true}' "an operator sees the input redacted"
contains "$body" '"key":"[REDACTED:email]"' "and the key"
case "$body" in *bob@example.org*) fail "an operator got the e-mail address: $body" ;; *) pass ;; esac
contains "$body" '"steps":[' "and the steps"
api aud GET /api/v1/tasks/2
contains "$body" '"input":{"email":"bob@example.org","fail":true}' "an auditor sees the input as recorded"
contains "$body" '"error":"no reply from bob@example.org"' "and the error"
api olga GET '/api/v1/tasks?key=bob@example.org'
contains "$body" '"id":2' "an operator finds a task by its key"
api olga GET '/api/v1/tasks?state=failed&limit=1'
contains "$body" '"id":3' "the newest failed task"
contains "$body" '"next_before":3' "and where the next page starts"
api olga GET '/api/v1/tasks?state=failed&limit=1&before=3'
contains "$body" '"id":2' "the next page"
api olga GET '/api/v1/tasks?state=sleeping'
equals "$code" "400" "an unknown state"
contains "$body" "state 'sleeping': want queued" "is named"
api olga GET '/api/v1/tasks?since=yesterday-ish'
equals "$code" "400" "a bad time is refused"

# ---- bad input ----
api olga GET /api/v1/tasks/999
equals "$code" "404" "an unknown task: 404"
contains "$body" '"error":' "as JSON"
api olga GET /api/v1/tasks/abc
equals "$code" "400" "a task id that is no number: 400"
api olga POST /api/v1/tasks '{"script": "s", "input": {'
equals "$code" "400" "malformed JSON: 400"
contains "$body" "not a JSON object (malformed JSON?)" "and says so"
api olga POST /api/v1/tasks '{"script":"nope"}'
equals "$code" "404" "an unknown script: 404"
contains "$body" "no script 'nope' is known here" "names it"
api olga GET /api/v1/nothing
equals "$code" "404" "an unknown endpoint"
api olga DELETE /api/v1/tasks
equals "$code" "405" "a wrong method"

# ---- wrong roles ----
api vic POST /api/v1/tasks '{"script":"s"}'
equals "$code" "403" "a viewer may not enqueue"
contains "$body" '"error":"the role viewer may not enqueue tasks"' "a clear JSON error"
api aud POST /api/v1/tasks/2/retry
equals "$code" "403" "an auditor changes nothing"
api olga GET /api/v1/audit/verify
equals "$code" "403" "an operator does not read the audit trail"
api olga GET /api/v1/users
equals "$code" "403" "an operator does not list users"
api adam GET /api/v1/users
equals "$code" "200" "an admin does"
contains "$body" '"name":"olga","role":"operator"' "the users"

# ---- enqueue, idempotent ----
n0=$(sql "select count(*) from tasks")
api olga POST /api/v1/tasks '{"script":"s","input":{"email":"dee@example.org"}}' -H 'Idempotency-Key: order-77'
equals "$code" "201" "enqueued: 201"
id=$(echo "$body" | sed -n 's/.*"id":\([0-9]*\).*/\1/p')
contains "$body" '"duplicate":false' "a new task"
api olga POST /api/v1/tasks '{"script":"s","input":{"email":"dee@example.org"}}' -H 'Idempotency-Key: order-77'
equals "$code" "200" "the same key again: 200"
contains "$body" "\"id\":$id,\"script\":\"s\",\"duplicate\":true" "names the same task"
equals "$(sql "select count(*) from tasks")" "$((n0 + 1))" "one task for two requests"
api olga POST /api/v1/tasks '{"tasks":[{"script":"s","key":"k1","input":{"n":1}},{"script":"s","key":"k2","priority":5},{"script":"s","key":"k1"}]}'
equals "$code" "201" "a bulk enqueue"
contains "$body" '"added":2,"duplicates":1' "a key repeated in the batch makes one task"
equals "$(sql "select priority from tasks where key = 'k2'")" "5" "the priority given"
api olga POST /api/v1/tasks '{"tasks":{}}'
equals "$code" "400" "tasks must be an array"
api olga POST /api/v1/tasks '{"script":"s","priority":"high"}'
equals "$code" "400" "a priority that is no integer"
contains "$body" "priority: want an integer" "is named"

# ---- deadlines: enqueued with one, shown by the API and the pages ----
api olga POST /api/v1/tasks '{"script":"s","key":"dl-1","input":{"n":9},"deadline":"+30m"}'
equals "$code" "201" "enqueued with a deadline"
dl=$(echo "$body" | sed -n 's/.*"id":\([0-9]*\).*/\1/p')
equals "$(sql "select deadline - created_at between 1790000000 and 1810000000 from tasks where id = $dl")" \
  "$(on_pg && echo t || echo 1)" "the deadline: 30 minutes on"
api olga GET "/api/v1/tasks/$dl"
contains "$body" '"deadline_status":"at_risk","deadline_why":"queue"' "the API: at risk (due within the hour), waiting in the queue"
api olga POST /api/v1/tasks '{"script":"s","key":"dl-2","deadline":"soonish"}'
equals "$code" "400" "a deadline that is no time"
contains "$body" "tasks[0]: deadline: want a time" "is named"
api olga GET "/tasks/$dl"
contains "$body" '<span class="badge deadline at_risk">at risk (queue)</span>' "the task page: deadline and status"
api olga GET "/tasks?script=s"
contains "$body" 'badge deadline at_risk' "the task list"
api olga GET /
contains "$body" "<h2>Deadlines</h2><table id=deadlines>" "the overview's deadlines"
contains "$body" '<td>s</td><td class=num>0</td><td class=num>0</td><td class="num warn">1</td>' "at risk per script"

# ---- acting ----
api olga POST /api/v1/tasks/2/retry
equals "$code" "200" "an operator retries a failed task"
equals "$(sql "select state from tasks where id = 2")" "queued" "it is queued again"
api olga POST /api/v1/tasks/2/retry
equals "$code" "409" "retrying a queued task: 409"
contains "$body" '"error":' "with the reason"
api olga POST /api/v1/tasks/2/cancel
equals "$code" "200" "a queued task is cancelled"
contains "$body" '"state":"cancelled"' "says so"
api olga POST /api/v1/tasks/3/resolve '{}'
equals "$code" "400" "a resolve needs a note"
api olga POST /api/v1/tasks/3/resolve '{"note":"phoned cy"}'
equals "$code" "200" "resolved with a note"
equals "$(sql "select resolved_by || '|' || resolved_note from tasks where id = 3")" "olga|phoned cy" "the row names the user"
api olga POST /api/v1/retry '{"ids":[2,1]}'
contains "$body" '"retried":1' "bulk retry: one could, one could not"
contains "$body" '"id":1,"retried":false,"error":' "and says why not"
api olga POST /api/v1/scripts/s/pause
equals "$code" "200" "pause"
equals "$(sql "select count(*) from paused where script = 's'")" "1" "the script is paused"
api olga POST /api/v1/scripts/s/resume
equals "$code" "200" "resume"
expect_exit 0 "$DRUDGE" -q schedule add nightly --cron '0 19 * * *' s.lua
api vic GET /api/v1/schedules
contains "$body" '"name":"nightly","cron":"0 19 * * *"' "schedules with their cron"
contains "$body" '"next_run":"' "and their next run"
api olga POST /api/v1/schedules/nightly/pause
equals "$(sql "select paused from schedules where name = 'nightly'")" "1" "a schedule paused"
api olga POST /api/v1/schedules/nightly/resume
equals "$(sql "select paused from schedules where name = 'nightly'")" "0" "and resumed"
api olga POST /api/v1/schedules/nightly/run
equals "$code" "201" "run now"
equals "$(sql "select count(*) from tasks where schedule = 'nightly'")" "1" "makes one task of the schedule"
api olga POST /api/v1/schedules/nope/run
equals "$code" "404" "an unknown schedule"

# Every action through the room names the user, the room and the address.
equals "$(sql "select count(*) from steps where kind = 'operator' and request like '{\"user\":\"olga\",\"via\":\"room\",\"remote\":\"127.0.0.1\"%'")" \
  "9" "retry, cancel, resolve, bulk retry, pause, resume, schedule pause and resume, run now"

# ---- reading: scripts, report, audit ----
api vic GET /api/v1/scripts
contains "$body" '"script":"s","version":"' "script versions"
api vic GET '/api/v1/report?by=day'
equals "$code" "200" "the report"
contains "$body" '"by":"day"' "by day"
api vic GET '/api/v1/report?format=csv'
contains "$body" "script," "as CSV"
api vic GET '/api/v1/report?by=year'
equals "$code" "400" "an unknown grouping"
api aud GET /api/v1/audit/verify
contains "$body" '"intact":true' "an auditor verifies the trail"
api aud GET /api/v1/audit/checkpoints
contains "$body" '"checkpoints":[]' "checkpoints"
api aud GET '/api/v1/audit/export?format=jsonl'
contains "$body" '"prev_hash"' "an export"
equals "$(sql "select count(*) from steps where name = 'export' and request like '{\"user\":\"aud\",\"via\":\"room\"%'")" "1" "the export is recorded"
api aud GET /api/v1/tasks/2/timeline
contains "$body" "retry" "a task's timeline"

# ---- sessions, CSRF, logins on the chain ----
code=$(curl -s -o body.out -w '%{http_code}' -c jar -H 'Content-Type: application/json' \
  --data-binary '{"user":"olga","password":"wrong password"}' "${url}api/v1/login")
equals "$code" "401" "a wrong password: 401"
equals "$(sql "select count(*) from steps where name = 'login failed' and request like '{\"user\":\"olga\",\"via\":\"room\",\"remote\":\"127.0.0.1\",\"reason\":\"wrong password\"}'")" \
  "1" "a failed login is on the chain with the address"
sql "insert into room_keys(hash, \"user\", kind, created_at, expires_at) values ('old', 'olga', 'session', 1, 2)"
code=$(curl -s -o body.out -w '%{http_code}' -c jar -H 'Content-Type: application/json' \
  --data-binary '{"user":"olga","password":"pass-olga:operator-12345"}' "${url}api/v1/login")
equals "$code" "200" "a login"
equals "$(sql "select count(*) from room_keys where hash = 'old'")" "0" "a login forgets expired sessions"
equals "$(sql "select count(*) from room_keys where kind = 'session' and remote = '127.0.0.1' and csrf is not null")" "1" \
  "a session is kept by its hash, with its CSRF token and address"
csrf=$(sed -n 's/.*"csrf":"\([0-9a-f]*\)".*/\1/p' body.out)
equals "${#csrf}" "64" "answers the CSRF token"
contains "$(cat jar)" "#HttpOnly_127.0.0.1" "the session cookie is HttpOnly"
curl -s -D hdr.out -o /dev/null -H 'Content-Type: application/json' \
  --data-binary '{"user":"olga","password":"pass-olga:operator-12345"}' "${url}api/v1/login"
contains "$(cat hdr.out)" "SameSite=Strict" "and SameSite=Strict"
code=$(curl -s -o body.out -w '%{http_code}' -b jar "${url}api/v1/me")
contains "$(cat body.out)" "\"user\":\"olga\",\"role\":\"operator\",\"csrf\":\"$csrf\"" "the session knows its user"
code=$(curl -s -o body.out -w '%{http_code}' -b jar -X POST "${url}api/v1/scripts/s/pause")
equals "$code" "403" "a change through the session without the CSRF token: 403"
contains "$(cat body.out)" "CSRF token" "says why"
wrong=${csrf%?}$([ "${csrf: -1}" = 0 ] && echo 1 || echo 0) # one digit off
code=$(curl -s -o body.out -w '%{http_code}' -b jar -X POST -H "X-CSRF-Token: $wrong" "${url}api/v1/scripts/s/pause")
equals "$code" "403" "a wrong CSRF token: 403"
code=$(curl -s -o body.out -w '%{http_code}' -b jar -X POST -H "X-CSRF-Token: $csrf" "${url}api/v1/scripts/s/pause")
equals "$code" "200" "with it: done"
code=$(curl -s -o body.out -w '%{http_code}' -b jar -X POST -H "X-CSRF-Token: $csrf" "${url}api/v1/logout")
equals "$code" "303" "logout"
code=$(curl -s -o body.out -w '%{http_code}' -b jar "${url}api/v1/me")
equals "$code" "401" "the session is gone"
equals "$(sql "select name from steps where kind = 'operator' and name like 'log%' order by id" | uniq | tr '\n' ',')" \
  "login failed,login,logout," "login, failed login and logout are on the chain"

# A disabled user's tokens stop at once.
expect_exit 0 "$DRUDGE" user disable olga
api olga GET /api/v1/status
equals "$code" "401" "a disabled user's token is refused"
expect_exit 0 "$DRUDGE" user enable olga
api olga GET /api/v1/status
equals "$code" "200" "and works again once enabled"

# ---- live updates: the event stream (GET /api/v1/events) ----
api olga POST /api/v1/tasks '{"script":"s","key":"live-1","input":{"n":1}}'
live=$(echo "$body" | sed -n 's/.*"id":\([0-9]*\).*/\1/p')
curl -sN --max-time 30 -H "Authorization: Bearer ${tok[vic]}" "${url}api/v1/events?task=$live" > ev.out &
ev=$!
wait_until 60 grep -q '"state":"queued"' ev.out || true
api olga POST "/api/v1/tasks/$live/cancel"
wait_until 60 grep -q '"state":"cancelled"' ev.out || true
# The counts' event of the same change may follow in the next second (or
# later, on a loaded machine): wait until the stream's last counts hold it.
cancel_counted() {
  grep -A1 '^event: status' ev.out | grep '^data:' | sed 's/^data: //' | python3 -c '
import json, sys
c = [json.loads(l)["total"]["cancelled"] for l in sys.stdin]
sys.exit(0 if len(c) >= 2 and c[-1] - c[0] == 1 else 1)' 2>/dev/null
}
wait_until 60 cancel_counted || true
kill $ev 2>/dev/null || true
wait $ev 2>/dev/null || true
contains "$(cat ev.out)" "retry: 5000" "the stream says when to reconnect"
contains "$(cat ev.out)" "event: status" "the stream sends the counts"
contains "$(cat ev.out)" "event: task
data: {\"id\":$live,\"state\":\"queued\"" "and the task's state"
contains "$(cat ev.out)" "event: task
data: {\"id\":$live,\"state\":\"cancelled\"" "and again when it changes, without asking"
# At least the first counts and the cancel's; more only if something else
# changed (done_last_minute moves as a finished task's minute passes), and
# never the same counts twice in a row.
statuses=$(grep -A1 '^event: status' ev.out | grep '^data:' | sed 's/^data: //')
n=$(echo "$statuses" | wc -l)
equals "$([ "$n" -ge 2 ] && echo yes || echo "no ($n)")" "yes" "the counts once, then once more when they changed"
equals "$(echo "$statuses" | uniq -d | wc -l)" "0" "no event repeats the counts before it"
equals "$(echo "$statuses" | python3 -c '
import json, sys
c = [json.loads(l)["total"]["cancelled"] for l in sys.stdin]
print(c[-1] - c[0])')" "1" "the last counts hold the cancelled task"
case "$(cat ev.out)" in *@*|*input*|*live-1*) fail "a viewer's stream carried task data: $(cat ev.out)" ;; *) pass ;; esac
api vic GET '/api/v1/events?task=x'
equals "$code" "400" "a stream of a task that is no id: 400"
# A session's stream ends when the session does (logout; expiry and a
# disabled user the same way: the key stops opening).
curl -s -o body.out -c jar2 -H 'Content-Type: application/json' \
  --data-binary '{"user":"olga","password":"pass-olga:operator-12345"}' "${url}api/v1/login"
csrf2=$(sed -n 's/.*"csrf":"\([0-9a-f]*\)".*/\1/p' body.out)
curl -sN --max-time 20 -b jar2 "${url}api/v1/events" > ev2.out &
ev=$!
wait_until 15 grep -q '^retry:' ev2.out || true # the stream is open
t0=$(date +%s)
curl -s -o /dev/null -b jar2 -X POST -H "X-CSRF-Token: $csrf2" "${url}api/v1/logout"
wait $ev
equals "$?" "0" "the stream of a session ends once it logs out (curl was not cut off)"
[ $(($(date +%s) - t0)) -le 5 ] && pass || fail "the stream ended $(($(date +%s) - t0)) s after the logout"
contains "$(cat ev2.out)" 'event: bye
data: {"reason":"logged out, revoked or expired"}' "and says why"

# ---- API tokens: listed by id and label, revoked one by one ----
expect_exit 0 "$DRUDGE" -q user token olga --label erp
erp=$out
erp_id=$(printf %s "$erp" | sha256sum | cut -c1-12)
api olga GET /api/v1/tokens
contains "$body" "{\"id\":\"$erp_id\",\"user\":\"olga\",\"label\":\"erp\"" "a user lists its tokens by id and label"
case "$body" in *'"user":"adam"'*) fail "a user saw another's tokens: $body" ;; *) pass ;; esac
case "$body" in *"$erp"*) fail "the list shows a secret" ;; *) pass ;; esac
api adam GET /api/v1/tokens
contains "$body" '"user":"adam"' "an admin lists every token"
api vic POST "/api/v1/tokens/$erp_id/revoke"
equals "$code" "404" "a viewer cannot revoke another user's token"
api adam POST /api/v1/tokens/nothex!/revoke
equals "$code" "400" "a token id that is no hex"
api adam POST /api/v1/tokens/00000000/revoke
equals "$code" "404" "an unknown token id"
# A second server on the same database: a revocation holds on every one.
"$DRUDGE" serve -q --listen 127.0.0.1:0 --max-streams 1 > serve2.out 2> serve2.err &
srv2=$!
trap 'kill $srv $srv2 2>/dev/null || true' EXIT
wait_until 60 grep -q http serve2.out 2>/dev/null || true
url2=$(sed -n 's|.*\(http://[^ ]*/\).*|\1|p' serve2.out)
equals "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $erp" "${url2}api/v1/status")" "200" "the token opens the second server"
sums() { curl -s -H "Authorization: Bearer $erp" "$1api/v1/throughput?period=day" | sed 's/.*\]//'; }
s1=$(sums "$url")
equals "$(sums "$url2")" "$s1" "both servers draw the same chart ($s1)"
contains "$s1" '"done":1,"failed":2' "the attempts of before both started"
curl -sN --max-time 20 -H "Authorization: Bearer $erp" "${url2}api/v1/events" > ev3.out &
ev=$!
wait_until 15 grep -q '^retry:' ev3.out || true # the one stream is open
code=$(curl -s -o body.out -w '%{http_code}' -H "Authorization: Bearer ${tok[vic]}" "${url2}api/v1/events")
equals "$code" "503" "a stream beyond --max-streams is refused"
contains "$(cat body.out)" "poll /api/v1/status instead" "and told to poll"
api adam POST "/api/v1/tokens/$erp_id/revoke"
equals "$code" "200" "an admin revokes the token by its id"
contains "$body" "\"id\":\"$erp_id\",\"user\":\"olga\",\"revoked\":true" "and is told whose it was"
equals "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $erp" "${url}api/v1/status")" "401" "the token is refused at once"
equals "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $erp" "${url2}api/v1/status")" "401" "by the other server too"
wait $ev
equals "$?" "0" "its stream on the other server ends"
contains "$(cat ev3.out)" "event: bye" "saying why"
api olga GET /api/v1/status
equals "$code" "200" "the user's other tokens still work"
# Failed logins count across the servers (room_fails in the database): five
# wrong passwords spread over both, and the next login is slowed on each.
# From 127.0.0.2 (loopback too), so that the rest of this test's logins
# from 127.0.0.1 are not slowed by the address's count.
expect_exit 0 sh -c "echo 'pass-zed-123456' | \"\$DRUDGE\" -q user add zed --role viewer"
zlogin() { curl -s -o /dev/null -w '%{http_code} %{time_total}' --interface 127.0.0.2 \
  -H 'Content-Type: application/json' --data-binary "{\"user\":\"zed\",\"password\":\"$2\"}" "$1api/v1/login"; }
for u in "$url" "$url2" "$url" "$url2" "$url"; do
  r=$(zlogin "$u" "guess-$RANDOM")
  equals "${r% *}" "401" "a wrong password is refused (at ${u})"
done
equals "$(sql "select count from room_fails where who = 'u:zed'")" "5" "the five are counted once each in the database"
equals "$(sql "select count from room_fails where who = 'a:127.0.0.2'")" "5" "and for the address"
r=$(zlogin "$url2" "guess-six")
equals "${r% *}" "401" "the sixth is refused"
awk -v t="${r#* }" 'BEGIN { exit !(t >= 1.0) }' && pass || fail "the sixth, on the second server, is slowed by 1 s (took ${r#* } s)"
r=$(zlogin "$url" "pass-zed-123456")
equals "${r% *}" "200" "the right password still logs in"
awk -v t="${r#* }" 'BEGIN { exit !(t >= 2.0) }' && pass || fail "after six, on the first server, slowed by 2 s (took ${r#* } s)"
contains "$(cat serve2.err)" "login of zed from 127.0.0.2 slowed by 1 s (5 failed logins)" "the second server says it slowed the sixth"
contains "$(cat serve.err)" "login of zed from 127.0.0.2 slowed by 2 s (6 failed logins)" "the first server the seventh"
equals "$(sql "select count(*) from steps where name = 'login failed' and request like '{\"user\":\"zed\",%127.0.0.2%'")" \
  "6" "every failed login, on either server, is an operator step on the chain"
equals "$(sql "select count(*) from room_fails where who = 'u:zed'")" "0" "the right password clears the user's count"
equals "$(sql "select count from room_fails where who = 'a:127.0.0.2'")" "6" "not the address's"
kill $srv2
wait $srv2 || true
trap 'kill $srv 2>/dev/null || true' EXIT

# ---- passwords: one's own changed, another's reset by an admin ----
code=$(curl -s -o body.out -w '%{http_code}' -c jar3 -H 'Content-Type: application/json' \
  --data-binary '{"user":"olga","password":"pass-olga:operator-12345"}' "${url}api/v1/login")
csrf3=$(sed -n 's/.*"csrf":"\([0-9a-f]*\)".*/\1/p' body.out)
curl -s -o /dev/null -c jar4 -H 'Content-Type: application/json' \
  --data-binary '{"user":"olga","password":"pass-olga:operator-12345"}' "${url}api/v1/login"
others=$(($(sql "select count(*) from room_keys where \"user\" = 'olga' and kind = 'session'") - 1))
pw() { code=$(curl -s -o body.out -w '%{http_code}' -b jar3 -H "X-CSRF-Token: $csrf3" -H 'Content-Type: application/json' --data-binary "$1" "${url}api/v1/me/password"); body=$(cat body.out); }
pw '{"old":"not it","new":"olgas-new-password"}'
equals "$code" "403" "a password change with a wrong old password: 403"
contains "$body" "the old password is wrong" "says so"
pw '{"old":"pass-olga:operator-12345","new":"short"}'
equals "$code" "400" "a new password too short: 400"
pw '{"old":"pass-olga:operator-12345"}'
equals "$code" "400" "no new password: 400"
code=$(curl -s -o body.out -w '%{http_code}' -b jar3 -H 'Content-Type: application/json' --data-binary '{"old":"pass-olga:operator-12345","new":"olgas-new-password"}' "${url}api/v1/me/password")
equals "$code" "403" "a password change through a session needs its CSRF token"
pw '{"old":"pass-olga:operator-12345","new":"olgas-new-password"}'
equals "$code" "200" "the password changed"
contains "$body" "\"user\":\"olga\",\"sessions_ended\":$others" "ending the user's other sessions ($others)"
equals "$(curl -s -o /dev/null -w '%{http_code}' -b jar4 "${url}api/v1/me")" "401" "which is refused now"
equals "$(curl -s -o /dev/null -w '%{http_code}' -b jar3 "${url}api/v1/me")" "200" "while the one that changed it goes on"
login() { curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "{\"user\":\"$1\",\"password\":\"$2\"}" "${url}api/v1/login"; }
equals "$(login olga pass-olga:operator-12345)" "401" "the old password no longer logs in"
equals "$(login olga olgas-new-password)" "200" "the new one does"
api olga POST /api/v1/users/vic/password '{"password":"vics-new-password"}'
equals "$code" "403" "an operator may not reset another's password"
api adam POST /api/v1/users/vic/password '{"password":"vics-new-password"}'
equals "$code" "200" "an admin resets a password"
api adam POST /api/v1/users/nobody/password '{"password":"vics-new-password"}'
equals "$code" "404" "of an unknown user: 404"
equals "$(login vic vics-new-password)" "200" "the reset password logs in"
equals "$(sql "select count(*) from room_users where hash like '%new-password%'")" "0" "passwords are kept only hashed"

# ---- the login form carries a CSRF token ----
code=$(curl -s -o body.out -w '%{http_code}' --data 'user=vic&password=vics-new-password' "${url}login")
equals "$code" "403" "a form login without the login page's token: 403"
contains "$(cat body.out)" "CSRF token" "says why"
curl -s -c jar5 -o login.html "${url}login"
ltok=$(sed -n 's/.*name=csrf value="\([0-9a-f]*\)".*/\1/p' login.html)
equals "${#ltok}" "64" "the login page has a token in its form"
code=$(curl -s -o body.out -w '%{http_code}' -b jar5 --data "user=vic&password=vics-new-password&csrf=0$ltok" "${url}login")
equals "$code" "403" "a wrong one is refused"
code=$(curl -s -o body.out -w '%{http_code}' --data "user=vic&password=vics-new-password&csrf=$ltok" "${url}login")
equals "$code" "403" "so is the form's token without its cookie"
code=$(curl -s -o body.out -w '%{http_code}' -b jar5 --data "user=vic&password=vics-new-password&csrf=$ltok" "${url}login")
equals "$code" "303" "with both, the form logs in"

# ---- verify now, in the background, with its progress ----
api aud POST /api/v1/audit/verify
equals "$code" "202" "an auditor starts a check"
contains "$body" '"running":true' "it runs"
for _ in $(seq 100); do
  api aud GET /api/v1/audit/verify/progress
  case "$body" in *'"running":false'*) break ;; esac
  sleep 0.1
done
contains "$body" '"running":false' "and ends"
contains "$body" '"started_by":"aud"' "naming who started it"
contains "$body" '"result":{"intact":true' "the trail is intact"
rows=$(echo "$body" | sed -n 's/.*"checked":\([0-9]*\),"total":\([0-9]*\).*/\1 \2/p')
set -- $rows
equals "$1" "$2" "every row of the chain was checked ($1 of $2)"
[ "$1" -gt 20 ] && pass || fail "the chain has $1 rows"
api olga POST /api/v1/audit/verify
equals "$code" "403" "an operator may not"

equals "$(sql "select name from steps where kind = 'operator' and name in ('password change failed', 'password change', 'password reset', 'token revoke', 'audit verify') and request like '{\"user\":\"%\",\"via\":\"room\",\"remote\":\"127.0.0.1\"%' order by id" | tr '\n' ',')" \
  "token revoke,password change failed,password change,password reset,audit verify," "each of these is an operator step with the user and the address"
equals "$(sql "select count(*) from steps where name = 'token revoke' and request like '%\"user\":\"adam\"%\"name\":\"olga\",\"label\":\"erp\"%'")" "1" "a revocation names the token's user and label"

kill $srv
wait $srv || true
trap - EXIT
contains "$(cat serve.err)" "127.0.0.1 POST /api/v1/tasks/2/retry 200 olga" "a line per request"
# ---- TLS ----
expect_exit 2 "$DRUDGE" serve --listen 127.0.0.1:0 --tls-cert tls.crt
contains "$err" "--tls-cert and --tls-key go together" "a certificate needs its key"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout tls.key \
  -out tls.crt -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
"$DRUDGE" serve -q --listen 127.0.0.1:0 --tls-cert tls.crt --tls-key tls.key > tls.out 2> tls.err &
srv=$!
trap 'kill $srv 2>/dev/null || true' EXIT
wait_until 60 grep -q https tls.out 2>/dev/null || true
url=$(sed -n 's|.*\(https://[^ ]*/\).*|\1|p' tls.out)
contains "$url" "https://127.0.0.1:" "serve over TLS prints an https address"
code=$(curl -s --cacert tls.crt -o body.out -w '%{http_code}' -H "Authorization: Bearer ${tok[olga]}" "${url}api/v1/status")
equals "$code" "200" "the API over TLS"
curl -s --cacert tls.crt -D hdr.out -o /dev/null -H 'Content-Type: application/json' \
  --data-binary '{"user":"aud","password":"pass-aud:auditor-12345"}' "${url}api/v1/login"
contains "$(cat hdr.out)" "; Secure" "over TLS the session cookie is Secure"
kill $srv
wait $srv || true
trap - EXIT

expect_exit 0 "$DRUDGE" audit verify
contains "$out" "ok:" "the chain verifies with the control room's steps"
finish
