# The code that ran is on record: each script version (the script and the
# modules it requires from its directory) is stored once by SHA-256 when it
# is enqueued or run; the task and each attempt's root name it; `drudge
# scripts` lists versions with their failure rates; `drudge replay` runs the
# stored source, so it works on a copy of the database with the script gone,
# and `--script FILE` replays another version and says so. SQLite and
# PostgreSQL (label pg).
source "$TESTS/lib.sh"
mkdir -p robot/lib
echo 'return { greet = function(n) return "hello " .. n end }' > robot/lib/util.lua
cat > robot/case.lua <<'LUA'
local util = require("lib.util")
return { name = "case", max_attempts = 1, run = function(task)
  if task.input.fail then fail("no such case: " .. task.input.n) end
  return { msg = util.greet(task.input.n) }
end }
LUA
sha() { sha256sum "$1" | cut -c1-64; }
expect_exit 0 "$DRUDGE" -q enqueue robot/case.lua --input '{"n":"A"}'
expect_exit 0 "$DRUDGE" -q enqueue robot/case.lua --input '{"n":"B","fail":true}'
expect_exit 0 "$DRUDGE" -q work --until-empty
v1=$(sql "select script_sha256 from tasks where id = 1")
equals "${#v1}" "64" "the task names its version"
equals "$(sql "select manifest from script_versions where sha256 = '$v1'")" \
  "{\"main\":\"case.lua\",\"files\":{\"case.lua\":\"$(sha robot/case.lua)\",\"lib/util.lua\":\"$(sha robot/lib/util.lua)\"}}" \
  "the manifest lists the script and its module by their SHA-256"
equals "$(printf '%s' "$(sql "select manifest from script_versions where sha256 = '$v1'")" | sha256sum | cut -c1-64)" "$v1" \
  "the version is the SHA-256 of its manifest"
equals "$(sql "select count(*) from script_files")" "2" "each file once"
contains "$(sql "select response from steps where task_id = 1 and seq = 1")" "\"script_version\":\"$v1\"" \
  "the attempt's root names the version that ran"

# A change to the module makes a new version, which fails more.
echo 'return { greet = function(n) error("broken greeting") end }' > robot/lib/util.lua
expect_exit 0 "$DRUDGE" -q enqueue robot/case.lua --input '{"n":"C"}'
expect_exit 0 "$DRUDGE" -q enqueue robot/case.lua --input '{"n":"D"}'
expect_exit 0 "$DRUDGE" -q work --until-empty
v2=$(sql "select script_sha256 from tasks where id = 3")
[ "$v2" != "$v1" ] && pass || fail "a changed module is a new version"
equals "$(sql "select count(*) from script_files")" "3" "the unchanged script file is stored once"
expect_exit 0 "$DRUDGE" scripts
contains "$out" "${v1:0:16}  case" "drudge scripts lists the first version"
contains "$out" "50.0%" "its failure rate"
contains "$out" "${v2:0:16}  case" "and the second"
contains "$out" "100.0%" "which fails every time"
expect_exit 0 "$DRUDGE" --json scripts case
contains "$out" "\"sha256\":\"$v2\",\"script\":\"case\"" "scripts --json"
contains "$out" '"tasks":2,"finished":2,"failed":2,"failure_rate":1.0000' "counts in JSON"
expect_exit 0 "$DRUDGE" show 1
contains "$out" "version      $v1" "drudge show names the version"

# drudge run stores its version too.
expect_exit 3 "$DRUDGE" -q run robot/case.lua --input '{"n":"E","fail":true}'
equals "$(sql "select script_sha256 from tasks where id = 5")" "$v2" "drudge run names its version"

# The database elsewhere, the robot's directory gone: replay runs the stored source.
if on_pg; then
  db="$DRUDGE_DB"
else
  mkdir elsewhere
  sqlite3 "$DRUDGE_DB" ".backup elsewhere/copy.db"
  db="$TMP/elsewhere/copy.db"
fi
rm -rf robot
cd /
expect_exit 0 "$DRUDGE" --db "$db" replay 1
contains "$out" "identical outcome (done)" "task 1 replays with the script file deleted"
contains "$err" "replayed the version that ran, ${v1:0:16}..., from the database" "and says which"
expect_exit 0 "$DRUDGE" --db "$db" replay 3
contains "$out" "identical outcome (error)" "the broken version replays as it ran"
cd "$TMP"
cat > fixed.lua <<'LUA'
return { name = "case", max_attempts = 1, run = function(task) return { msg = "hello " .. task.input.n } end }
LUA
expect_exit 6 "$DRUDGE" --db "$db" replay 3 --script fixed.lua
contains "$out" "DIVERGED" "another version diverges"
contains "$err" "replayed another version of the script" "and replay says it was another version"
contains "$err" "not the one that ran (${v2:0:16}...)" "naming the one that ran"
expect_exit 0 "$DRUDGE" --db "$db" audit verify
finish
