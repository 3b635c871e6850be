# drudge test with hand-written cases (issue 21): a case that gives only the
# connectors' answers in order -- no recorded requests, no server ever run --
# passes when the script makes its calls in that order and ends as expected;
# it fails, naming the call, when the script makes more calls than there are
# answers, fewer, a call of another kind or name, or gives another output;
# an answer can be a failure of the world ("error"); malformed answers are
# named by file and field.
source "$TESTS/lib.sh"
mkdir -p robot/cases
cat >robot/lookup.lua <<'LUA'
local http = require("drudge.http")
return { name = "lookup", max_attempts = 1, run = function(task)
  local r = step("look up", function()
    return http.get("https://cms.example/cases/" .. task.input.ref)
  end)
  if r.status == 404 then fail("no such case " .. task.input.ref) end
  local case = r:json()
  local ok, e = pcall(http.post, "https://cms.example/cases/" .. case.id .. "/notes",
                      { json = { note = "seen" } })
  return { court = case.court, ref = task.input.ref, url = r.url,
           type = r.headers["content-type"], note = ok and e.status or e }
end }
LUA
mkcase() { cat >"robot/cases/$1.json"; }
mkcase found <<'JSON'
{"format":"drudge-case/1","name":"found","input":{"ref":"A-1"},
 "answers":[
  {"kind":"http","name":"GET https://cms.example/cases/A-1",
   "response":{"status":200,"headers":{"Content-Type":"application/json"},"body":"{\"id\":7,\"court\":\"Leeds\"}"}},
  {"kind":"http","response":{"status":201,"body":""}}],
 "expect":{"outcome":"done","output":{"court":"Leeds","ref":"A-1","note":201,
   "url":"https://cms.example/cases/A-1","type":"application/json"}}}
JSON
mkcase missing <<'JSON'
{"format":"drudge-case/1","name":"missing","input":{"ref":"X"},
 "answers":[{"kind":"http","response":{"status":404,"body":"{}"}}],
 "expect":{"outcome":"failed","error":"no such case X"}}
JSON
mkcase server_down <<'JSON'
{"format":"drudge-case/1","name":"notes service down","input":{"ref":"A-2"},
 "answers":[
  {"kind":"http","response":"{\"status\":200,\"body\":\"{\\\"id\\\":8,\\\"court\\\":\\\"York\\\"}\"}"},
  {"kind":"http","error":"Failed to connect to cms.example port 443"}],
 "expect":{"outcome":"done","output":{"court":"York","ref":"A-2",
   "note":"http: POST https://cms.example/cases/8/notes: Failed to connect to cms.example port 443",
   "url":"https://cms.example/cases/A-2"}}}
JSON
expect_exit 0 "$DRUDGE" test robot/lookup.lua
contains "$out" "1..3" "three cases"
contains "$out" "ok 1 - found" "answers in order: passes"
contains "$out" "ok 2 - missing" "a 404 answer: the expected business failure"
contains "$out" "ok 3 - notes service down" "an error answer: the call fails as the world would"

# Wrong cases fail, each naming what went another way.
mkdir bad
cp robot/lookup.lua bad/
mkcase() { cat >"bad/$1.json"; }
mkcase too_few <<'JSON'
{"format":"drudge-case/1","name":"too few","input":{"ref":"A-1"},
 "answers":[{"kind":"http","response":{"status":200,"body":"{\"id\":7,\"court\":\"Leeds\"}"}}],
 "expect":{"outcome":"done"}}
JSON
mkcase too_many <<'JSON'
{"format":"drudge-case/1","name":"too many","input":{"ref":"X"},
 "answers":[{"kind":"http","response":{"status":404,"body":"{}"}},{"kind":"http","response":{"status":200}}],
 "expect":{"outcome":"failed"}}
JSON
mkcase other_kind <<'JSON'
{"format":"drudge-case/1","name":"other kind","input":{"ref":"X"},
 "answers":[{"kind":"mail","response":{"uid":1}}],"expect":{"outcome":"failed"}}
JSON
mkcase other_name <<'JSON'
{"format":"drudge-case/1","name":"other name","input":{"ref":"X"},
 "answers":[{"kind":"http","name":"GET https://cms.example/cases/Y","response":{"status":404}}],
 "expect":{"outcome":"failed"}}
JSON
mkcase other_output <<'JSON'
{"format":"drudge-case/1","name":"other output","input":{"ref":"A-1"},
 "answers":[{"kind":"http","response":{"status":200,"body":"{\"id\":7,\"court\":\"Leeds\"}"}},
            {"kind":"http","response":{"status":201}}],
 "expect":{"outcome":"done","output":{"court":"Hull"}}}
JSON
expect_exit 1 "$DRUDGE" test bad/lookup.lua bad
contains "$out" "not ok 4 - too few" "too few answers fails"
contains "$out" 'call 2: the script made http "POST https://cms.example/cases/7/notes", but the case gives only 1 answers' \
  "and names the call that had no answer"
contains "$out" "not ok 5 - too many" "an answer never asked for fails"
contains "$out" "the case gives 2 answers, but the script made only 1 calls" "and says how many"
contains "$out" 'call 1: answer 1 is for a mail call, but the script made http "GET https://cms.example/cases/X"' \
  "an answer of another kind"
contains "$out" 'answer 1 is for a call named "GET https://cms.example/cases/Y"' "an answer for another call"
contains "$out" 'output: expected {"court":"Hull"}, got' "another output"

# Malformed answers, named by file and field; the other cases still run.
mkdir worse
cp robot/lookup.lua worse/
mkcase() { cat >"worse/$1.json"; }
mkcase both <<'JSON'
{"format":"drudge-case/1","input":{},"answers":[{"kind":"http","response":{},"error":"x"}],"expect":{"outcome":"done"}}
JSON
mkcase nokind <<'JSON'
{"format":"drudge-case/1","input":{},"answers":[{"response":{"status":200}}],"expect":{"outcome":"done"}}
JSON
mkcase unknown <<'JSON'
{"format":"drudge-case/1","input":{},"answers":[{"kind":"http","respons":{"status":200}}],"expect":{"outcome":"done"}}
JSON
mkcase mixed <<'JSON'
{"format":"drudge-case/1","input":{},"steps":[{"seq":1,"parent":0,"kind":"task","name":"lookup"}],
 "answers":[],"expect":{"outcome":"done"}}
JSON
mkcase badresp <<'JSON'
{"format":"drudge-case/1","input":{},"answers":[{"kind":"http","response":[1,2]}],"expect":{"outcome":"done"}}
JSON
expect_exit 1 "$DRUDGE" test worse/lookup.lua worse
contains "$out" 'answers[0]: needs either "response" or "error"' "response and error both"
contains "$out" 'answers[0]: needs "kind"' "no kind"
contains "$out" "answers[0].respons: unknown: an answer has kind, name, response or error" "a misspelt field"
contains "$out" 'give "steps" (a recorded case) or "answers" (a hand-written one), not both' "steps and answers"
contains "$out" "answers[0].response: must be a JSON object" "a response that is no object"
equals "$(echo "$out" | grep -c '^not ok')" "5" "each malformed case reported"
finish
