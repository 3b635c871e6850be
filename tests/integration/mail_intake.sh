# End to end: the email_intake dispatcher on a Dovecot inbox of 50 messages
# (two without a Message-ID) plus a truncated one, run twice, with two
# messages put back in the inbox in between as if the first run had died
# before moving them: exactly one email_to_case task per message, the broken
# one set aside in "Rejected", an empty inbox.
source "$TESTS/lib.sh"
source "$TESTS/data/mail/servers.sh"
trap stop_servers EXIT
EX="$SRC/scripts/examples"

rm -rf "$DRUDGE_DB"*

mkdir -p "$TMP/msgs"
/usr/bin/python3 - "$TMP/msgs" <<'PY'
import sys, os
d = sys.argv[1]
for i in range(1, 51):
    mid = "" if i in (17, 33) else "Message-ID: <intake-%02d@example.org>\r\n" % i
    subj = "=?UTF-8?Q?Proc=C3=A8s-verbal_dossier_n=C2=B0?= 2026/%d" % (100 + i) if i % 5 == 0 \
        else "Dossier 2026/%d" % (100 + i)
    body = ("From: station%d@example.org\r\nTo: intake@example.fr\r\nSubject: %s\r\n"
            "Date: Mon, 23 Nov 2026 10:%02d:00 +0100\r\n%sMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\nMessage %d.\r\n") % (i, subj, i, mid, i)
    open(os.path.join(d, "m%02d.eml" % i), "w", newline="").write(body)
PY
start_dovecot "$TMP/dovecot"
seed_maildir "$TMP"/msgs/*.eml "$TESTS/data/mail/truncated.eml"
export DRUDGE_SECRET_IMAP_PASSWORD="$IMAP_PASS"
INPUT="{\"url\":\"imap://127.0.0.1:$IMAP_PORT/INBOX\",\"user\":\"robot\"}"

expect_exit 0 "$DRUDGE" run -q "$EX/email_intake.lua" --input "$INPUT"
contains "$out" '"queued":50' "first poll queues every message"
contains "$out" '"rejected":1' "the truncated message is rejected"
equals "$(find "$MAILDIR/.Rejected" -path '*/cur/*' -o -path '*/new/*' -type f | wc -l)" "1" "kept in Rejected"
equals "$(sql "select count(*) from tasks where script = 'email_to_case'")" "50" "50 tasks"
equals "$(sql "select count(*) from tasks where script = 'email_to_case' and key like 'sha256:%'")" \
  "2" "messages without Message-ID keyed by the hash of their bytes"
equals "$(sql "select json_extract(input, '$.subject') from tasks where key = 'intake-05@example.org'")" \
  "Procès-verbal dossier n° 2026/105" "task input carries the decoded subject"

# As if the first run had died after queueing two messages but before
# moving them: they are back in the inbox (same bytes, same keys).
cp "$TMP/msgs/m07.eml" "$TMP/msgs/m17.eml" "$TMP/"
seed_maildir "$TMP/m07.eml" "$TMP/m17.eml"
expect_exit 0 "$DRUDGE" run -q "$EX/email_intake.lua" --input "$INPUT"
contains "$out" '"queued":0' "second poll queues nothing new"
contains "$out" '"duplicates":2' "the two re-polled messages are known"
equals "$(sql "select count(*) from tasks where script = 'email_to_case'")" "50" "still exactly 50 tasks"
equals "$(sql "select count(distinct key) from tasks where script = 'email_to_case'")" "50" "one task per key"
equals "$(find "$MAILDIR/cur" "$MAILDIR/new" -type f | wc -l)" "0" "the inbox is empty"
equals "$(find "$MAILDIR/.Queued" -path '*/cur/*' -o -path '*/new/*' -type f | wc -l)" "52" "every message kept in Queued"
equals "$(sql "select count(*) from steps where kind = 'queue'")" "52" "each enqueue recorded"

# The performers: two workers file every message and move it to Processed.
mkdir -p "$TMP/files"
expect_exit 0 "$DRUDGE" --files "$TMP/files" work -q -j 2 --until-empty --script email_to_case
equals "$(sql "select state, count(*) from tasks where script = 'email_to_case' group by state")" \
  "done|50" "every task done"
equals "$(sql "select json_extract(output, '$.case') from tasks where key = 'intake-05@example.org'")" \
  "2026-105" "case reference from the subject"
equals "$(find "$MAILDIR/.Processed" -path '*/cur/*' -o -path '*/new/*' -type f | wc -l)" "50" "each message filed once"
equals "$(cat "$DRUDGE_DB" "$DRUDGE_DB"-wal 2>/dev/null | grep -c -a -F -- "$IMAP_PASS" || true)" "0" "password never recorded"
finish
