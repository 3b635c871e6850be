# drudge schedule: add, list (with next fire times), next, pause, resume, rm;
# invalid expressions, zones, windows and scripts are refused naming what.
source "$TESTS/lib.sh"

cat >"$TMP/nightly.lua" <<'LUA'
return { manual_minutes = 3, window = "Sat,Sun", run = function(task) return task.input end }
LUA

expect_exit 0 "$DRUDGE" schedule add nightly --cron "0 19 * * mon-fri" "$TMP/nightly.lua" \
  --tz Europe/London --window "Mon-Fri 18:00-07:30" --input '{"batch":"evening"}' --catch-up all
contains "$out" "schedule nightly added: nightly every \"0 19 * * mon-fri\" in Europe/London, next 20" "add says next"
expect_exit 0 "$DRUDGE" schedule add hourly --cron @hourly "$TMP/nightly.lua"
equals "$(sql "select name, cron, tz, script, catch_up, \"window\", input, paused from schedules order by name")" \
  "hourly|@hourly||nightly|latest|||0
nightly|0 19 * * mon-fri|Europe/London|nightly|all|Mon-Fri 18:00-07:30 Europe/London|{\"batch\":\"evening\"}|0" "rows"
equals "$(sql "select script_path from schedules where name = 'hourly'")" "$TMP/nightly.lua" "absolute script path"

expect_exit 0 "$DRUDGE" schedule list
contains "$out" "nightly          nightly          0 19 * * mon-fri Europe/London" "list row"
contains "$out" "window Mon-Fri 18:00-07:30 Europe/London" "list shows the window"
contains "$out" "(in " "list shows time to next fire"

# --json: one object per schedule, next fire in the schedule's zone, parsed back.
expect_exit 0 "$DRUDGE" --json schedule list
echo "$out" >"$TMP/list.json"
/usr/bin/python3 - "$TMP/list.json" <<'PY' || fail "schedule list --json content"
import json, sys, datetime
rows = json.load(open(sys.argv[1]))
assert [r["name"] for r in rows] == ["hourly", "nightly"], rows
n = rows[1]
assert n["tz"] == "Europe/London" and n["zone"] == "Europe/London"
assert n["input"] == {"batch": "evening"} and n["catch_up"] == "all" and n["paused"] is False
nxt = datetime.datetime.fromisoformat(n["next"])
assert nxt.hour == 19 and nxt.minute == 0 and nxt.weekday() < 5, nxt
assert nxt.timestamp() * 1e6 == n["next_us"]
assert nxt > datetime.datetime.now(datetime.timezone.utc)
h = rows[0]
assert h["tz"] is None and h["zone"], h
assert datetime.datetime.fromisoformat(h["next"]).minute == 0
PY
pass

# next: the fire times of a schedule or an expression; DST in London.
expect_exit 0 "$DRUDGE" schedule next nightly -n 3
equals "$(echo "$out" | wc -l)" "3" "next -n 3"
contains "$out" "T19:00:00+0" "next in the schedule's zone"
expect_exit 0 "$DRUDGE" --json schedule next --cron "0 12 29 2 *" --tz UTC -n 2
contains "$out" "-02-29T12:00:00+00:00" "leap day"

# pause / resume / rm.
expect_exit 0 "$DRUDGE" schedule pause hourly
contains "$out" "schedule hourly paused" "pause"
expect_exit 0 "$DRUDGE" schedule list
contains "$out" "paused" "list shows paused"
equals "$(sql "select paused from schedules where name = 'hourly'")" "1" "paused row"
expect_exit 0 "$DRUDGE" schedule resume hourly
equals "$(sql "select paused from schedules where name = 'hourly'")" "0" "resumed row"
expect_exit 1 "$DRUDGE" schedule pause nope
contains "$err" "no schedule named 'nope'" "pause unknown"
expect_exit 0 "$DRUDGE" schedule rm hourly
expect_exit 1 "$DRUDGE" schedule rm hourly
contains "$err" "no schedule named 'hourly'" "rm twice"

# Refusals name the field and the reason.
expect_exit 2 "$DRUDGE" schedule add x --cron "0 25 * * *" "$TMP/nightly.lua"
contains "$err" "hour: 25 is out of range 0-23" "bad hour"
expect_exit 2 "$DRUDGE" schedule add x --cron "0 9 * * fry" "$TMP/nightly.lua"
contains "$err" "day-of-week: bad value in \"fry\"" "bad weekday name"
expect_exit 2 "$DRUDGE" schedule add x --cron "0 9 * *" "$TMP/nightly.lua"
contains "$err" "expected 5 fields" "four fields"
expect_exit 2 "$DRUDGE" schedule add x --cron "0 0 31 feb *" "$TMP/nightly.lua"
contains "$err" "never fires" "31 February"
expect_exit 2 "$DRUDGE" schedule add x --cron @daily "$TMP/nightly.lua" --tz Europe/Lundon
contains "$err" "unknown time zone 'Europe/Lundon'" "bad zone"
expect_exit 2 "$DRUDGE" schedule add x --cron @daily "$TMP/nightly.lua" --window "Mon-Fri 18:00"
contains "$err" "bad time range '18:00'" "bad window"
expect_exit 2 "$DRUDGE" schedule add x --cron @daily "$TMP/nightly.lua" --catch-up some
contains "$err" "catch-up 'some': use none, latest or all" "bad catch-up"
expect_exit 2 "$DRUDGE" schedule add "bad name" --cron @daily "$TMP/nightly.lua"
contains "$err" "schedule name 'bad name'" "bad name"
expect_exit 1 "$DRUDGE" schedule add x --cron @daily "$TMP/missing.lua"
contains "$err" "missing.lua" "missing script"
expect_exit 2 "$DRUDGE" schedule add x "$TMP/nightly.lua"
contains "$err" "add needs --cron EXPR" "no cron"
expect_exit 1 "$DRUDGE" schedule add nightly --cron @daily "$TMP/nightly.lua"
contains "$err" "schedule 'nightly' already exists" "duplicate"
expect_exit 2 "$DRUDGE" schedule frob
contains "$err" "unknown subcommand 'frob'" "unknown subcommand"
expect_exit 0 "$DRUDGE" help schedule
contains "$out" "--catch-up MODE" "help"
equals "$(sql "select count(*) from schedules")" "1" "refused schedules were not added"

# SCRIPT may be the name of a script queued before, as for enqueue: the
# database knows its file, which is loaded (and checked) now.
expect_exit 1 "$DRUDGE" schedule add byname --cron @daily case_sync
contains "$err" "unknown script 'case_sync': no such file, and no script of that name was queued before" "unknown name"
expect_exit 0 "$DRUDGE" enqueue "$TMP/nightly.lua" --at +1d -q
expect_exit 0 "$DRUDGE" schedule add byname --cron @daily nightly
contains "$out" "schedule byname added: nightly every \"@daily\"" "added by name"
equals "$(sql "select script || ' ' || script_path from schedules where name = 'byname'")" "nightly $TMP/nightly.lua" "by name: the script's file"
mv "$TMP/nightly.lua" "$TMP/gone.lua"
expect_exit 1 "$DRUDGE" schedule add byname2 --cron @daily nightly
contains "$err" "nightly.lua" "a known name whose file is gone is refused, naming the file"

finish
