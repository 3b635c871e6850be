# drudge report: every format, grouping and filter on a small database whose
# figures are known (see the comments), read back as a user's tools would.
source "$TESTS/lib.sh"

# Three done tasks of hello.lua (manual_minutes = 1), recorded now.
for n in 1 2 3; do
  expect_exit 0 "$DRUDGE" run -q "$SRC/scripts/examples/hello.lua" --input '{"name":"x"}'
done
# Two finished tasks of 'intake' on 2025-03-03 (UTC): one done (8 min saved,
# one 2 s attempt), one failed (5 min lost); and one queued.
d=1740960000000000 # 2025-03-03T00:00:00Z in µs (a Monday)
sql "INSERT INTO tasks(id,script,script_path,state,run_at,attempts,max_attempts,manual_minutes,
       exception_minutes,created_at,finished_at) VALUES
     (100,'intake','/x.lua','done',0,1,3,8,5,0,$d + 3600000000),
     (101,'intake','/x.lua','failed',0,1,3,8,5,0,$d + 7200000000),
     (102,'intake','/x.lua','queued',0,0,3,8,5,0,NULL);
     INSERT INTO attempts(task_id,n,worker,started_at,ended_at,outcome) VALUES
     (100,1,'w',$d + 3598000000,$d + 3600000000,'done'),
     (101,1,'w',$d + 7199000000,$d + 7200000000,'failed');"

# Table (default: by script), aligned with a total row.
expect_exit 0 "$DRUDGE" report
contains "$out" "hello" "table lists hello"
contains "$out" "intake" "table lists intake"
contains "$out" "(UTC" "table says the time zone"
total=$(grep '^total' <<<"$out")
contains "$total" " 4 " "total done"
header_len=$(sed -n 2p <<<"$out" | wc -L)
total_len=$(wc -L <<<"$total")
equals "$total_len" "$header_len" "table total row aligned with the header"

# JSON: the figures a BI tool reads.
expect_exit 0 "$DRUDGE" report --format json
got=$(/usr/bin/python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
g = {x["group"]: x for x in r["groups"]}
i, t = g["intake"], r["total"]
print(i["done"], i["failed"], i["gross_minutes"], i["lost_minutes"], round(i["net_hours"], 4),
      i["success_rate"], i["robot_seconds"], i["backlog"], t["done"], t["gross_minutes"],
      t["backlog"], r["timezone"])' <<<"$out")
equals "$got" "1 1 8 5 0.05 0.5 3 1 4 11 1 UTC" "json figures for intake and the total"

# --json is the same as --format json.
expect_exit 0 "$DRUDGE" --json report --by month
contains "$out" '"by":"month"' "--json gives json"
contains "$out" '"group":"2025-03"' "month group"

# CSV by day, filtered to March 2025: one day, RFC 4180 line ends.
expect_exit 0 "$DRUDGE" report --by day --since 2025-03-01 --until 2025-03-31 --format csv
first=$(sed -n 1p <<<"$out" | tr -d '\r')
equals "$first" "day,start,done,failed,dead,finished,gross_minutes,lost_minutes,net_hours,success_rate,first_time_right_rate,mean_attempts,robot_seconds,backlog,days_to_clear" "csv header"
row=$(sed -n 2p <<<"$out" | tr -d '\r')
equals "$row" "2025-03-03,2025-03-03,1,1,0,2,8,5,0.05,0.5,0.5,1,3,," "csv day row"
equals "$(wc -l <<<"$out")" "3" "csv: header, one day, total"
contains "$(sed -n 1p <<<"$out" | od -c)" '\r' "csv lines end in CRLF"

# --until with a bare date includes that day; a time is exclusive.
expect_exit 0 "$DRUDGE" report --by day --until 2025-03-03 --format csv
contains "$out" "2025-03-03,2025-03-03,1,1" "bare --until includes the day"
expect_exit 0 "$DRUDGE" report --by day --until 2025-03-03T01:30Z --format csv
contains "$out" "2025-03-03,2025-03-03,1,0,0,1,8,0," "--until a time is exclusive: only the 01:00 task"

# Week groups are ISO weeks; --script filters.
expect_exit 0 "$DRUDGE" report --by week --script intake --format json
contains "$out" '"group":"2025-W10"' "ISO week"
contains "$out" '"script":"intake"' "script named in json"
expect_exit 0 "$DRUDGE" report --script hello --format json
contains "$out" '"total":{"done":3,' "--script hello only"

# --since relative: the hello tasks are from today, intake's are not.
expect_exit 0 "$DRUDGE" report --since -1d --format json
contains "$out" '"total":{"done":3,"failed":0' "--since -1d"

# The minutes in force at enqueue stay with the task: a task enqueued with
# --manual-minutes 7 counts 7, whatever the script says (hello.lua: 1).
expect_exit 0 "$DRUDGE" enqueue "$SRC/scripts/examples/hello.lua" --key override --manual-minutes 7
expect_exit 0 "$DRUDGE" work --until-empty
expect_exit 0 "$DRUDGE" report --script hello --format json
contains "$out" '"total":{"done":4,"failed":0,"dead":0,"finished":4,"gross_minutes":10,' "manual minutes override counted"

# HTML to a file.
expect_exit 0 "$DRUDGE" report --format html -o "$TMP/r.html"
equals "$(stat -c %a "$TMP/r.html")" "600" "report file is private (0600)"
contains "$err" "wrote $TMP/r.html" "says where it wrote"
html=$(cat "$TMP/r.html")
contains "$html" "<svg" "html has the chart"
contains "$html" 'data-group="intake"' "html has the table"
contains "$html" "</html>" "html is complete"
finish
