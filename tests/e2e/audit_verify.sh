# drudge audit verify: every kind of tampering is caught and the row named;
# checkpoints (Ed25519) catch truncation and a chain rewritten as a whole.
# The attacker has write access to the database file: tests drop the
# append-only triggers with sqlite3 first, as such an attacker could.
source "$TESTS/lib.sh"

cat > work.lua <<'EOF'
return {
  run = function(task)
    step("find case", function()
      log.info("looking up " .. task.input.ref)
    end)
    step("file document", function()
      step("upload", function() log.info("uploaded") end)
    end)
    return { ref = task.input.ref }
  end,
}
EOF
for ref in A B C; do
  expect_exit 0 "$DRUDGE" -q run work.lua --input "{\"ref\":\"$ref\"}"
done
rows=$(sql "select count(*) from steps")
equals "$rows" "18" "6 steps per attempt"
expect_exit 0 "$DRUDGE" audit verify
contains "$out" "ok: 18 rows" "intact chain verifies"

# The triggers refuse UPDATE and DELETE on steps and checkpoints.
expect_exit 19 sqlite3 "$DRUDGE_DB" "update steps set name = 'x' where id = 3"
contains "$err" "append-only" "update refused"
expect_exit 19 sqlite3 "$DRUDGE_DB" "delete from steps where id = 18"
contains "$err" "append-only" "delete refused"

sql "pragma wal_checkpoint(truncate)" >/dev/null
cp "$DRUDGE_DB" pristine.db
# tamper SQL: a fresh copy of the pristine database with the triggers dropped, then SQL.
tamper() {
  rm -f t.db t.db-wal t.db-shm
  cp pristine.db t.db
  sqlite3 t.db "drop trigger steps_no_update; drop trigger steps_no_delete;
                drop trigger checkpoints_no_update; drop trigger checkpoints_no_delete;
                drop trigger payloads_no_delete; drop trigger payloads_prune_only; $1"
}
verify_t() { expect_exit "$1" "$DRUDGE" --db t.db audit verify "${@:2}"; }

# 1. A field edited.
tamper "update steps set error = 'all fine' where id = 10"
verify_t 6
contains "$err" "row 10 (task 2, attempt 1, seq 4, step \"file document\")" "edited row named"
contains "$err" "a field was changed" "edited row: why"

# 2. A row deleted.
tamper "delete from steps where id = 12"
verify_t 6
contains "$err" "row 13 (task 3, attempt 1, seq 1): rows 12 to 12 before it are missing" "deleted row named"

# 2b. A row deleted and the ids after it renumbered.
tamper "delete from steps where id = 12; update steps set id = id - 1 where id > 12"
verify_t 6
contains "$err" "row 12 (task 3, attempt 1, seq 1" "renumbered rows: first one named"

# 3. Rows reordered (two rows swap places).
tamper "update steps set id = -1 where id = 16; update steps set id = 16 where id = 17;
        update steps set id = 17 where id = -1"
verify_t 6
contains "$err" "row 16 (task 3, attempt 1, seq 5" "reordered row named"
contains "$err" "rows were reordered" "reordered: why"

# 4. The end of the chain cut off: a whole attempt's rows removed is caught by
# the queue's attempts table ...
tamper "delete from steps where task_id = 3"
verify_t 6
contains "$err" "task 3 attempt 1" "truncated attempt named"
contains "$err" "has no steps in the chain" "truncation: why"
# ... but the last rows of the last attempt are not, without a checkpoint.
tamper "delete from steps where id > 16"
verify_t 0

# Checkpoints.
expect_exit 0 "$DRUDGE" audit keygen audit.key
equals "$(stat -c %a audit.key)" "600" "private key mode"
test -s audit.key.pub && pass || fail "public key written"
expect_exit 1 "$DRUDGE" audit keygen audit.key
contains "$err" "refusing to overwrite" "keygen never overwrites"
expect_exit 2 "$DRUDGE" audit checkpoint
contains "$err" "--key" "checkpoint needs a key"
chmod 644 audit.key
expect_exit 1 "$DRUDGE" audit checkpoint --key audit.key
contains "$err" "readable by others" "world-readable key refused"
chmod 600 audit.key
expect_exit 6 "$DRUDGE" audit verify --pubkey audit.key.pub
contains "$err" "no checkpoints" "--pubkey without checkpoints is not trusted"
expect_exit 0 "$DRUDGE" audit checkpoint --key audit.key
contains "$out" "checkpoint #1: row 18, 18 rows" "checkpoint written"
expect_exit 0 "$DRUDGE" audit checkpoint --key audit.key
contains "$out" "already checkpointed" "unchanged head: nothing written"
equals "$(sql "select count(*) from checkpoints")" "1" "one checkpoint"
expect_exit 0 "$DRUDGE" -q run work.lua --input '{"ref":"D"}'
expect_exit 0 "$DRUDGE" --json audit checkpoint --key audit.key
contains "$out" '"step_id":24' "second checkpoint pins the new head"
expect_exit 0 "$DRUDGE" audit verify --pubkey audit.key.pub
contains "$out" "2 checkpoints signed by audit.key.pub" "checkpoints verify"
contains "$out" "rows 1-24 pinned" "pinned rows"

# An auditor can check a checkpoint's signature with openssl alone.
sql "select printf('drudge-checkpoint-v1%s%s%s%d%s%d%s%d%s', char(10), head_hash, char(10),
       step_id, char(10), row_count, char(10), created_at, char(10)) from checkpoints where id = 2" \
  | head -c -1 > msg.txt
sql "select signature from checkpoints where id = 2" | /usr/bin/python3 -c \
  'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.stdin.read().strip()))' > sig.bin
expect_exit 0 openssl pkeyutl -verify -pubin -inkey audit.key.pub -rawin -in msg.txt -sigfile sig.bin
contains "$out" "Signature Verified Successfully" "openssl verifies the checkpoint"

sql "pragma wal_checkpoint(truncate)" >/dev/null
cp "$DRUDGE_DB" pristine.db

# 5. Truncation below a checkpoint: the checkpoint pins a row that is gone.
tamper "delete from steps where id > 21"
verify_t 6
contains "$err" "checkpoint #2" "truncation: checkpoint named"
contains "$err" "chain ends at row 21: rows 22 to 24 were removed" "truncation: rows named"

# 6. A checkpoint altered.
tamper "update checkpoints set row_count = 99 where id = 1"
verify_t 6
contains "$err" "checkpoint #1 (row 18" "altered checkpoint named"
contains "$err" "signature does not verify" "altered checkpoint: why"

# 7. The whole chain rewritten consistently: every hash recomputed after an
# edit (this also shows the canonical encoding in logs/README.md is complete).
cat > rewrite.py <<'EOF'
import hashlib, json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute(sys.argv[2])
prev = "0" * 64
cols = "id, task_id, attempt, seq, parent, kind, name, request, response, started_at, duration_us, outcome, error"
for r in db.execute(f"select {cols} from steps order by id").fetchall():
    canon = json.dumps(list(r), ensure_ascii=False, separators=(",", ":"))
    prev = hashlib.sha256((prev + canon).encode()).hexdigest()
    db.execute("update steps set hash = ? where id = ?", (prev, r[0]))
db.commit()
EOF
tamper ""
/usr/bin/python3 rewrite.py t.db "update steps set name = 'nothing to see' where id = 9"
verify_t 6
contains "$err" "checkpoint #1 (row 18" "rewrite caught by the first checkpoint"
contains "$err" "rows 1 to 18 were rewritten" "rewrite: rows named"
# ... and a rewrite that also re-signs with the attacker's own key passes a
# verify that trusts the database's keys, but not --pubkey.
tamper "delete from checkpoints"
/usr/bin/python3 rewrite.py t.db "update steps set name = 'nothing to see' where id = 9"
expect_exit 0 "$DRUDGE" audit keygen --key evil.key
test -s evil.key.pub && pass || fail "keygen --key"
expect_exit 0 "$DRUDGE" --db t.db audit checkpoint --key evil.key
verify_t 0
verify_t 6 --pubkey audit.key.pub
contains "$err" "signed by another key" "re-signed rewrite caught by --pubkey"

# Checkpointing refuses to sign a chain that no longer matches the last checkpoint.
tamper ""
expect_exit 0 "$DRUDGE" --db t.db -q run work.lua --input '{"ref":"E"}'
sqlite3 t.db "update steps set outcome = 'error' where id = 27"
expect_exit 6 "$DRUDGE" --db t.db audit checkpoint --key audit.key
contains "$err" "refusing to checkpoint: row 27" "checkpoint refuses a tampered tail"

# JSON report.
verify_t 6 --json
contains "$out" '"ok":false' "json: not ok"
contains "$out" '"problems":["row 27' "json: problem listed"

# The key files are openssl's: it reads drudge's private key (and derives
# the same public key), and drudge signs with a key openssl made (on a
# database of its own, so the figures above stay as they are).
expect_exit 0 openssl pkey -in audit.key -pubout
equals "$out" "$(cat audit.key.pub)" "openssl reads drudge's private key: same public key"
expect_exit 0 openssl genpkey -algorithm ed25519 -out ossl.key
chmod 600 ossl.key
expect_exit 0 openssl pkey -in ossl.key -pubout -out ossl.key.pub
export DRUDGE_DB="$TMP/ossl.db"
expect_exit 0 "$DRUDGE" -q run work.lua --input '{"ref":"E"}'
expect_exit 0 "$DRUDGE" --json audit checkpoint --key ossl.key
contains "$out" '"step_id":6' "a key made by openssl signs a checkpoint"
expect_exit 0 "$DRUDGE" audit verify --pubkey ossl.key.pub
contains "$out" "1 checkpoint signed by ossl.key.pub" "and its public key verifies it"
expect_exit 6 "$DRUDGE" audit verify --pubkey audit.key.pub
printf -- '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VuBCIEIA==\n-----END PRIVATE KEY-----\n' > x25519.key
chmod 600 x25519.key
expect_exit 2 "$DRUDGE" audit checkpoint --key x25519.key
contains "$err" "private key x25519.key: not a PEM Ed25519 private key" "another kind of key: named"

finish
