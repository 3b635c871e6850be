# drudge.mail: MIME parse speed (mail.parse on the corpus' attachment message),
# and IMAP throughput against a local Dovecot: the email_intake dispatcher on
# an inbox of 500 messages (search, fetch, enqueue, move per message), then
# `box:fetch` alone. Loopback only, so these are drudge's and Dovecot's costs.
set -euo pipefail
cd "$TMP"
TESTS="$SRC/tests"
source "$TESTS/lib.sh"
source "$TESTS/data/mail/servers.sh"
trap 'stop_servers; [ -n "${KEEP:-}" ] || rm -rf "$TMP"' EXIT

mkdir -p files
cp "$TESTS/data/mail/attachments.eml" files/
cat > parse.lua <<'LUA'
local mail = require "drudge.mail"
return { timeout = 600, run = function()
  local raw = io.open("attachments.eml", "rb"):read("a")
  local n, t0 = 5000, os.clock()
  for _ = 1, n do mail.parse(raw) end
  local dt = os.clock() - t0
  return string.format("mail.parse: %d messages of %d bytes (3 attachments) in %.2f s: %.0f/s",
                       n, #raw, dt, n / dt)
end }
LUA
"$DRUDGE" --files "$TMP/files" run -q parse.lua | tr -d '"'

mkdir -p msgs
/usr/bin/python3 - msgs <<'PY'
import sys, os
for i in range(1, 501):
    open(os.path.join(sys.argv[1], "m%03d.eml" % i), "w", newline="").write(
        "From: station@example.org\r\nTo: intake@example.fr\r\nSubject: Dossier 2026/%d\r\n"
        "Message-ID: <bench-%d@example.org>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n"
        % (i, i, "Lorem ipsum dolor sit amet. " * 60))
PY
start_dovecot "$TMP/dovecot"
seed_maildir msgs/*.eml
export DRUDGE_SECRET_IMAP_PASSWORD="$IMAP_PASS"
t0=$(date +%s.%N)
"$DRUDGE" run -q "$SRC/scripts/examples/email_intake.lua" \
  --input "{\"url\":\"imap://127.0.0.1:$IMAP_PORT/INBOX\",\"limit\":1000}" >/dev/null
t1=$(date +%s.%N)
/usr/bin/python3 -c "import sys; dt=float(sys.argv[2])-float(sys.argv[1]); print('email_intake: 500 messages queued and moved in %.2f s: %.0f messages/s' % (dt, 500/dt))" "$t0" "$t1"

cat > fetch.lua <<'LUA'
local mail = require "drudge.mail"
return { timeout = 600, run = function(task)
  local box <close> = mail.imap{ url = task.input.url, user = "robot", password = secret "IMAP_PASSWORD" }
  local uids = box:search()
  for _, uid in ipairs(uids) do box:fetch(uid) end
  return { n = #uids }
end }
LUA
t0=$(date +%s.%N)
"$DRUDGE" run -q fetch.lua --input "{\"url\":\"imap://127.0.0.1:$IMAP_PORT/Queued\"}" >/dev/null
t1=$(date +%s.%N)
/usr/bin/python3 -c "import sys; dt=float(sys.argv[2])-float(sys.argv[1]); print('box:fetch: 500 messages of ~1.9 kB in %.2f s: %.0f/s (one connection, 3 commands each)' % (dt, 500/dt))" "$t0" "$t1"
