#!/usr/bin/env bash
# Notifications (issue #20): a webhook (a local receiver) and an e-mail
# address (aiosmtpd, when installed) are told once when a target's circuit
# breaker opens and once when it closes, while two `drudge work` processes
# share the database (each notification is claimed by one of them); the
# first POST is refused (500) and is retried, arriving once; a deadline
# that passes during the outage is notified once, put down to it; dead
# tasks piling up past the channel's threshold are notified once; every
# attempt is on record (`notify log`); the bearer token is sent, signs the
# body and is stored nowhere; adding and removing a channel are steps on
# the audit chain.
source "$TESTS/lib.sh"
source "$TESTS/data/mail/servers.sh"

# ---- bad input ----
expect_exit 2 "$DRUDGE" notify add webhook ftp://example.org/hook
contains "$err" "webhook 'ftp://example.org/hook' is not an http:// or https:// URL" "a bad URL is named"
expect_exit 2 "$DRUDGE" notify add webhook http://user:pw@example.org/hook
contains "$err" "no user or password in the URL" "a password in the URL is refused"
expect_exit 2 "$DRUDGE" notify add webhook http://example.org/hook --event breaker,outages
contains "$err" "'outages' is not an event (breaker, deadline, dead)" "a bad event is named"
expect_exit 2 "$DRUDGE" notify add email ops@example.org
contains "$err" "add email wants --smtp smtp://HOST:PORT" "email needs a server"
expect_exit 2 "$DRUDGE" notify add email ops@example.org nobody --smtp smtp://127.0.0.1:25
contains "$err" "'nobody' is not an e-mail address" "a bad address is named"
expect_exit 2 "$DRUDGE" notify add email ops@example.org --smtp smtp://127.0.0.1:25 --user robot
contains "$err" "--user robot needs --secret NAME" "a login needs its secret"
expect_exit 2 "$DRUDGE" notify add webhook http://example.org/hook --secret 'A B'
contains "$err" "--secret 'A B': a secret's name is letters, digits and _" "a bad secret name"
expect_exit 2 "$DRUDGE" notify add webhook http://example.org/hook --dead-threshold 0
contains "$err" "--dead-threshold '0'" "a bad threshold"
expect_exit 1 "$DRUDGE" notify remove 42
contains "$err" "no notification channel #42" "removing a channel that is not there"
expect_exit 0 "$DRUDGE" notify list
contains "$out" "no notification channels" "none yet"

# ---- the receivers ----
TOKEN="tok-Secret-77"
mkdir hook
HOOK_KEY=$TOKEN "$TESTS/fixtures/webhook_receiver.py" "$TMP/hook" 1 &
hook_pid=$!
site_pid=
cleanup() {
  kill "$hook_pid" ${site_pid:+"$site_pid"} 2>/dev/null || true
  stop_servers
}
trap cleanup EXIT
wait_until 60 test -s hook/port || true
HPORT=$(cat hook/port)
export DRUDGE_SECRET_HOOK_TOKEN=$TOKEN
expect_exit 0 "$DRUDGE" notify add webhook "http://127.0.0.1:$HPORT/hook" --secret HOOK_TOKEN --dead-threshold 2
contains "$out" "channel #1: webhook http://127.0.0.1:$HPORT/hook, events breaker,deadline,dead" "webhook added"
mail=0
if /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null; then
  mail=1
  start_smtp "$TMP/inbox"
  expect_exit 0 "$DRUDGE" notify add email ops@example.org --smtp "smtp://127.0.0.1:$SMTP_PORT" \
    --from robot@example.org --event breaker
  contains "$out" "channel #2: email ops@example.org, events breaker" "email added"
else
  echo "aiosmtpd not installed: the e-mail channel is not tested" >&2
fi
expect_exit 0 "$DRUDGE" --json notify list
equals "$(python3 -c 'import json,sys; c=json.loads(sys.argv[1])["channels"][0]; print(c["secret"], c["dead_threshold"])' "$out")" \
  "HOOK_TOKEN 2" "the channel keeps the secret's name"

# ---- an outage during which a deadline passes, worked by two processes ----
# (as tests/e2e/outage_deadlines.sh: the site serves a maintenance page
# until the test changes it; the script declares the outage)
PORT=$(free_port)
mkdir site && echo "scheduled maintenance" >site/index.html
python3 -m http.server "$PORT" --bind 127.0.0.1 --directory site >http.log 2>&1 &
site_pid=$!
wait_port "$PORT"
cat >cms.lua <<LUA
local http = require "drudge.http"
return { name = "cms", targets = { cms = "127.0.0.1:$PORT" },
  run = function(task)
    local r = http.get("http://127.0.0.1:$PORT/")
    if r.body:find("maintenance", 1, true) then outage("cms", "maintenance page") end
    return { ok = true }
  end }
LUA
expect_exit 0 "$DRUDGE" enqueue cms.lua --input 0 --deadline +1h
for w in 1 2; do
  "$DRUDGE" work --until-empty --breaker-probe 1s --breaker-probe-max 1s >"work$w.out" 2>&1 &
  eval "w${w}_pid=\$!"
done
for _ in $(seq 600); do [ "$(sql "SELECT count(*) FROM breakers")" = 1 ] && break; sleep 0.1; done
equals "$(sql "SELECT count(*) FROM breakers")" "1" "the breaker opens on the maintenance page"
sql "UPDATE tasks SET deadline = $(python3 -c 'import time; print(int(time.time() * 1e6) + 1000000)')" >/dev/null
sleep 3
echo "welcome" >site/index.html
s1=0 s2=0
wait "$w1_pid" || s1=$?
wait "$w2_pid" || s2=$?
equals "$s1 $s2" "0 0" "both workers end once the target is back"
equals "$(sql "SELECT state FROM tasks")" "done" "the task is done after the outage"

# What the receiver got: each event once (two senders), the refused first
# POST again, the token and the signature on every request.
summary=$(python3 - "$TMP/hook/requests.jsonl" "127.0.0.1:$PORT" <<'PY'
import collections, json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
ok = [r for r in reqs if r["status"] == 200]
events = collections.Counter(r["event"] for r in ok)
print("open", events["breaker_open"], "close", events["breaker_close"],
      "deadline", events["deadline_missed"], "refused", len(reqs) - len(ok),
      "unique", len({r["delivery"] for r in ok}) == len(ok))
print("auth", all(r["auth"] == "Bearer tok-Secret-77" for r in reqs),
      "signed", all(r["signed"] for r in reqs),
      "json", all(r["content_type"] == "application/json" and r["body"] for r in reqs))
o = [r["body"] for r in ok if r["event"] == "breaker_open"][0]
c = [r["body"] for r in ok if r["event"] == "breaker_close"][0]
print("outage", o["outage"]["target"] == sys.argv[2], "maintenance page" in o["outage"]["trigger"],
      o["outage"]["ended_at"] is None, c["outage"]["id"] == o["outage"]["id"],
      c["outage"]["ended_at"] is not None)
d = [r["body"] for r in ok if r["event"] == "deadline_missed"][0]
print("missed", d["count"], d["tasks"][0]["script"], d["tasks"][0]["why"],
      d["tasks"][0]["outage"] == sys.argv[2])
PY
)
contains "$summary" "open 1 close 1 deadline 1 refused 1 unique True" "one open, one close, one missed deadline; the refused one retried once"
contains "$summary" "auth True signed True json True" "bearer token, HMAC signature, JSON on every request"
contains "$summary" "outage True True True True True" "open and close carry the outage row"
contains "$summary" "missed 1 cms outage True" "the missed deadline, put down to the outage"

# Every attempt on record: the refused POST's row was tried twice.
expect_exit 0 "$DRUDGE" --json notify log
equals "$(python3 -c '
import json, sys
n = json.loads(sys.argv[1])["notifications"]
hook = [r for r in n if r["channel"] == 1]
retried = [r for r in hook if r["attempts"] == 2]
print(len(hook), all(r["state"] == "sent" for r in n), len(retried),
      retried[0]["last_error"] if retried else "")' "$out")" \
  "3 True 1 HTTP 500: receiver busy, try later" "notify log: three to the webhook, all sent, one after a 500"
expect_exit 0 "$DRUDGE" notify log
contains "$out" "breaker_open" "notify log: text"
contains "$out" "sent" "notify log: state"

if [ "$mail" = 1 ]; then
  mails() { [ "$(ls inbox/*.eml 2>/dev/null | wc -l)" -ge "$1" ]; }
  wait_until 60 mails 2 || true
  equals "$(ls inbox/*.eml | wc -l)" "2" "two mails: the opening and the closing"
  equals "$(grep -l "^Subject: \[drudge\] target 127.0.0.1:$PORT is down" inbox/*.eml | wc -l)" "1" "the opening's mail"
  equals "$(grep -l "^Subject: \[drudge\] target 127.0.0.1:$PORT is back" inbox/*.eml | wc -l)" "1" "the closing's mail"
  contains "$(cat inbox/*.env)" "rcpt ops@example.org" "to the channel's address"
fi

# ---- dead tasks pile up: one notice once the threshold (2) is reached ----
cat >boom.lua <<'LUA'
return { name = "boom", max_attempts = 1, run = function() error("the case system said no") end }
LUA
expect_exit 0 "$DRUDGE" enqueue boom.lua --input 1
expect_exit 0 "$DRUDGE" work --until-empty
expect_exit 0 "$DRUDGE" enqueue boom.lua --input 2
expect_exit 0 "$DRUDGE" enqueue boom.lua --input 3
expect_exit 0 "$DRUDGE" work --until-empty
equals "$(sql "SELECT count(*) FROM tasks WHERE state = 'dead'")" "3" "three dead tasks"
equals "$(python3 -c '
import json, sys
d = [json.loads(l) for l in open(sys.argv[1])]
d = [r["body"] for r in d if r["event"] == "dead_tasks" and r["status"] == 200]
print(len(d), d[0]["script"], d[0]["count"] if d else "")' "$TMP/hook/requests.jsonl")" \
  "1 boom 3" "one notice for the dead tasks of boom (3 since the channel was added)"
expect_exit 0 "$DRUDGE" enqueue boom.lua --input 4
expect_exit 0 "$DRUDGE" work --until-empty
equals "$(grep -c '"dead_tasks"' hook/requests.jsonl)" "1" "one more dead task: below the threshold, no notice"

# ---- test, remove, and what the chain and the tables keep ----
expect_exit 0 "$DRUDGE" notify test 1
contains "$out" "channel #1: test notification" "notify test sends"
equals "$(grep -c '"X-Drudge-Event": "test"\|"event": "test"' hook/requests.jsonl)" "1" "the receiver got the test"
expect_exit 1 "$DRUDGE" notify test 99
contains "$err" "no notification channel #99" "testing a channel that is not there"
if [ "$mail" = 1 ]; then
  expect_exit 0 "$DRUDGE" notify remove 2
  equals "$(sql "SELECT count(*) FROM steps WHERE kind = 'operator' AND name = 'notify remove'")" "1" "removal on the chain"
fi
equals "$(sql "SELECT count(*) FROM steps WHERE kind = 'operator' AND name = 'notify add'")" "$((1 + mail))" "additions on the chain"
expect_exit 0 "$DRUDGE" audit verify
expect_exit 0 "$DRUDGE" metrics
contains "$out" "drudge_notifications_total{outcome=\"sent\"} $((5 + 2 * mail))" "metrics: notifications sent"
contains "$out" "drudge_notifications_total{outcome=\"failed\"} 0" "metrics: none given up"
equals "$(sql "SELECT count(*) FROM notify_outbox WHERE payload LIKE '%$TOKEN%'
               OR last_error LIKE '%$TOKEN%'") $(sql "SELECT count(*) FROM steps
               WHERE request LIKE '%$TOKEN%' OR response LIKE '%$TOKEN%'")" "0 0" "the token is in no row"
if ! on_pg; then
  equals "$(cat "$DRUDGE_DB" "$DRUDGE_DB"-wal 2>/dev/null | grep -c -a -F -- "$TOKEN" || true)" "0" "the token is nowhere in the database file"
fi

finish
