# Mail calls name their server as their target (issue #20): host:port.
# With the SMTP server down (nothing listens), the breaker of
# 127.0.0.1:PORT opens after --breaker-errors refused connections, no task
# goes dead, and when aiosmtpd comes up on that port the probe closes it and
# every message goes out. An IMAP login to a down server opens the breaker
# of its host:port the same way.
source "$TESTS/lib.sh"
source "$TESTS/data/mail/servers.sh"
trap stop_servers EXIT
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || { echo "aiosmtpd not installed" >&2; exit 77; }

PORT=$(free_port)
cat >mailer.lua <<'LUA'
local mail = require "drudge.mail"
return { name = "mailer", run = function(task)
  local id = mail.send{ smtp = task.input.smtp, from = "robot@example.fr",
    to = "ops@example.org", subject = "case " .. task.input.n, text = "filed\n" }
  return { id = id }
end }
LUA
for i in 1 2 3 4 5 6; do
  expect_exit 0 "$DRUDGE" enqueue mailer.lua --input "{\"smtp\":\"smtp://127.0.0.1:$PORT\",\"n\":$i}"
done
"$DRUDGE" work --until-empty --breaker-errors 3 --breaker-probe 1s --breaker-probe-max 1s \
  --backoff-base 1s >work.out 2>&1 &
wpid=$!
wait_long() { for _ in $(seq 600); do [ "$(sql "$1")" = "$2" ] && return 0; sleep 0.1; done; return 1; }
wait_long "SELECT target FROM breakers" "127.0.0.1:$PORT" ||
  fail "no breaker opened for 127.0.0.1:$PORT: $(cat work.out)"
equals "$(sql "SELECT script FROM script_targets WHERE target = '127.0.0.1:$PORT'")" "mailer" \
  "the script's target is learned from its mail calls"
equals "$(sql "SELECT count(*) FROM tasks WHERE state = 'dead'")" "0" "none dead while it is down"

# The server comes up on that port: the next probe gets through.
free_port() { echo "$PORT"; }
start_smtp "$TMP/inbox"
wstatus=0
wait "$wpid" || wstatus=$?
equals "$wstatus" "0" "work ends once the server is back"
equals "$(sql "SELECT state, count(*) FROM tasks GROUP BY state")" "done|6" "every task done"
equals "$(ls "$TMP/inbox"/*.eml | wc -l)" "6" "six messages arrived"
equals "$(sql "SELECT count(*) FROM outages WHERE target = '127.0.0.1:$PORT' AND ended_at IS NOT NULL")" \
  "1" "one outage, ended"
contains "$(cat work.out)" "target 127.0.0.1:$PORT is down" "work says the server is down"

# IMAP: a login to a server that is down opens its breaker too.
IPORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >reader.lua <<LUA
local mail = require "drudge.mail"
return { name = "reader", run = function(task)
  local box <close> = mail.imap{ url = "imap://127.0.0.1:$IPORT/INBOX", user = "robot",
    password = "x" }
  return box:search("ALL")
end }
LUA
for i in 1 2 3; do expect_exit 0 "$DRUDGE" enqueue reader.lua --input "$i"; done
timeout 60 "$DRUDGE" work --breaker-errors 2 --breaker-probe 1h >work2.out 2>&1 &
w2=$!
wait_long "SELECT target FROM breakers WHERE target = '127.0.0.1:$IPORT'" "127.0.0.1:$IPORT" ||
  fail "no breaker opened for the IMAP server: $(cat work2.out)"
kill -TERM "$w2" 2>/dev/null || true
wait "$w2" || true
equals "$(sql "SELECT count(*) FROM tasks WHERE script = 'reader' AND state = 'dead'")" "0" \
  "IMAP: none dead"

finish
