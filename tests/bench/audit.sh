# The audit trail's cost: per recorded step (recording, redaction, canonical
# encoding, SHA-256, INSERT, in group-commit transactions), the overhead on a
# no-op task run in a Lua host, database growth per 10,000 steps, and verify
# speed. Uses tests/fixtures/audit_fill.c.
set -euo pipefail
cd "$TMP"
FILL="$BUILD/tests/audit_fill"
if [ ! -x "$FILL" ]; then
  cmake --build "$BUILD" --target audit_fill >/dev/null
fi

echo "-- per recorded step (10-step attempts; synchronous=FULL, one fsync per commit)"
for batch in 1 50 500; do
  rm -f fill.db*
  printf 'batch %3d attempts per transaction: ' "$batch"
  n=$((batch == 1 ? 2000 : 20000))
  "$FILL" fill.db "$n" 10 --batch "$batch"
done
rm -f fill.db*
printf 'batch 500, synchronous=NORMAL (no fsync per commit): '
"$FILL" fill.db 20000 10 --batch 500 --sync normal

echo "-- overhead on a task run in a Lua host (batch 50)"
cat > noop.lua <<'EOF'
return { run = function(task) end }
EOF
cat > steps.lua <<'EOF'
return { run = function(task)
  for i = 1, 20 do step("s" .. i, function() log.info("step", i) end) end
end }
EOF
rm -f host.db*
"$FILL" host.db 20000 --script noop.lua
"$FILL" host.db 2000 --script steps.lua

echo "-- database growth per 10,000 recorded steps"
for kind in plain payloads; do
  rm -f grow.db*
  "$FILL" grow.db 1 1 >/dev/null
  sqlite3 grow.db "pragma wal_checkpoint(truncate)" >/dev/null
  before=$(stat -c %s grow.db)
  if [ $kind = plain ]; then "$FILL" grow.db 1000 10 --task-base 10 >/dev/null
  else "$FILL" grow.db 1000 10 --payloads --task-base 10 >/dev/null; fi
  sqlite3 grow.db "pragma wal_checkpoint(truncate)" >/dev/null
  after=$(stat -c %s grow.db)
  avg=$(sqlite3 grow.db "select avg(length(request) + length(coalesce(response, '')) + length(name)) from steps")
  awk -v b="$before" -v a="$after" -v k=$kind -v avg="$avg" 'BEGIN {
    printf "%-8s %.2f MB per 10,000 steps (%.0f bytes per step; request+response+name %.0f bytes)\n",
      k, (a - b) / 1e6, (a - b) / 10000, avg }'
done
echo "   (payloads: every third step carries a distinct 2 KiB body)"

echo "-- verify speed"
rm -f big.db*
"$FILL" big.db 10000 10 --batch 500 >/dev/null
start=$(date +%s%N)
"$DRUDGE" --db big.db audit verify >/dev/null
end=$(date +%s%N)
awk -v ns=$((end - start)) 'BEGIN { printf "audit verify: 100,000 rows in %.2f s (%.2f us per row)\n", ns / 1e9, ns / 1e3 / 100000 }'
rm -rf "$TMP"
