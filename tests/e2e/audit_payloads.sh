# Payloads: referenced by SHA-256 from chained rows, prunable without breaking
# the chain, never deletable, and checked by audit verify.
source "$TESTS/lib.sh"
FILL="$BUILD/tests/audit_fill"

# 20 attempts of 4 steps: every attempt has one http step with a 2 KiB payload.
expect_exit 0 "$FILL" "$DRUDGE_DB" 20 4 --payloads
equals "$(sql "select count(*) from payloads")" "20" "payloads stored"
expect_exit 0 "$DRUDGE" audit verify
contains "$out" "ok: 80 rows" "chain verifies"
contains "$out" "20 payloads (0 pruned)" "payloads verify"

# The table refuses DELETE and any UPDATE other than a prune.
expect_exit 19 sqlite3 "$DRUDGE_DB" "delete from payloads where rowid = 1"
contains "$err" "never deleted" "delete refused"
expect_exit 19 sqlite3 "$DRUDGE_DB" "update payloads set data = x'00' where rowid = 1"
contains "$err" "can only be pruned" "edit refused"
expect_exit 19 sqlite3 "$DRUDGE_DB" "update payloads set data = null where rowid = 1"
contains "$err" "can only be pruned" "data removed without pruned_at refused"

# Prune: nothing is 90 days old; everything is older than 0 seconds.
expect_exit 0 "$DRUDGE" audit prune --payloads-older-than 90d
contains "$out" "pruned 0 payloads" "nothing old enough"
expect_exit 0 "$DRUDGE" audit prune --payloads-older-than 0s --dry-run
contains "$out" "would prune 20 payloads (0.0 MB)" "dry run counts"
equals "$(sql "select count(*) from payloads where data is not null")" "20" "dry run changes nothing"
expect_exit 2 "$DRUDGE" audit prune --payloads-older-than 90x
contains "$err" "90d, 12w or 36h" "bad age explained"
expect_exit 2 "$DRUDGE" audit prune
contains "$err" "--payloads-older-than" "age required"

sql "pragma wal_checkpoint(truncate)" >/dev/null
cp "$DRUDGE_DB" pristine.db
expect_exit 0 "$DRUDGE" --json audit prune --payloads-older-than 0s
equals "$out" '{"pruned":20,"bytes":40960,"dry_run":false}' "pruned"
# Gone from the files too, checked before another connection can tidy up:
# no payload's bytes are left in the database file or its WAL (freed space
# zeroed, the WAL checkpointed and truncated).
left=$(/usr/bin/python3 - pristine.db "$DRUDGE_DB" <<'PY'
import sqlite3, sys
blobs = [r[0] for r in sqlite3.connect(sys.argv[1]).execute("select data from payloads")]
files = b""
for suffix in ("", "-wal"):
    try:
        files += open(sys.argv[2] + suffix, "rb").read()
    except FileNotFoundError:
        pass
print(sum(1 for b in blobs if b and b in files))
PY
)
equals "$left" "0" "pruned bytes left in the database files"
equals "$(sql "select count(*) from payloads where data is null and pruned_at is not null")" "20" "rows kept, data gone"
expect_exit 0 "$DRUDGE" audit verify
contains "$out" "20 payloads (20 pruned)" "pruned payloads reported as pruned, chain intact"

# The same bytes recorded again after a prune are stored again.
expect_exit 0 "$FILL" "$DRUDGE_DB" 1 4 --payloads
equals "$(sql "select count(*) from payloads where data is not null")" "1" "re-recorded payload restored"
expect_exit 0 "$DRUDGE" audit verify
contains "$out" "20 payloads (19 pruned)" "restored payload verifies"

tamper() {
  rm -f t.db t.db-wal t.db-shm
  cp pristine.db t.db
  sqlite3 t.db "drop trigger payloads_no_delete; drop trigger payloads_prune_only; $1"
}
# Row of the first step referencing payload rowid 5.
sha5=$(sqlite3 pristine.db "select sha256 from payloads where rowid = 5")
row5=$(sqlite3 pristine.db "select id || ' (task ' || task_id || ', attempt ' || attempt || ', seq ' || seq
                            from steps where instr(response, '$sha5') order by id limit 1")

# A payload edited.
tamper "update payloads set data = cast('forged' as blob) where rowid = 5"
expect_exit 6 "$DRUDGE" --db t.db audit verify
contains "$err" "payload ${sha5:0:16}... (referenced by row $row5)" "edited payload and its row named"
contains "$err" "its bytes do not match its hash" "edited payload: why"
expect_exit 0 "$DRUDGE" --db t.db audit verify --no-payloads

# A payload deleted.
tamper "delete from payloads where rowid = 5"
expect_exit 6 "$DRUDGE" --db t.db audit verify
contains "$err" "row ${row5%% *} (task" "row referencing a deleted payload named"
contains "$err" "not in the payloads table" "deleted payload: why"

# Data removed without going through prune.
tamper "update payloads set data = null where rowid = 5"
expect_exit 6 "$DRUDGE" --db t.db audit verify
contains "$err" "not marked pruned" "silent removal caught"

finish
