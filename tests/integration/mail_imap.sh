# drudge.mail against a real Dovecot: search, fetch (a peek), move, flags,
# folders, errors naming the UID, what the audit trail keeps (and never the
# password), replay with the server gone, then the same over imaps.
source "$TESTS/lib.sh"
source "$TESTS/data/mail/servers.sh"
trap stop_servers EXIT
D="$TESTS/data/mail"
CORPUS=("$D"/alternative.eml "$D"/attachments.eml "$D"/cp1252.eml "$D"/latin1.eml
  "$D"/no_message_id.eml "$D"/truncated.eml)
mkdir -p "$TMP/files"

start_dovecot "$TMP/dovecot"
seed_maildir "${CORPUS[@]}"
export DRUDGE_SECRET_IMAP_PASSWORD="$IMAP_PASS"
URL="imap://127.0.0.1:$IMAP_PORT/INBOX"

check_tour() { # $1: label
  contains "$out" '"all":[1,2,3,4,5,6]' "$1: search all"
  contains "$out" '"unseen":[1,2,3,4,5,6]' "$1: search unseen since"
  contains "$out" '"by_subject":[2]' "$1: search by non-ASCII subject"
  contains "$out" '"by_from":[2,6]' "$1: search by sender"
  contains "$out" '"by_id":[4]' "$1: search by Message-ID"
  contains "$out" '"subject":"Pièces jointes"' "$1: fetched subject decoded"
  contains "$out" '"att_names":["Procès-verbal n° 118.pdf","déposition témoin.txt","logo.png"]' "$1: attachment names decoded"
  contains "$out" '"unseen_after_fetch":6' "$1: fetch leaves \\Seen alone"
  contains "$out" '"created":true' "$1: create"
  contains "$out" '"created_again":false' "$1: create is idempotent"
  contains "$out" '"folders":["INBOX","Queued"]' "$1: list"
  contains "$out" '"new_uid":1' "$1: move returns the UID in the target folder"
  contains "$out" '"seen":[2]' "$1: flag \\Seen"
  contains "$out" 'message UID 6 in INBOX: malformed message: truncated message' "$1: malformed message names the UID"
  contains "$out" '"truncated_lenient":"truncated message' "$1: lenient fetch"
  contains "$out" 'no message with UID 999 in INBOX' "$1: missing UID"
  contains "$out" '"missing_error2":"mail: no message with UID 998 in INBOX"' "$1: missing UID (mark_seen)"
  contains "$out" '"marked":"Scan 0042"' "$1: fetch with mark_seen"
  contains "$out" '"seen_after":[2,5]' "$1: mark_seen marks \\Seen"
  contains "$out" 'cannot move UID 3 from INBOX to No such folder' "$1: move to a missing folder"
  contains "$out" 'a flag is' "$1: bad flag refused before reaching the server"
  contains "$out" '"left":[2,3,4,5,6]' "$1: moved message left the inbox"
}

expect_exit 0 "$DRUDGE" --files "$TMP/files" run -q "$D/imap_tour.lua" --input "{\"url\":\"$URL\"}"
check_tour plain
# One connection for the session's 23 calls; libcurl drops it after each of
# the 3 refused commands (missing folder, two missing UIDs) and logs in again.
equals "$(grep -c 'imap-login: Info: Login: user=<robot>' "$TMP/dovecot/dovecot.log")" "4" \
  "the connection is reused"
saved="$TMP/files/case-118/Procès-verbal n° 118.pdf"
equals "$(/usr/bin/python3 -c "
import email, sys
m = email.message_from_binary_file(open('$D/attachments.eml', 'rb'))
want = [p for p in m.walk() if p.get_filename()][0].get_payload(decode=True)
print(open(sys.argv[1], 'rb').read() == want)" "$saved")" "True" "saved attachment bytes"
equals "$(stat -c %a "$saved")" "600" "saved attachment mode"
equals "$(find "$MAILDIR/.Queued/cur" "$MAILDIR/.Queued/new" -type f | wc -l)" "1" "message in Queued on disk"

# The audit trail: commands, UIDs, sizes; the raw message as a payload.
equals "$(sql "select count(*) from steps where kind = 'mail'")" "23" "one step per IMAP call"
equals "$(sql "select name from steps where kind = 'mail' order by seq limit 1")" \
  "IMAP LOGIN imap://127.0.0.1:$IMAP_PORT" "login step"
contains "$(sql "select request from steps where name like 'IMAP SEARCH%' order by seq limit 1 offset 2")" \
  'UID SEARCH CHARSET UTF-8 SUBJECT \"Pièces\"' "search command recorded"
contains "$(sql "select response from steps where name = 'IMAP FETCH INBOX UID 2'")" '"size":1290' "fetch size recorded"
sha=$(sql "select json_extract(response, '$.message') from steps where name = 'IMAP FETCH INBOX UID 2'")
equals "$(sql "select content_type || ' ' || length(data) from payloads where sha256 = '$sha'")" \
  "message/rfc822 1290" "raw message kept as a payload"
equals "$(sql "select outcome from steps where name = 'IMAP FETCH INBOX UID 6' order by seq limit 1")" \
  "error" "malformed fetch recorded as an error"
equals "$(cat "$DRUDGE_DB" "$DRUDGE_DB"-wal 2>/dev/null | grep -c -a -F -- "$IMAP_PASS" || true)" "0" "password never recorded"

# A wrong password, a server that is not there, credentials in the URL.
expect_exit 4 env DRUDGE_SECRET_IMAP_PASSWORD=wrong "$DRUDGE" run -q "$D/imap_tour.lua" --input "{\"url\":\"$URL\"}"
contains "$err" "login to imap://127.0.0.1:$IMAP_PORT as 'robot' denied" "login denied"
expect_exit 4 "$DRUDGE" run -q "$D/imap_tour.lua" --input '{"url":"imap://127.0.0.1:1/INBOX"}'
contains "$err" "Couldn't connect to server" "server down"
expect_exit 2 "$DRUDGE" run -q "$D/imap_tour.lua" --input '{"url":"imap://robot:pw@127.0.0.1/INBOX"}'
contains "$err" "not in the URL" "credentials in the URL refused (a configuration error)"
stop_servers

# Replay: run once live, stop Dovecot, run again from the recording.
start_dovecot "$TMP/dovecot2"
seed_maildir "${CORPUS[@]}"
rm -rf "$TMP/files/case-118"
expect_exit 0 "$BUILD/tests/mail_replay" "$D/imap_tour.lua" \
  "{\"url\":\"imap://127.0.0.1:$IMAP_PORT/INBOX\"}" "$TMP/files" \
  "kill -KILL -- -$DOVECOT_PID"
contains "$out" "divergence: none" "replay follows the recording"
contains "$out" 'replay: done {' "replay done without the server"
stop_servers

# imaps with a self-signed certificate: refused unless trusted through ca_file.
start_dovecot "$TMP/dovecot3" tls
seed_maildir "${CORPUS[@]}"
URL="imaps://127.0.0.1:$IMAP_PORT/INBOX"
expect_exit 4 "$DRUDGE" run -q "$D/imap_tour.lua" --input "{\"url\":\"$URL\"}"
contains "$err" "certificate" "untrusted certificate refused"
rm -rf "$TMP/files/case-118"
expect_exit 0 "$DRUDGE" --files "$TMP/files" run -q "$D/imap_tour.lua" \
  --input "{\"url\":\"$URL\",\"ca_file\":\"$IMAP_CA\"}"
check_tour imaps
finish
