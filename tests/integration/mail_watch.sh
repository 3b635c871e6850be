# drudge watch-mail (issue 21): an IMAP IDLE intake against a real Dovecot.
# The messages already in the mailbox become tasks at the start; one that
# arrives becomes a task within seconds (IDLE, no polling interval); killed
# with SIGKILL and started again, the watcher doubles nothing and loses
# nothing (a message that came while it was down is queued once); SIGTERM
# ends it cleanly; the robot fetches each message by its UID; a refused
# login, a missing mailbox, a bad URL and a missing secret are clear errors.
source "$TESTS/lib.sh"
source "$TESTS/data/mail/servers.sh"
D="$TESTS/data/mail"
start_dovecot "$TMP/dovecot"
seed_maildir "$D/alternative.eml" "$D/latin1.eml"
export DRUDGE_SECRET_IMAP_PASSWORD="$IMAP_PASS"
URL="imap://127.0.0.1:$IMAP_PORT/INBOX"
pid=
cleanup() { [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; stop_servers; }
trap cleanup EXIT

cat >intake.lua <<'LUA'
local mail = require "drudge.mail"
return { name = "intake", run = function(task)
  local box <close> = mail.imap{ url = task.input.url, user = "robot",
                                 password = secret "IMAP_PASSWORD" }
  local m = box:fetch(task.input.uid)
  box:create("Done")
  box:move(task.input.uid, "Done")
  return { subject = m.subject }
end }
LUA

tasks() { sql "select count(*) from tasks"; }
# wait_tasks N SECONDS: until there are N tasks; prints how long it took (ms).
wait_tasks() {
  local t0=$(date +%s%3N) end=$((SECONDS + $2))
  while [ "$SECONDS" -lt "$end" ]; do
    [ "$(tasks)" -ge "$1" ] && { echo $(($(date +%s%3N) - t0)); return 0; }
    sleep 0.05
  done
  echo "timeout"; return 1
}
watch() { "$DRUDGE" watch-mail "$URL" --script intake.lua --user robot -v 2>>watch.err & pid=$!; }

watch
took=$(wait_tasks 2 60) && pass || fail "the 2 messages in the mailbox were not queued: $(cat watch.err)"
equals "$(sql "select key from tasks order by id" | sed 's/:[0-9]*:\([0-9]*\)$/:V:\1/' | tr '\n' ' ')" \
  "imap:127.0.0.1:$IMAP_PORT/INBOX:V:1 imap:127.0.0.1:$IMAP_PORT/INBOX:V:2 " "keyed by mailbox, UIDVALIDITY and UID"
contains "$(sql "select input from tasks where id = 1")" "{\"url\":\"$URL\",\"mailbox\":\"INBOX\",\"uid\":1,\"uidvalidity\":" "the input names the message"
sleep 1 # the watcher is in IDLE now
seed_maildir "$D/cp1252.eml"
took=$(wait_tasks 3 60) && pass || fail "a new message was not queued within 60 s"
[ "$took" != timeout ] && [ "$took" -lt 5000 ] && pass || fail "queued ${took} ms after it arrived (IDLE: want < 5 s)"
echo "new message queued ${took} ms after delivery"

# Killed and started again: nothing doubled; a message that came meanwhile is queued once.
kill -KILL "$pid"; wait "$pid" 2>/dev/null || true; pid=
seed_maildir "$D/no_message_id.eml"
watch
took=$(wait_tasks 4 60) && pass || fail "the message that came while the watcher was down was not queued"
sleep 2
equals "$(tasks)" "4" "each message exactly one task after a restart"
equals "$(sql "select count(distinct key) from tasks")" "4" "four keys"

# The robot takes each message by its UID and moves it out of the inbox.
expect_exit 0 "$DRUDGE" work --until-empty -q
equals "$(sql "select group_concat(state) from tasks")" "done,done,done,done" "every task done"
contains "$(sql "select output from tasks where id = 3")" '"subject":"' "the robot read the new message"
sleep 1
equals "$(tasks)" "4" "messages moved away make no new tasks"

# SIGTERM: a clean end, exit 0, with what it did.
kill -TERM "$pid"
wait "$pid" && pass || fail "watch-mail did not exit 0 on SIGTERM"
pid=
contains "$(cat watch.err)" "queued before" "the restarted watcher counted what was queued before"
contains "$(cat watch.err)" "watching (IDLE)" "-v says it is idling"

# Errors.
expect_exit 2 env DRUDGE_SECRET_IMAP_PASSWORD=wrong "$DRUDGE" watch-mail "$URL" --script intake.lua --user robot
contains "$err" "login denied" "a refused login ends it"
expect_exit 2 "$DRUDGE" watch-mail "imap://127.0.0.1:$IMAP_PORT/Nope" --script intake.lua --user robot
contains "$err" "SELECT \"Nope\"" "a missing mailbox ends it, named"
expect_exit 2 "$DRUDGE" watch-mail "imap://robot:pw@127.0.0.1:$IMAP_PORT/INBOX" --script intake.lua --user robot
contains "$err" "not imap://HOST" "credentials in the URL refused"
expect_exit 1 env -u DRUDGE_SECRET_IMAP_PASSWORD "$DRUDGE" watch-mail "$URL" --script intake.lua --user robot
contains "$err" "secret 'IMAP_PASSWORD' is not set" "a missing password secret"
expect_exit 2 "$DRUDGE" watch-mail "$URL"
contains "$err" "give --script SCRIPT" "no script"
finish
