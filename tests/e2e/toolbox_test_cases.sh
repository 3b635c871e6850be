# drudge record-case and drudge test: real attempts (an HTTP robot against a
# local server) saved as case files, then the script tested against them
# with the server gone (offline): passing cases, a changed script that fails
# a case (wrong output, a step the case does not have), a hand-edited
# expectation, TAP and JUnit output, and malformed case files named by file
# and field.
source "$TESTS/lib.sh"
port=$(free_port)
/usr/bin/python3 - "$port" >server.log 2>&1 <<'PY' &
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ref = self.path.rsplit("/", 1)[-1]
        code, body = (404, b'{"error":"no such case"}') if ref == "X" else (200, json.dumps({"ref": ref, "court": "Leeds"}).encode())
        self.send_response(code); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
srv=$!
trap 'kill $srv 2>/dev/null || true' EXIT
wait_port "$port"
mkdir robot
cat > robot/lookup.lua <<LUA
local http = require("drudge.http")
return { name = "lookup", max_attempts = 1, run = function(task)
  local r = http.get("http://127.0.0.1:$port/cases/" .. task.input.ref)
  if r.status == 404 then fail("no such case " .. task.input.ref) end
  return { court = r:json().court, ref = task.input.ref }
end }
LUA
expect_exit 0 "$DRUDGE" -q enqueue robot/lookup.lua --input '{"ref":"A-1"}'
expect_exit 0 "$DRUDGE" -q enqueue robot/lookup.lua --input '{"ref":"X"}'
expect_exit 0 "$DRUDGE" -q work --until-empty
equals "$(sql "select state from tasks order by id" | tr '\n' ' ')" "done failed " "the real attempts"
mkdir robot/cases
expect_exit 0 "$DRUDGE" record-case 1 --out robot/cases/found.json
contains "$err" "written to robot/cases/found.json" "record-case says where"
equals "$(stat -c %a robot/cases/found.json)" "600" "a case file is private"
expect_exit 0 "$DRUDGE" record-case 2 --out robot/cases/missing.json
expect_exit 0 /usr/bin/python3 -c '
import json
c = json.load(open("robot/cases/missing.json"))
assert c["format"] == "drudge-case/1" and c["input"] == {"ref": "X"}, c
assert c["expect"] == {"outcome": "failed", "error": "no such case X"}, c["expect"]
assert [s["kind"] for s in c["steps"]] == ["task", "http"], c["steps"]'

# Offline: the server is gone; both cases pass (TAP by default).
kill $srv; wait $srv 2>/dev/null || true
expect_exit 0 "$DRUDGE" test robot/lookup.lua --junit junit.xml
contains "$out" "1..2" "TAP plan"
contains "$out" "ok 1 - task 1 attempt 1" "the found case passes"
contains "$out" "ok 2 - task 2 attempt 1" "the missing case passes"
equals "$(stat -c %a junit.xml)" "600" "JUnit file private"
expect_exit 0 /usr/bin/python3 -c '
import xml.etree.ElementTree as ET
s = ET.parse("junit.xml").getroot().find("testsuite")
assert s.get("tests") == "2" and s.get("failures") == "0", s.attrib
assert len(s.findall("testcase")) == 2 and not s.findall(".//failure")'

# A new version that returns something else fails the found case, naming why.
sed 's/court = r:json().court/court = string.upper(r:json().court)/' robot/lookup.lua > robot/v2.lua
expect_exit 1 "$DRUDGE" test robot/v2.lua robot/cases --junit junit2.xml
contains "$out" "not ok 1 - task 1 attempt 1" "the changed output fails"
contains "$out" 'output: expected {"court":"Leeds","ref":"A-1"}, got {"court":"LEEDS","ref":"A-1"}' "and says how"
contains "$out" "ok 2 - task 2 attempt 1" "the other still passes"
expect_exit 0 /usr/bin/python3 -c '
import xml.etree.ElementTree as ET
s = ET.parse("junit2.xml").getroot().find("testsuite")
assert s.get("failures") == "1" and len(s.findall(".//failure")) == 1, s.attrib'
# A version that makes a call the case does not have.
sed 's|local r = http.get|http.get("http://127.0.0.1:1/audit"); local r = http.get|' robot/lookup.lua > robot/v3.lua
expect_exit 1 "$DRUDGE" test robot/v3.lua robot/cases
contains "$out" "did not do what the case recorded" "an unexpected call fails the case"
# A hand-edited expectation: the case now wants another court.
/usr/bin/python3 -c '
import json
c = json.load(open("robot/cases/found.json")); c["name"] = "found, wants York"; c["expect"]["output"]["court"] = "York"
json.dump(c, open("robot/cases/found-york.json", "w"))'
expect_exit 1 "$DRUDGE" test robot/lookup.lua robot/cases
contains "$out" "not ok 1 - found, wants York" "an edited expectation is tested"
contains "$out" "output: expected {\"court\": \"York\"" "... and fails on it"

# Malformed cases: the file and the field are named; the others still run.
mkdir bad
cp robot/cases/found.json bad/a-good.json
echo '{"format":"drudge-case/1","steps":[{"seq":1,"kind":"task","name":"lookup"}]}' > bad/b-noexpect.json
/usr/bin/python3 -c '
import json
c = json.load(open("robot/cases/found.json")); c["steps"][1]["seq"] = 7
json.dump(c, open("bad/c-seq.json", "w"))
c = json.load(open("robot/cases/found.json")); c["payloads"] = {k: dict(v, base64="AAAA") for k, v in c["payloads"].items()} or {"0" * 64: {"base64": "AAAA"}}
json.dump(c, open("bad/d-payload.json", "w"))'
echo 'not json' > bad/e-text.json
expect_exit 1 "$DRUDGE" test robot/lookup.lua bad
contains "$out" "ok 1 - task 1 attempt 1" "a good case among bad ones passes"
contains "$out" "bad/b-noexpect.json: expect: missing" "no expect"
contains "$out" "bad/c-seq.json: steps[1]: \"seq\" must number the steps" "a bad seq"
contains "$out" "bad/d-payload.json: payloads." "an edited payload"
contains "$out" "bad/e-text.json: the file: not a JSON object" "not JSON"
expect_exit 1 "$DRUDGE" test robot/lookup.lua empty-dir
contains "$err" "empty-dir cannot be read" "no cases directory"
expect_exit 1 "$DRUDGE" record-case 99
contains "$err" "no task #99" "record-case: unknown task"
expect_exit 2 "$DRUDGE" test
contains "$err" "give SCRIPT" "test: usage"
finish
