# mail.send through a real SMTP server (aiosmtpd): what arrives, envelope
# and headers, attachments with non-ASCII names, and what is recorded.
source "$TESTS/lib.sh"
source "$TESTS/data/mail/servers.sh"
trap stop_servers EXIT
D="$TESTS/data/mail"
mkdir -p "$TMP/files"

start_smtp "$TMP/inbox"
expect_exit 0 "$DRUDGE" --files "$TMP/files" run -q "$D/send.lua" --input "{\"smtp\":\"smtp://127.0.0.1:$SMTP_PORT\"}"
contains "$out" '"message_id":"' "returns the Message-ID"
mid=$(echo "$out" | sed -n 's/.*"message_id":"\([^"]*\)".*/\1/p')
equals "$(cat "$TMP/inbox/001.env")" "from robot@example.fr
rcpt zoe@example.org
rcpt clerk@example.fr
rcpt jane@example.org
rcpt audit@example.fr" "envelope: sender and every recipient, bcc included"

# Read what arrived with Python's email package, an independent parser.
got=$(/usr/bin/python3 - "$TMP/inbox/001.eml" <<'PY'
import sys, email, email.policy
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.default)
print("subject:", m["subject"])
print("from:", m["from"])
print("to:", m["to"])
print("cc:", m["cc"])
print("bcc:", m["bcc"])
print("message-id:", m["message-id"])
print("type:", m.get_content_type())
print("text:", m.get_body(("plain",)).get_content().replace("\n", "|"))
print("html:", m.get_body(("html",)).get_content().strip())
for a in m.iter_attachments():
    print("attachment:", a.get_filename(), a.get_content_type(), a.get_payload(decode=True))
PY
)
contains "$got" "subject: Récépissé – dossier n° 118" "subject arrives decoded"
contains "$got" "from: Robot Drudge <robot@example.fr>" "from"
contains "$got" "to: Zoë Müller <zoe@example.org>, clerk@example.fr" "to with a non-ASCII name"
contains "$got" "cc: jane@example.org" "cc"
contains "$got" "bcc: None" "bcc not in the headers"
contains "$got" "message-id: <$mid>" "Message-ID header matches the returned one"
contains "$got" "type: multipart/mixed" "multipart/mixed"
contains "$got" "text: Bonjour,|.|Le dossier est enregistré.|" "text body, a lone dot survives"
contains "$got" "html: <p>Bonjour,</p><p>Le dossier est enregistré.</p>" "html alternative"
contains "$got" "attachment: Procès-verbal n° 118.txt text/plain b'PV 118\\n'" "attachment from data, name decoded"
contains "$got" "attachment: scan.pdf application/pdf b'%PDF-1.4\\n% scanned\\n'" "attachment from a file, type from its name"

# Recorded: the envelope and subject, the built message as a payload.
req=$(sql "select request from steps where kind = 'mail'")
contains "$req" '"bcc":["audit@example.fr"]' "recipients recorded"
contains "$req" '"attachments":[{"filename":"Procès-verbal n° 118.txt","size":7},{"filename":"scan.pdf","size":19}]' "attachments recorded by name and size"
sha=$(sql "select json_extract(response, '$.message') from steps where kind = 'mail'")
equals "$(sql "select content_type from payloads where sha256 = '$sha'")" "message/rfc822" "sent message kept"

# With user= and password=, libcurl authenticates when the server offers
# AUTH (aiosmtpd here does not, so the message goes through); either way
# the password is never recorded.
export DRUDGE_SECRET_SMTP_PASSWORD="smtp-Secret-42"
expect_exit 0 "$DRUDGE" --files "$TMP/files" run -q "$D/send.lua" \
  --input "{\"smtp\":\"smtp://127.0.0.1:$SMTP_PORT\",\"user\":\"robot\"}"
contains "$(sql "select request from steps where kind = 'mail' order by id desc limit 1")" '"user":"robot"' "SMTP user recorded"
equals "$(cat "$DRUDGE_DB" "$DRUDGE_DB"-wal 2>/dev/null | grep -c -a -F -- "smtp-Secret-42" || true)" "0" "SMTP password never recorded"

# Misuse is an error naming the field; a dead server is a system error.
cat > "$TMP/bad.lua" <<'LUA'
local mail = require "drudge.mail"
return { run = function(task)
  local r = {}
  for _, args in ipairs{
    { smtp = task.input.smtp, from = "robot@example.fr", to = { "not an address" }, text = "x" },
    { smtp = task.input.smtp, from = "robot@example.fr", text = "x" },
    { smtp = task.input.smtp, from = "robot@example.fr", to = "a@example.org" },
    { smtp = "http://127.0.0.1/", from = "robot@example.fr", to = "a@example.org", text = "x" },
    { smtp = task.input.smtp, from = "robot@example.fr", to = "a@example.org", text = "x",
      attachments = { { path = "/etc/passwd" } } },
  } do
    local ok, e = pcall(mail.send, args)
    r[#r + 1] = tostring(e)
  end
  return r
end }
LUA
expect_exit 0 "$DRUDGE" --files "$TMP/files" run -q "$TMP/bad.lua" --input "{\"smtp\":\"smtp://127.0.0.1:$SMTP_PORT\"}"
contains "$out" "to[1]: not a mail address: 'not an address'" "bad recipient"
contains "$out" "no recipient" "no recipient"
contains "$out" "give text=, html= or both" "no body"
contains "$out" "smtp must be smtp://host:port" "bad URL"
contains "$out" "outside the files directory" "attachment path confined"
equals "$(ls "$TMP/inbox" | grep -c '\.eml$')" "2" "nothing else was sent"

# Replay: the recorded Message-ID comes back, nothing is sent.
expect_exit 0 "$BUILD/tests/mail_replay" "$D/send.lua" "{\"smtp\":\"smtp://127.0.0.1:$SMTP_PORT\"}" \
  "$TMP/files" "true"
contains "$out" "divergence: none" "replay of a send follows the recording"
equals "$(ls "$TMP/inbox" | grep -c '\.eml$')" "3" "the replay sent nothing (only the live run did)"
stop_servers
expect_exit 4 "$DRUDGE" --files "$TMP/files" run -q "$D/send.lua" --input "{\"smtp\":\"smtp://127.0.0.1:$SMTP_PORT\"}"
contains "$err" "Couldn't connect to server" "server down"

# A relay that wants AUTH before MAIL FROM: user + secret password log in
# (the server saw the login), a wrong password is refused by name, no
# password at all is refused, and the password is never recorded.
start_smtp_auth "$TMP/authbox"
auth_in="{\"smtp\":\"smtp://127.0.0.1:$SMTP_PORT\",\"user\":\"robot\"}"
expect_exit 0 env DRUDGE_SECRET_SMTP_PASSWORD="$SMTP_PASS" "$DRUDGE" --files "$TMP/files" run -q "$D/send.lua" --input "$auth_in"
equals "$(cat "$TMP/authbox/001.auth" 2>/dev/null)" "robot" "sent after logging in as robot"
expect_exit 4 env DRUDGE_SECRET_SMTP_PASSWORD=wrong-pw "$DRUDGE" --files "$TMP/files" run -q "$D/send.lua" --input "$auth_in"
contains "$err" "login as 'robot' denied" "a wrong password is refused by name"
expect_exit 4 "$DRUDGE" --files "$TMP/files" run -q "$D/send.lua" --input "{\"smtp\":\"smtp://127.0.0.1:$SMTP_PORT\"}"
equals "$(ls "$TMP/authbox" | grep -c '\.eml$')" "1" "only the logged-in send arrived"
equals "$(cat "$DRUDGE_DB" "$DRUDGE_DB"-wal 2>/dev/null | grep -c -a -F -- "$SMTP_PASS" || true)" "0" "password never recorded"
finish
