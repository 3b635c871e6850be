# drudge.browser in real headless Chromium against the project's own pages
# (tests/fixtures/browser_server.c): one session runs through the form whose
# fields move and change ids on every load (found by their labels only), a
# table, an element that comes after 2 s, a button disabled for a while, an
# iframe, a download and an upload, alerts, keys, hover, tabs, eval, a
# screenshot, a secret typed; then the recording is replayed with no browser
# and a changed script diverges; then a page that never answers ends the
# attempt as a system error with the browser closed.
source "$TESTS/lib.sh"
source "$TESTS/data/browser/setup.sh"

printf 'id,text\n1,uploaded\n' > files/doc.txt
cat > pages.lua <<EOF
local browser = require "drudge.browser"
local json = require "drudge.json"
local URL = "$URL"

local function err_of(f)
  local ok, e = pcall(f)
  assert(not ok, "expected an error")
  return (tostring(e):gsub("^[^ ]*%.lua:%d+: ", "")) -- replay runs the script by its full path
end

return {
  name = "pages",
  screenshot_on_error = true,
  run = function(task)
    local b = browser.open{ size = { 1200, 800 } }
    local out = {}

    -- the form, twice: other order, other ids, same labels
    local people = { { "Ada", "Lovelace", "ada@example.org", "0123", "London", "France", "line one\nline two" },
                     { "Alan", "Turing", "alan@example.org", "0456", "Wilmslow", "Germany", "" } }
    out.ids = {}
    for i, p in ipairs(people) do
      b:go(URL .. "/form")
      local first = b:find{ label = "First Name" }
      out.ids[i] = b:attr(first, "id")
      first:type(p[1])
      b:type({ label = "Last Name" }, p[2])
      b:type({ label = "Email" }, p[3])
      b:type({ label = "Phone" }, p[4])
      b:type({ label = "City" }, p[5])
      out["country" .. i] = b:select({ label = "Country" }, p[6]).value
      b:type({ label = "Notes" }, p[7])
      if i == 1 then b:check{ label = "Newsletter" } end
      out["checked" .. i] = b:checked{ label = "Newsletter" }
      b:click{ role = "button", name = "Submit" }
      b:wait_for{ text = "Saved #" .. i }
    end
    out.ambiguous = err_of(function() b:go(URL .. "/form"); b:find({ role = "textbox" }, { timeout = 0.3 }) end)
    out.missing = err_of(function() b:find({ label = "Middle Name" }, { timeout = 0.3 }) end)
    out.bad_key = err_of(function() b:find{ lable = "x" } end)
    out.bad_keyname = err_of(function() b:press("ctrl+Entr") end)
    out.bad_option = err_of(function() browser.open{ headles = true } end)
    out.bad_select = err_of(function() b:select({ label = "Country" }, { label = "x", value = "y" }) end)
    out.no_target = err_of(function() b:click() end)
    b:type({ label = "Notes" }, "hunter2-secret", { secret = true })

    -- a table read by its headers
    b:go(URL .. "/table")
    out.table = b:table("#people")
    out.title = b:title()

    -- an element that comes after 2 s, a button disabled for 3 s
    b:go(URL .. "/late")
    local t0 = os.time()
    b:click{ role = "button", name = "Late button" }
    out.late = b:text("#box")
    b:go(URL .. "/disabled")
    out.disabled_err = err_of(function() b:click("#go", { timeout = 0.3 }) end)
    b:click("#go")
    out.clicked = b:text("#result")
    b:eval("document.getElementById('go').remove()")
    b:wait_for{ gone = "#go", timeout = 2 }
    out.gone_err = err_of(function() b:wait_for{ gone = "#result", timeout = 0.3 } end)

    -- an iframe
    b:go(URL .. "/frame")
    b:frame("#inner")
    b:type({ label = "Inside" }, "in the frame")
    out.inner_value = b:value{ label = "Inside" }
    out.inner_text = b:visible{ text = "Inside the frame" }
    b:frame()
    out.outer_visible = b:visible{ text = "Inside the frame" }

    -- a download and an upload
    b:go(URL .. "/download")
    b:click{ text = "Download CSV" }
    out.download = b:wait_download{ timeout = 20 }
    b:go(URL .. "/upload")
    b:upload({ label = "Document" }, "doc.txt")
    b:click{ role = "button", name = "Send" }
    out.received = b:text("#received")

    -- alerts
    b:go(URL .. "/alert")
    b:click{ role = "button", name = "Alert" }
    out.alert_blocks = err_of(function() b:title() end)
    out.alert = b:alert()
    b:accept_alert()
    out.no_alert = b:alert() == nil
    b:click{ role = "button", name = "Confirm" }
    b:dismiss_alert()
    out.confirm = b:text("#answer")

    -- keys, hover
    b:go(URL .. "/keys")
    b:press("Enter", { label = "Search" })
    out.key = b:text("#last")
    b:type({ label = "Search" }, "abc")
    b:press("ctrl+a Backspace")
    out.cleared = b:value{ label = "Search" }
    b:hover("#tip")
    out.hover = b:text("#tip")

    -- web components: found inside open shadow roots, nested ones too
    b:go(URL .. "/shadow")
    b:type({ label = "Shadow Name" }, "Grace")
    b:type({ label = "Case number" }, "42")
    b:type({ label = "Note" }, "deep")
    b:click{ role = "button", name = "Save case" }
    b:wait_for{ text = "Case saved" }
    out.shadow = b:text{ text = "Case saved" }
    out.shadow_css = b:value("#cn")
    out.shadow_closed = b:visible{ text = "Closed secret" }
    -- XPath too: evaluated in each open shadow root, an absolute path from its root
    out.xpath_shadow = b:value{ xpath = "//input[@aria-labelledby='cl']" }
    out.xpath_nested = b:value{ xpath = "//textarea[@aria-label='Note']" }
    out.xpath_doc = b:text{ xpath = "/html/body/h1" }
    out.xpath_inputs = #b:find_all{ xpath = "//input" }
    out.xpath_closed = b:visible{ xpath = "//p[. = 'Closed secret']" }

    -- tabs
    b:go(URL .. "/tabs")
    b:click{ role = "link", name = "People in a new tab" }
    local tabs = b:tabs()
    out.ntabs = #tabs
    b:switch_tab(2)
    b:wait_for{ url = "/table" }
    out.tab_title = b:title()
    b:close_tab()
    out.back_title = b:title()

    out.eval = b:eval("return arguments[0] + 1", 41)
    out.all = #b:find_all("h1")
    out.shot = b:screenshot{ path = "page.png" }
    pcall(step, "looking for what is not there", function()
      b:find({ text = "No such thing" }, { timeout = 0.2 })
    end)
    pcall(step, "a check of the script's own", function()
      assert(b:title() == "another title", "not the page expected")
    end)
    return out
  end,
}
EOF
expect_exit 0 "$DRUDGE" --files files -q run pages.lua
# -q prints nothing on a failed run: the task's record says why (its
# error, with the traceback of the line that raised it, and its steps).
if [ "$fails" -gt 0 ]; then
  "$DRUDGE" show 1 >&2 || true
  "$DRUDGE" audit show 1 | tail -40 >&2 || true
fi
echo "$out" >out.json
echo "$err" | tail -5
py() { python3 -c "import json,sys; o=json.load(open('out.json')); print($1)"; }

# The form: two submissions with the right values, though the fields moved.
subs=$(curl -s "$URL/submissions")
equals "$(echo "$subs" | wc -l)" 2 "two forms submitted"
first=$(echo "$subs" | head -1 | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["first_name"],d["last_name"],d["email"],d["phone"],d["city"],d["country"],repr(d["notes"]),d.get("newsletter"))')
equals "$first" "Ada Lovelace ada@example.org 0123 London fr 'line one\r\nline two' yes" "first form's values"
second=$(echo "$subs" | tail -1 | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["first_name"],d["city"],d["country"],d.get("newsletter"))')
equals "$second" "Alan Wilmslow de None" "second form's values"
equals "$(py 'o["ids"][0] != o["ids"][1]')" "True" "the field had another id on the second load"
equals "$(py 'o["checked1"], o["checked2"]')" "True False" "check and checked"
contains "$(py 'o["ambiguous"]')" "elements match" "several matches are an error"
contains "$(py 'o["ambiguous"]')" "index = n" "the error says how to choose"
contains "$(py 'o["missing"]')" 'find label "Middle Name": no element matches after waiting 0.3 s' "a missing label names the target and the wait"
contains "$(py 'o["bad_key"]')" "unknown key 'lable'" "a misspelt key is named"
contains "$(py 'o["bad_keyname"]')" "unknown key name 'Entr' in \"ctrl+Entr\"" "a misspelt key name is named"
contains "$(py 'o["bad_option"]')" "browser.open: unknown option 'headles'" "a misspelt option is named"
contains "$(py 'o["bad_select"]')" "give the option's label or its value (one)" "select wants one of label and value"
contains "$(py 'o["no_target"]')" "browser.click: the target is missing" "a missing target is named"
contains "$(py 'o["alert_blocks"]')" "unexpected alert open" "an open alert blocks other calls"
contains "$(py 'o["gone_err"]')" 'css "#result" is still there after waiting 0.3 s' "wait_for gone times out naming the target"

equals "$(py 'o["table"]')" "[{'Age': '36', 'City': 'London', 'Name': 'Ada Lovelace'}, {'Age': '41', 'City': 'Dublin', 'Name': \"Zoë O'Brien\"}, {'Age': '41', 'City': 'Wilmslow', 'Name': 'Alan Turing'}]" "table rows keyed by headers"
equals "$(py 'o["title"]')" "People" "title"
equals "$(py 'o["late"]')" "Late button pressed" "waited for the late button"
contains "$(py 'o["disabled_err"]')" "the element is disabled after waiting 0.3 s" "a disabled button is not clicked"
equals "$(py 'o["clicked"]')" "clicked" "clicked once enabled"
equals "$(py 'o["inner_value"], o["inner_text"], o["outer_visible"]')" "in the frame True False" "iframe"
equals "$(py 'o["download"]["name"], o["download"]["path"], o["download"]["size"]')" "people.csv downloads/people.csv 51" "download"
equals "$(cat files/downloads/people.csv | head -1)" "name,city" "the download is in the files directory"
equals "$(stat -c %a files/downloads/people.csv)" "600" "downloads are 0600"
equals "$(py 'o["received"]')" "Received doc.txt (19 bytes)" "upload"
equals "$(py 'o["alert"], o["no_alert"], o["confirm"]')" "Hello from the page True cancelled" "alerts"
equals "$(py 'o["key"], o["cleared"], o["hover"]')" "Enter  hovered" "keys and hover"
equals "$(py 'o["ntabs"], o["tab_title"], o["back_title"]')" "2 People Tabs" "tabs"
equals "$(py 'o["eval"], o["all"]')" "42 1" "eval and find_all"
equals "$(py 'o["shadow"]')" "Case saved: Grace 42 deep" "label, aria-labelledby, role and text found in open shadow roots, nested ones too"
equals "$(py 'o["shadow_css"], o["shadow_closed"]')" "42 False" "css looks into open shadow roots, not into closed ones"
equals "$(py 'o["xpath_shadow"], o["xpath_nested"], o["xpath_doc"], o["xpath_inputs"]')" "42 deep Shadow 2" \
  "xpath finds in open shadow roots (an absolute path from the root), nested ones too, and in the document"
equals "$(py 'o["xpath_closed"]')" "False" "xpath does not reach into a closed shadow root"
equals "$(py 'o["shot"]["width"], o["shot"]["content_type"]')" "1200 image/png" "screenshot"
equals "$(head -c 4 files/page.png | tail -c 3)" "PNG" "screenshot file"

# The audit trail: one step per action, with its target; the secret nowhere.
equals "$(sql "select count(*) from steps where kind = 'browser' and name = 'type label \"First Name\"'")" 2 "an element's own type is named by how it was found"
equals "$(sql "select count(*) from steps where kind = 'browser' and name like 'type label \"Last Name\"'")" 2 "type steps name their target"
equals "$(sql "select count(*) from steps where request like '%hunter2%' or response like '%hunter2%' or error like '%hunter2%'")" 0 "the typed secret is not recorded"
contains "$(sql "select request from steps where name = 'type label \"Notes\"' order by id desc limit 1")" "REDACTED" "the secret's place is marked"
equals "$(sql "select count(*) from steps where kind = 'browser' and name = 'screenshot_on_error' and outcome = 'ok'")" 1 "a step that fails for the script's own reason gets a screenshot step; one whose browser call failed holds its screenshot there, not twice"
equals "$(sql "select count(*) from steps s join payloads p on p.sha256 = json_extract(s.response, '$.screenshot') where s.name in ('find label \"Middle Name\"', 'find text \"No such thing\"') and s.outcome <> 'ok' and p.content_type = 'image/png'")" 2 "a failed browser call holds a screenshot of the page, in a step or not"
late_ms=$(sql "select duration_us / 1000 from steps where name = 'click role \"button\" \"Late button\"'")
[ "$late_ms" -ge 1500 ] && pass || fail "the late click should have waited ~2 s, took $late_ms ms"
equals "$(sql "select count(*) from steps s join payloads p on s.response like '%' || p.sha256 || '%' where s.name like 'screenshot%' and p.content_type = 'image/png'")" 2 "screenshots kept as payloads"

# Nothing left running, nothing left in the state directory.
equals "$(ours)" "" "no chromedriver or Chromium survives the attempt"
equals "$(ls "$DRUDGE_STATE_DIR")" "" "the session's directory is gone"

# Replay: no browser at all (a driver that does not exist), same outcome.
DRUDGE_CHROMEDRIVER=/nonexistent expect_exit 0 "$DRUDGE" --files files -q replay 1
contains "$out" "identical outcome (done)" "replay without a browser"
sed 's/label = "City"/label = "Town"/' pages.lua > changed.lua
expect_exit 6 "$DRUDGE" --files files -q replay 1 --script changed.lua
contains "$out" 'DIVERGED' "a changed target diverges"
contains "$out" 'type label "Town"' "the divergence names the new target"

# One worker, two tasks: the worker's chromedriver is kept from the first
# open to the next, the browser and its profile are new for each attempt
# (the first task's cookie and local storage are not in the second's), in
# the headless shell by default and in chromium with headless_shell = false.
cat > fresh.lua <<EOF
local browser = require "drudge.browser"
return { name = "fresh", run = function(task)
  browser.headless_shell = task.input.shell
  local b = browser.open{}
  b:go("$URL/table")
  local before = b:eval("return document.cookie + '|' + (localStorage.getItem('k') || '')")
  b:eval("document.cookie = 'seen=' + arguments[0] + '; max-age=3600'; localStorage.setItem('k', 'v' + arguments[0])", task.input.i)
  return { before = before, after = b:eval("return document.cookie") }
end }
EOF
"$DRUDGE" -q enqueue fresh.lua --input '{"i":1,"shell":true}' >/dev/null
"$DRUDGE" -q enqueue fresh.lua --input '{"i":2,"shell":false}' >/dev/null
expect_exit 0 "$DRUDGE" --files files -q work --until-empty
equals "$(sql "select group_concat(json_extract(output, '$.before') || ' ' || json_extract(output, '$.after'), ',') from (select output from tasks where script = 'fresh' order by id)")" "| seen=1,| seen=2" "each attempt's browser starts with no cookie or storage of the one before"
equals "$(sql "select group_concat(json_extract(s.response, '$.driver_kept')) from steps s join tasks t on t.id = s.task_id where t.script = 'fresh' and s.name = 'open' order by s.id")" "0,1" "the second open reuses the worker's chromedriver"
shell=chromium-headless-shell
[ -x /usr/lib/chromium/chromium-headless-shell ] || shell=chromium
equals "$(sql "select group_concat(json_extract(s.response, '$.engine')) from steps s join tasks t on t.id = s.task_id where t.script = 'fresh' and s.name = 'open' order by s.id")" "$shell,chromium" "headless in the shell when installed, chromium when told"
equals "$(ours)" "" "the kept chromedriver ends with the worker"
equals "$(ls "$DRUDGE_STATE_DIR")" "" "and its directory goes"

# browser.prewarm: the next task's browser starts while this one works, so
# its open takes no time; nothing is left when the worker ends.
cat > warm.lua <<EOF
local browser = require "drudge.browser"
browser.prewarm = true
return { name = "warm", run = function(task)
  local b = browser.open{}
  b:go("$URL/table")
  return { title = b:title() }
end }
EOF
for i in 1 2; do "$DRUDGE" -q enqueue warm.lua --input "{\"i\":$i}" >/dev/null; done
expect_exit 0 "$DRUDGE" --files files -q work --until-empty
equals "$(sql "select group_concat(json_extract(s.response, '$.prewarmed')) from steps s join tasks t on t.id = s.task_id where t.script = 'warm' and s.name = 'open' order by s.id")" "0,1" "the second open takes the warm browser"
equals "$(sql "select count(*) from tasks where script = 'warm' and state = 'done'")" 2 "both tasks done"
equals "$(ours)" "" "no spare browser outlives the worker"
equals "$(ls "$DRUDGE_STATE_DIR")" "" "nor its directory"
# By default ("auto"), prewarm starts from a worker's second open (its driver was kept).
sed '/browser.prewarm = true/d; s/name = "warm"/name = "auto"/' warm.lua > auto.lua
for i in 1 2 3; do "$DRUDGE" -q enqueue auto.lua --input "{\"i\":$i}" >/dev/null; done
expect_exit 0 "$DRUDGE" --files files -q work --until-empty
equals "$(sql "select group_concat(json_extract(s.response, '$.prewarmed')) from steps s join tasks t on t.id = s.task_id where t.script = 'auto' and s.name = 'open' order by s.id")" "0,0,1" "by default, the third open takes the browser the second started"
equals "$(ours)" "" "no spare browser outlives that worker either"

# A page that never answers: a system error naming the wait, browser closed.
cat > never.lua <<EOF
local browser = require "drudge.browser"
return { name = "never", max_attempts = 1, run = function(task)
  local b = browser.open{ page_timeout = 2 }
  b:go("$URL/never")
end }
EOF
expect_exit 4 "$DRUDGE" --files files -q run never.lua
contains "$err" "the page did not load within 2 s" "the timeout is a system error"
equals "$(ours)" "" "the browser is closed after the timeout"
equals "$(ls "$DRUDGE_STATE_DIR")" "" "nothing left in the state directory"
finish
