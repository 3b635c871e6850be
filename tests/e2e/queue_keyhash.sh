#!/usr/bin/env bash
# Bulk loads without a key (issue 22): --key-hash keys each row by the
# SHA-256 of its content, so loading a file twice queues nothing new;
# duplicate rows within a file are named by line (the first five, then a
# count); a terminal is warned that a load without keys queues its rows
# again, a pipe is not.
source "$TESTS/lib.sh"

cat >noop.lua <<'LUA'
return { name = "noop", run = function(task) return {} end }
LUA
{ echo "ref,amount"; for i in 1 2 3; do echo "R$i,$i"; done; for i in $(seq 7); do echo "R1,1"; done; } >rows.csv
expect_exit 0 "$DRUDGE" enqueue noop.lua --from rows.csv --key-hash
contains "$out" "enqueued 3 tasks of noop from rows.csv: 7 duplicates skipped, 0 rejected" "duplicates within the file skipped"
contains "$out" "7 duplicate keys within rows.csv: line 5 repeats line 2, line 6 repeats line 2, line 7 repeats line 2, line 8 repeats line 2, line 9 repeats line 2 and 2 more" "the first five named, then a count"
want=$(printf '%s' '{"ref":"R2","amount":"2"}' | sha256sum | cut -d' ' -f1)
equals "$(sql "select key from tasks where input = '{\"ref\":\"R2\",\"amount\":\"2\"}'")" "sha256:$want" "the key is the SHA-256 of the row's content"
expect_exit 0 "$DRUDGE" --json enqueue noop.lua --from rows.csv --key-hash
contains "$out" '"enqueued":0,"duplicates":10,"duplicates_in_file":7,"duplicate_lines":[{"line":5,"repeats":2},' "loading again queues nothing"
equals "$(sql "select count(*) from tasks")" "3" "three tasks"

# JSONL: spacing does not change the key
printf '{"a": 1, "b": "x y"}\n{"a":1,"b":"x y"}\n' >rows.jsonl
expect_exit 0 "$DRUDGE" enqueue noop.lua --from rows.jsonl --key-hash
contains "$out" "enqueued 1 task of noop from rows.jsonl: 1 duplicate skipped" "spacing ignored"
contains "$out" "line 2 repeats line 1" "named"

# bad combinations
expect_exit 2 "$DRUDGE" enqueue noop.lua --from rows.csv --key-hash --key-field ref
contains "$err" "--key-field or --key-hash, not both" "both"
expect_exit 2 "$DRUDGE" enqueue noop.lua --key-hash
contains "$err" "go with --from" "without --from"

# Without keys: a terminal is warned, a pipe is not.
expect_exit 0 "$DRUDGE" enqueue noop.lua --from rows.csv
equals "$err" "" "no warning into a pipe"
if command -v script >/dev/null; then
  script -qec "$DRUDGE --db '$DRUDGE_DB' enqueue noop.lua --from rows.csv" /dev/null >tty.out 2>&1 || true
  contains "$(cat tty.out)" "warning: the rows of rows.csv have no key, so loading it again queues them all again" "a terminal is warned"
fi
finish
