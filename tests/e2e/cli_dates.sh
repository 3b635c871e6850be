#!/usr/bin/env bash
# One time parser for every command (issue 24): impossible calendar dates
# are refused with exit 2 and a message naming the flag and the value, by
# enqueue --at, audit export --since/--until, report --since/--until and a
# script's queue.enqueue{at = ...}; real dates (leap days of leap years,
# 30 April, the last second of a day) are taken, and nothing is queued by a
# refused command.
source "$TESTS/lib.sh"
cat >ok.lua <<'LUA'
return { name = "ok", run = function(task) return true end }
LUA
cat >enq.lua <<'LUA'
return { name = "enq", run = function(task)
  return require("drudge.queue").enqueue("ok", task.input, { at = task.input.at })
end }
LUA
"$DRUDGE" -q enqueue ok.lua # the script is known; the database exists

bad=(2026-02-30 2026-04-31 2026-11-31T10:00 2026-02-29 2100-02-29 2026-06-31 2026-13-01
  2026-00-10 2026-01-00 2026-01-01T24:00 2026-01-01T10:60 2026-01-01T10:00:61 2026-1-01
  2026-01-01X 2026-01-01T10:00+25:00 +3x yesterday)
for v in "${bad[@]}"; do
  expect_exit 2 "$DRUDGE" enqueue ok.lua --at "$v"
  contains "$err" "--at '$v':" "enqueue --at $v names the flag and value"
done
contains "$(
  "$DRUDGE" enqueue ok.lua --at 2026-02-30 2>&1
)" "February 2026 has 28 days" "says why"
equals "$(sql "select count(*) from tasks")" 1 "nothing queued by a refused --at"

for v in 2026-02-30 2026-04-31 2026-11-31T10:00 2026-02-29; do
  for flag in --since --until; do
    expect_exit 2 "$DRUDGE" audit export $flag "$v"
    contains "$err" "$flag '$v':" "audit export $flag $v"
    expect_exit 2 "$DRUDGE" report $flag "$v"
    contains "$err" "$flag '$v':" "report $flag $v"
  done
done

good=(2028-02-29 2000-02-29 2026-04-30 2026-12-31T23:59:59 2026-11-23T19:00:00Z 2026-11-23T19:00+01:00
  "2026-11-23 19:00" 2026-11-23T19:00:00.250Z +30m +1d now)
for v in "${good[@]}"; do
  expect_exit 0 "$DRUDGE" -q enqueue ok.lua --at "$v"
done
equals "$(sql "select count(*) from tasks")" $((1 + ${#good[@]})) "every real date queued"
equals "$(sql "select run_at from tasks where id = 6")" 1795460400000000 "2026-11-23T19:00:00Z in microseconds"
expect_exit 0 "$DRUDGE" audit export --since -7d --until 2028-02-29
expect_exit 0 "$DRUDGE" report --since 2026-02-28 --until 2028-02-29 --format json

# The same parser behind queue.enqueue{at = ...} in a script.
expect_exit 4 "$DRUDGE" run enq.lua --input '{"at":"2026-02-30"}'
contains "$err" "option 'at' ('2026-02-30'): no such day: February 2026 has 28 days" "queue.enqueue at"
expect_exit 0 "$DRUDGE" run enq.lua --input '{"at":"2028-02-29T08:00"}'
finish
