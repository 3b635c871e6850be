# drudge audit evidence on an e-mail robot (issue 25): each fetched message
# is written as its .eml, and each of its attachments as a file of its own
# (names from the MIME parts made safe: no way out of the directory, no
# hidden file, no two files alike), 0600, listed in the manifest with the
# SHA-256 the mail step recorded on the chain. An independent checker
# (Python's email module and hashlib) re-extracts every attachment from its
# .eml and re-hashes every file against the manifest and the export.
source "$TESTS/lib.sh"
source "$TESTS/data/mail/servers.sh"
trap stop_servers EXIT
D="$TESTS/data/mail"
rm -f /tmp/drudge-evil.sh
start_dovecot "$TMP/dovecot"
seed_maildir "$D/attachments.eml" "$D/hostile_names.eml"
export DRUDGE_SECRET_IMAP_PASSWORD="$IMAP_PASS"

cat >intake.lua <<'LUA'
local mail = require "drudge.mail"
return { name = "intake", run = function(task)
  local box <close> = mail.imap{ url = task.input.url, user = "robot",
                                 password = secret "IMAP_PASSWORD" }
  local n = 0
  for _, uid in ipairs(box:search()) do
    n = n + #box:fetch(uid).attachments
  end
  return { attachments = n }
end }
LUA
expect_exit 0 "$DRUDGE" run -q intake.lua --input "{\"url\":\"imap://127.0.0.1:$IMAP_PORT/INBOX\"}"
contains "$out" '"attachments":9' "the robot saw 3 + 6 attachments"

# The chain: each fetch step lists its attachments' hashes (not as payloads).
resp=$(sql "select response from steps where name = 'IMAP FETCH INBOX UID 1'")
contains "$resp" '"attachments":[{"filename":"Procès-verbal n° 118.pdf","content_type":"application/pdf","size":286,"sha256":"' \
  "the fetch step records each attachment's name, type, size and SHA-256"
expect_exit 0 "$DRUDGE" audit verify
contains "$out" "ok" "verify does not look for attachment hashes as payloads"

expect_exit 0 "$DRUDGE" audit evidence 1 --out case
contains "$out" "task #1: 11 files" "2 e-mails and their 9 attachments"
ls -A case > files.txt
s1=$(sql "select seq from steps where name = 'IMAP FETCH INBOX UID 1'")
s2=$(sql "select seq from steps where name = 'IMAP FETCH INBOX UID 2'")
contains "$(cat files.txt)" "1-$s1-attachment-1-Procès-verbal_n°_118.pdf" "a non-ASCII name kept, spaces made _"
contains "$(cat files.txt)" "1-$s1-attachment-2-déposition_témoin.txt" "a name from Content-Type's name="
contains "$(cat files.txt)" "1-$s2-attachment-1-.._.._.._.._tmp_drudge-evil.sh" "a path made one name"
contains "$(cat files.txt)" "1-$s2-attachment-6-unnamed.pdf" "a part without a name"
[ ! -e /tmp/drudge-evil.sh ] && pass || fail "an attachment escaped the directory"
equals "$(find case -mindepth 1 -type d | wc -l)" "0" "no subdirectory made"
equals "$(find case -type f ! -perm 600 | wc -l)" "0" "every file 0600"
equals "$(grep -c '^\.' files.txt)" "0" "no hidden file"

expect_exit 0 "$DRUDGE" audit export --task 1 -o export.jsonl
expect_exit 0 /usr/bin/python3 - case export.jsonl <<'PY'
import email, email.policy, hashlib, json, os, sys
d, export = sys.argv[1], sys.argv[2]
m = json.load(open(os.path.join(d, "manifest.json")))
rows = {r["id"]: r for r in map(json.loads, open(export))}
atts = 0
for f in m["files"]:
    data = open(os.path.join(d, f["file"]), "rb").read()
    assert hashlib.sha256(data).hexdigest() == f["sha256"], f["file"] + ": hash"
    assert len(data) == f["size"], f["file"] + ": size"
    row = rows[f["step_id"]]
    assert f["sha256"] in (row["request"] or "") + (row["response"] or ""), f["file"] + ": not on the chain"
    if f["key"] != "attachment":
        continue
    assert f["recorded"] is True, f["file"]
    # The same bytes as Python's own MIME parser takes out of the .eml, whose
    # hash is the one the chain holds.
    eml = open(os.path.join(d, f["from_file"]), "rb").read()
    assert hashlib.sha256(eml).hexdigest() == f["from_sha256"], f["file"] + ": its .eml"
    msg = email.message_from_bytes(eml, policy=email.policy.default)
    parts = [p for p in msg.walk() if not p.is_multipart() and p.get_content_disposition() in ("attachment", "inline")
             or (not p.is_multipart() and p.get_filename())]
    want = [p.get_payload(decode=True) for p in parts]
    n = int(f["file"].split("-")[3])
    assert want[n - 1] == data, f["file"] + ": not what the message holds"
    atts += 1
extra = set(os.listdir(d)) - {"manifest.json"} - {f["file"] for f in m["files"]}
assert not extra, extra
print(f"ok: {atts} attachments")
PY
contains "$out" "ok: 9 attachments" "every attachment checks against its .eml and the chain"
equals "$(/usr/bin/python3 -c '
import json; m = json.load(open("case/manifest.json"))
print(sorted(f["filename"] for f in m["files"] if f["key"] == "attachment" and "same" in f["filename"]))')" \
  "['same.csv', 'same.csv']" "the original names in the manifest"
finish
