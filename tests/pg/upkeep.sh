#!/usr/bin/env bash
# What autovacuum does to drudge's tables while a backlog flows: ANALYZE of
# the big tables (tasks, steps, and ready under a backlog) samples 3,000 rows, not 30,000 (a column
# added without a statistics target would take it back to the default of
# 100); the free text no query filters by keeps no statistics at all; the
# small tables a claim or an outcome changes are vacuumed after a fixed
# number of dead rows. README, "Running on several machines", says why.
source "$TESTS/lib.sh"
cat >noop.lua <<'LUA'
return { name = "noop", run = function(task) return true end }
LUA
# 5,000 tasks through: more rows than a sample of 3,000
awk 'BEGIN { for (i = 0; i < 5000; i++) printf "{\"ref\":\"r%d\"}\n", i }' >batch.jsonl
expect_exit 0 "$DRUDGE" -q enqueue noop.lua --from batch.jsonl --key-field ref
expect_exit 0 "$DRUDGE" -q work -j 2 --until-empty
equals "$(sql "select count(*) from steps")" "5000" "one step a task"
for t in tasks steps ready; do
  equals "$(sql "select string_agg(attname, ' ' order by attnum) from pg_attribute
    where attrelid = '$t'::regclass and attnum > 0 and not attisdropped
    and (attstattarget < 0 or attstattarget > 10)")" "" "$t: every column's statistics target is at most 10"
done
equals "$(sql "select string_agg(attname, ' ' order by attnum) from pg_attribute
  where attrelid = 'tasks'::regclass and attnum > 0 and attstattarget = 0")" \
  "script_path key input output error resolved_note" "tasks: no statistics of free text"
# 5,000 more for tomorrow: ready holds more rows than a sample too (every
# task through the queue changes two of its rows, and a hot table is
# analyzed after 2% of them changed)
cat >later.lua <<'LUA'
return { name = "later", run = function(task) return true end }
LUA
expect_exit 0 "$DRUDGE" -q enqueue later.lua --from batch.jsonl --key-field ref --at +1d
# the sample ANALYZE takes (its VERBOSE report names it)
for t in tasks steps ready; do
  contains "$("$PSQL" -qAtX "$DRUDGE_DB" -c "ANALYZE VERBOSE $t" 2>&1)" \
    "3000 rows in sample" "ANALYZE of $t samples 3,000 rows"
done
for t in ready running leases; do
  contains "$(sql "select array_to_string(reloptions, ',') from pg_class where relname = '$t'")" \
    "autovacuum_vacuum_threshold=5000" "$t: vacuumed after a fixed number of dead rows"
done
finish
