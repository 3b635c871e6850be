# drudge.http against the project's own fixture server (tests/fixtures/fixture_server.c):
# methods and bodies, errors, timeouts, redirects, cookies, auth and redaction,
# retries with Retry-After, per-host limits, large bodies, downloads.
source "$TESTS/lib.sh"
# curl honours proxy variables; these tests talk to loopback servers only.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

PORT=$(free_port)
"$BUILD/tests/fixture_server" --port "$PORT" >"$TMP/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
wait_port "$PORT"
BASE="http://127.0.0.1:$PORT"
FILES="$TMP/drudge.db.files"

# script NAME: writes $TMP/NAME.lua from stdin, with BASE substituted.
script() { sed "s#@BASE@#$BASE#g" >"$TMP/$1.lua"; }
# ok NAME: runs the script, expecting it to finish done.
ok() { expect_exit 0 "$DRUDGE" run "$TMP/$1.lua"; [ -z "${err// /}" ] || true; }

# --- methods, query, headers, bodies ---
script basics <<'EOF'
local http = require "drudge.http"
return { run = function()
  local r = http.get("@BASE@/echo/x", { query = { q = "a b&c", n = 3, tag = { "x", "y" } },
                                        headers = { ["X-Trace"] = "t1" } })
  assert(r.status == 200 and r:ok(), "status")
  local j = r:json()
  assert(j.method == "GET" and j.path == "/echo/x", "method/path")
  assert(r.url == "@BASE@/echo/x?n=3&q=a%20b%26c&tag=x&tag=y", "url: " .. r.url)
  assert(j.args[2][1] == "q" and j.args[2][2] == "a b&c", "query decoded by the server")
  assert(j.headers["x-trace"] == "t1", "custom header")
  assert(j.headers["user-agent"]:match("^drudge/"), "user agent")
  assert(r.headers["Content-Type"] == "application/json", "case-insensitive header lookup")
  assert(r.headers["content-type"] == r.headers["CONTENT-TYPE"], "any case")
  assert(r.elapsed > 0 and r.attempts == 1 and r.size == #r.body, "elapsed/attempts/size")
  assert(tostring(r):match("^http response 200 to GET"), "tostring")

  j = http.post("@BASE@/echo", { json = { b = 1, a = { 1, 2, 3 }, c = { z = true, y = 0.5 } } }):json()
  assert(j.method == "POST" and j.headers["content-type"] == "application/json", "json ctype")
  assert(j.body == '{"a":[1,2,3],"b":1,"c":{"y":0.5,"z":true}}', "canonical JSON: " .. j.body)

  j = http.put("@BASE@/echo", { form = { name = "Zoë", x = "1&2" } }):json()
  assert(j.method == "PUT" and j.body == "name=Zo%C3%AB&x=1%262", "form: " .. j.body)
  assert(j.headers["content-type"] == "application/x-www-form-urlencoded", "form ctype")

  j = http.patch("@BASE@/echo", { body = "raw text", headers = { ["Content-Type"] = "text/x-raw" } }):json()
  assert(j.method == "PATCH" and j.body == "raw text" and j.headers["content-type"] == "text/x-raw")

  j = http.delete("@BASE@/echo"):json()
  assert(j.method == "DELETE", "delete")
  r = http.head("@BASE@/hello")
  assert(r.status == 200 and r.body == "", "head has no body")
  j = http.request{ method = "options", url = "@BASE@/echo" }:json()
  assert(j.method == "OPTIONS", "custom method")

  j = http.post{ url = "@BASE@/echo", multipart = { note = "hi", doc = { path = "upload.txt", type = "text/plain" },
                                                 blob = { data = "bytes", filename = "b.bin" } } }:json()
  assert(j.headers["content-type"]:match("^multipart/form%-data; boundary="), "multipart ctype")
  assert(j.body:find('name="doc"; filename="upload.txt"', 1, true), "file part")
  assert(j.body:find("file content here", 1, true), "file content")
  assert(j.body:find('name="note"', 1, true) and j.body:find("hi", 1, true), "text part")

  -- an options table whose metamethod makes a request of its own
  local nested = 0
  local opts = setmetatable({ query = { a = 1 } }, { __index = function(_, k)
    if k == "timeout" then nested = http.get("@BASE@/hello").status end
  end })
  r = http.get("@BASE@/echo", opts)
  assert(r.status == 200 and r:json().args[1][2] == "1" and nested == 200, "nested call")
  -- a header set to false removes curl's default
  j = http.get("@BASE@/echo", { headers = { Accept = false } }):json()
  assert(j.headers.accept == nil, "Accept removed")
  return "ok"
end }
EOF
mkdir -p "$FILES" && echo "file content here" >"$FILES/upload.txt"
ok basics

# --- HTTP errors are returned, raise = true raises ---
script statuses <<'EOF'
local http = require "drudge.http"
return { run = function()
  local r = http.get("@BASE@/status/404")
  assert(r.status == 404 and not r:ok() and r.body == "status 404\n")
  local ok, e = pcall(http.get, "@BASE@/status/503", { raise = true })
  assert(not ok and tostring(e):match("HTTP 503"), tostring(e))
  http.get("@BASE@/status/500", { raise = true })
end }
EOF
expect_exit 4 "$DRUDGE" run "$TMP/statuses.lua"
contains "$err" "http: GET $BASE/status/500: HTTP 500" "raise=true names the URL and status"
contains "$err" "HTTP 500: status 500" "raise=true gives the start of the body"

# raise = true and a 4xx: not retried. 404 and the like: a business failure;
# 401/403/407: a configuration error (credentials), which pauses the script;
# 408 and 429: a system error, retried.
script s404 <<'EOF'
local http = require "drudge.http"
return { run = function()
  local ok, e = pcall(http.get, "@BASE@/status/422", { raise = true })
  assert(not ok and e.kind == "fail" and tostring(e):match("HTTP 422: status 422"), tostring(e))
  ok, e = pcall(http.get, "@BASE@/status/408", { raise = true })
  assert(not ok and type(e) == "string" and e:match("HTTP 408"), "408 is a system error")
  ok, e = pcall(http.get, "@BASE@/status/429", { raise = true })
  assert(not ok and type(e) == "string" and e:match("HTTP 429"), "429 is a system error")
  http.get("@BASE@/status/404", { raise = true })
end }
EOF
expect_exit 3 "$DRUDGE" run "$TMP/s404.lua"
contains "$err" "failed: http: GET $BASE/status/404: HTTP 404: status 404" "a 4xx with raise is a business failure"
script s401 <<'EOF'
local http = require "drudge.http"
return { run = function() http.get("@BASE@/bearer/right", { raise = true, auth = { bearer = "wrong" } }) end }
EOF
expect_exit 2 "$DRUDGE" run "$TMP/s401.lua"
contains "$err" "configuration error" "401 with raise is a configuration error"
contains "$err" "HTTP 401" "and names the status"
"$DRUDGE" enqueue "$TMP/s401.lua" --key a >/dev/null
"$DRUDGE" enqueue "$TMP/s401.lua" --key b >/dev/null
expect_exit 0 "$DRUDGE" work --until-empty
equals "$(sql "select count(*) from tasks where script = 's401' and state = 'queued' and spent = 0")" "2" "401: the tasks wait, no attempt spent"
expect_exit 0 "$DRUDGE" status
contains "$out" "s401 is paused by a configuration error" "401: the script is paused"

# r.links: Link headers for pagination, resolved against the response's URL.
script links <<'EOF'
local http = require "drudge.http"
return { run = function()
  local r = http.get("@BASE@/headers")
  assert(r.links.next == "@BASE@/p2", "next: " .. tostring(r.links.next))
  assert(r.links.last == "@BASE@/p9", "last")
  assert(r.links.prev == nil, "no prev")
  assert(next(http.get("@BASE@/hello").links) == nil, "no Link header: empty")
  return "ok"
end }
EOF
ok links

# --- transport failures raise a system error naming the URL and curl's reason ---
DEAD=$(free_port)
script refused <<EOF
local http = require "drudge.http"
return { run = function() http.get("http://127.0.0.1:$DEAD/x") end }
EOF
expect_exit 4 "$DRUDGE" run "$TMP/refused.lua"
contains "$err" "http: GET http://127.0.0.1:$DEAD/x: Failed to connect" "refused names URL and reason"

script timeout <<'EOF'
local http = require "drudge.http"
return { run = function() http.get("@BASE@/slow?ms=3000", { timeout = 0.3 }) end }
EOF
expect_exit 4 "$DRUDGE" run "$TMP/timeout.lua"
contains "$err" "GET $BASE/slow?ms=3000: Operation timed out" "timeout"

script deadline <<'EOF'
local http = require "drudge.http"
return { timeout = 0.5, run = function() http.get("@BASE@/slow?ms=20000", { timeout = 60 }) end }
EOF
t0=$(date +%s%N)
expect_exit 4 "$DRUDGE" run "$TMP/deadline.lua"
t1=$(date +%s%N)
contains "$err" "by the attempt's deadline" "request timeout capped by the attempt deadline"
# capped, the run ends after about 0.5 s; uncapped, not before the 20 s
# the server takes (the margin is for a loaded machine: 3.6 s was seen)
[ $(((t1 - t0) / 1000000)) -lt 10000 ] && pass || fail "deadline cap took $(((t1 - t0) / 1000000)) ms"

script drop <<'EOF'
local http = require "drudge.http"
return { run = function() http.get("@BASE@/drop") end }
EOF
expect_exit 4 "$DRUDGE" run "$TMP/drop.lua"
contains "$err" "GET $BASE/drop: Empty reply from server" "dropped connection"

script truncated <<'EOF'
local http = require "drudge.http"
return { run = function() http.get("@BASE@/truncated") end }
EOF
expect_exit 4 "$DRUDGE" run "$TMP/truncated.lua"
contains "$err" "GET $BASE/truncated: transfer closed with 900 bytes remaining" "truncated body"

script malformed <<'EOF'
local http = require "drudge.http"
return { run = function() return http.get("@BASE@/malformed"):json() end }
EOF
expect_exit 4 "$DRUDGE" run "$TMP/malformed.lua"
contains "$err" "the response to GET $BASE/malformed (HTTP 200) is not JSON" "json error names URL"
contains "$err" "at character" "json error names the position"

# --- API misuse is a clear error ---
script misuse <<'EOF'
local http = require "drudge.http"
local function err(f, ...) local ok, e = pcall(f, ...); assert(not ok); return tostring(e) end
return { run = function()
  assert(err(http.get, "@BASE@/x", { timout = 1 }):match("unknown option 'timout'"))
  assert(err(http.get, "ftp://x/y"):match("url must start with http:// or https://"))
  assert(err(http.post, "@BASE@/x", { body = "a", json = {} }):match("give only one of 'body' and 'json'"))
  assert(err(http.get, "@BASE@/x", { headers = { ["X-A"] = "a\r\nX-B: b" } }):match("line break"))
  assert(err(http.get, "@BASE@/x", { timeout = "5" }):match("'timeout' must be a number"))
  assert(err(http.get, "@BASE@/x", { auth = { token = "x" } }):match("'auth' must be"))
  assert(err(http.get, "@BASE@/x", { retry = { attempts = 0 } }):match("'attempts' must be between 1 and 100"))
  assert(err(http.post, "@BASE@/x", { json = { f = print } }):match("cannot encode a function"))
  assert(err(http.get, "@BASE@/x", { output = "../escape.txt" }):match("outside the files directory"))
  assert(err(http.defaults, { retry = 5 }):match("'retry' must be true, false or a table"))
  assert(err(http.limit, "http://x/", { per_second = 1 }):match("not a host name"))
  return "ok"
end }
EOF
ok misuse

# --- redirects ---
script redirects <<'EOF'
local http = require "drudge.http"
return { run = function()
  local r = http.get("@BASE@/redirect/3")
  assert(r.status == 200 and r.url == "@BASE@/redirect/0" and r:json().redirected, r.url)
  r = http.get("@BASE@/redirect/3", { follow_redirects = false })
  assert(r.status == 302 and r.headers.location == "/redirect/2")
  local ok, e = pcall(http.get, "@BASE@/redirect/5", { max_redirects = 2 })
  assert(not ok and tostring(e):match("Maximum %(2%) redirects followed"), tostring(e))
  return "ok"
end }
EOF
ok redirects

# --- cookies within a task; auth; redaction of secrets in the audit trail ---
script session <<'EOF'
local http = require "drudge.http"
return { run = function()
  http.get("@BASE@/cookies/set?session=sess-9f8e7d6c5b4a")
  http.post("@BASE@/echo", { body = "x", verify_tls = false }) -- options that reset the handle
  local r = http.get("@BASE@/cookies")
  assert(r:json().cookie == "session=sess-9f8e7d6c5b4a", "cookie sent back: " .. r.body)
  r = http.get("@BASE@/basic-auth/alice/pw-Qx7-secret", { auth = { basic = { "alice", "pw-Qx7-secret" } } })
  assert(r.status == 200, "basic " .. r.status)
  r = http.get("@BASE@/basic-auth/alice/other", { auth = { basic = { user = "alice", pass = "wrong" } } })
  assert(r.status == 401, "wrong password")
  local token = secret "CMS_TOKEN"
  r = http.get("@BASE@/bearer/" .. token, { auth = { bearer = token } })
  assert(r.status == 200, "bearer")
  r = http.get("@BASE@/echo", { headers = { Authorization = "Token hdr-tok-55aa66bb", Cookie = "k=cookie-val-778899" } })
  assert(r:json().headers.authorization == "Token hdr-tok-55aa66bb")
  r = http.get("@BASE@/headers")
  assert(r.headers["x-multi"] == "a, b", "repeated headers joined")
  assert(r.headers["Set-Cookie"] == "first=1111; Path=/", "set-cookie: the first")
  local all = r:header_all("set-cookie")
  assert(#all == 2 and all[2] == "second=2222; Path=/", "header_all")
  assert(#r:header_all("link") == 2 and #r:header_all("nope") == 0)
  return "ok"
end }
EOF
export DRUDGE_SECRET_CMS_TOKEN=tok-ZZ-1234567890
ok session
unset DRUDGE_SECRET_CMS_TOKEN
# The script's own source (stored as the version that ran) holds these
# credentials as literals, on purpose here; everything recorded must not.
# Drop the source (the test's attacker rights) before searching the file.
sqlite3 "$DRUDGE_DB" "drop trigger script_files_no_delete; delete from script_files; vacuum;
                      pragma wal_checkpoint(truncate)"
for s in tok-ZZ-1234567890 pw-Qx7-secret hdr-tok-55aa66bb cookie-val-778899 second=2222; do
  if grep -qa -- "$s" "$DRUDGE_DB" "$DRUDGE_DB-wal" 2>/dev/null; then fail "secret $s found in the database"; else pass; fi
done
steps=$(sql "select name || ' ' || request from steps where kind='http'")
contains "$steps" '"auth":{"basic":"alice"}' "basic auth user recorded, not the password"
contains "$steps" '"Authorization":"[REDACTED:authorization]"' "Authorization header redacted"
contains "$steps" '/bearer/[REDACTED:CMS_TOKEN]' "secret in the URL redacted by the recorder"
contains "$(sql "select response from steps where name like 'GET %/cookies'")" 'session=[REDACTED:cookie]' \
  "a cookie the server set is redacted where it is echoed"
resp=$(sql "select response from steps where name like 'GET %/headers'")
contains "$resp" '["Set-Cookie","[REDACTED:set-cookie]"]' "Set-Cookie redacted in the response"

# --- retries ---
script retries <<'EOF'
local http = require "drudge.http"
return { run = function()
  local r = http.get("@BASE@/flaky?key=k1&fail=2", { retry = { attempts = 3, backoff = 0.01 } })
  assert(r.status == 200 and r.attempts == 3, "flaky: " .. r.status .. " after " .. r.attempts)
  -- Retry-After in seconds is honoured; the last 429 comes back when tries run out
  r = http.get("@BASE@/ratelimit?key=k2&after=1", { retry = { attempts = 2, backoff = 0.01 } })
  assert(r.status == 429 and r.attempts == 2)
  -- an HTTP-date works too
  r = http.get("@BASE@/ratelimit?key=k3&after=1&date=1", { retry = { attempts = 2 } })
  assert(r.status == 429 and r.attempts == 2)
  -- a Retry-After beyond max_delay ends the retries at once
  r = http.get("@BASE@/ratelimit?key=k4&after=120", { retry = { attempts = 5, max_delay = 10 } })
  assert(r.status == 429 and r.attempts == 1)
  -- only the listed statuses are retried
  r = http.get("@BASE@/flaky?key=k5&fail=1&status=500", { retry = { attempts = 3, backoff = 0.01 } })
  assert(r.status == 500 and r.attempts == 1)
  -- per-script defaults
  http.defaults{ retry = { attempts = 4, backoff = 0.01 } }
  r = http.get("@BASE@/flaky?key=k6&fail=3")
  assert(r.status == 200 and r.attempts == 4, "defaults")
  r = http.get("@BASE@/flaky?key=k7&fail=3", { retry = false })
  assert(r.status == 503 and r.attempts == 1, "retry = false overrides the defaults")
  -- a client carries its own defaults
  local api = http.client{ base_url = "@BASE@/", retry = { attempts = 2, backoff = 0.01 } }
  r = api.get("flaky?key=k8&fail=1")
  assert(r.status == 200 and r.attempts == 2, "client")
  -- transport errors: retried for GET, not for POST (no Idempotency-Key)
  local ok, e = pcall(http.get, "http://127.0.0.1:@DEAD@/g", { retry = { attempts = 2, backoff = 0.01 } })
  assert(not ok)
  ok, e = pcall(http.post, "http://127.0.0.1:@DEAD@/y", { retry = { attempts = 2, backoff = 0.01 } })
  assert(not ok)
  ok, e = pcall(http.post, "http://127.0.0.1:@DEAD@/z", { retry = { attempts = 2, backoff = 0.01 },
                                                         headers = { ["Idempotency-Key"] = "task-1" } })
  assert(not ok)
  return "ok"
end }
EOF
sed -i "s#@DEAD@#$DEAD#g" "$TMP/retries.lua"
t0=$(date +%s%N)
ok retries
t1=$(date +%s%N)
[ $(((t1 - t0) / 1000000)) -ge 1000 ] && pass || fail "Retry-After not honoured: $(((t1 - t0) / 1000000)) ms"
count() { sql "select count(*) from steps where kind='http' and name like '$1'"; }
equals "$(count '%key=k1&%')" 3 "each try is its own step"
equals "$(sql "select count(*) from steps where name like '%key=k1&%' and response like '%\"retry_in\":%'")" 2 "retried tries say so"
equals "$(count '%key=k4&%')" 1 "no retry past max_delay"
equals "$(count "%:$DEAD/g")" 2 "GET retried on connection errors"
equals "$(count "%:$DEAD/y")" 1 "POST not retried on connection errors"
equals "$(count "%:$DEAD/z")" 2 "POST with an Idempotency-Key retried"
equals "$(curl -s "$BASE/hits?key=k1")" '{"hits":3}' "server saw three tries"

# --- per-host limits: http.limit and $DRUDGE_HTTP_LIMITS ---
script limits <<'EOF'
local http = require "drudge.http"
return { run = function()
  http.limit("127.0.0.1", { per_second = 10 })
  for i = 1, 6 do http.get("@BASE@/hello") end
  return "ok"
end }
EOF
t0=$(date +%s%N)
ok limits
t1=$(date +%s%N)
[ $(((t1 - t0) / 1000000)) -ge 450 ] && pass || fail "per_second=10: 6 requests took $(((t1 - t0) / 1000000)) ms"

script limited <<'EOF'
local http = require "drudge.http"
return { run = function() for i = 1, 4 do http.get("@BASE@/hello") end return "ok" end }
EOF
echo "# test limits
127.0.0.1:$PORT per_second=5 concurrent=1   # this fixture" >"$TMP/limits.conf"
t0=$(date +%s%N)
DRUDGE_HTTP_LIMITS="$TMP/limits.conf" ok limited
t1=$(date +%s%N)
[ $(((t1 - t0) / 1000000)) -ge 550 ] && pass || fail "limits file: 4 requests took $(((t1 - t0) / 1000000)) ms"
echo "cms.example per_sec=5" >"$TMP/bad.conf"
DRUDGE_HTTP_LIMITS="$TMP/bad.conf" expect_exit 6 "$DRUDGE" run "$TMP/limited.lua"
contains "$err" "$TMP/bad.conf:1: 'per_sec=5' is not" "bad limits file names file and line"

script ratewait <<'EOF'
local http = require "drudge.http"
return { timeout = 1, run = function()
  http.limit("127.0.0.1", { per_minute = 1 })
  http.get("@BASE@/hello")
  http.get("@BASE@/hello")
end }
EOF
expect_exit 4 "$DRUDGE" run "$TMP/ratewait.lua"
contains "$err" "rate limit for 127.0.0.1" "a limit wait past the deadline fails at once"

# --- large bodies, payloads, downloads ---
script large <<'EOF'
local http = require "drudge.http"
return { run = function()
  local r = http.get("@BASE@/large?bytes=3000000")
  assert(r.status == 200 and #r.body == 3000000 and r.size == 3000000)
  r = http.get("@BASE@/binary?bytes=1000")
  assert(#r.body == 1000 and r.body:byte(256) == 255)
  r = http.get("@BASE@/large?bytes=100", { body_inline_max = 10 })
  r = http.get("@BASE@/large?bytes=200000", { body_record_max = 1000 })
  r = http.get("@BASE@/large?bytes=500000", { output = "dl/big.txt" })
  assert(r.body == nil and r.output == "dl/big.txt" and r.size == 500000)
  return "ok"
end }
EOF
mkdir -p "$FILES/dl"
ok large
equals "$(stat -c %s "$FILES/dl/big.txt")" 500000 "download written"
equals "$(stat -c %a "$FILES/dl/big.txt")" 600 "download is 0600"
[ ! -e "$FILES/dl/big.txt.part" ] && pass || fail ".part file left behind"
sha=$(sql "select response from steps where name like '%bytes=3000000'" | sed -n 's/.*"body_sha256":"\([0-9a-f]*\)".*/\1/p')
equals "$(sql "select size from payloads where sha256='$sha'")" 3000000 "large body stored as a payload"
equals "$(sql "select count(*) from steps where name like '%bytes=100' and response like '%body_sha256%'")" 1 "body_inline_max"
contains "$(sql "select response from steps where name like '%bytes=200000'")" '"body_stored":false' "body_record_max"
contains "$(sql "select response from steps where name like '%binary%'")" '"body_sha256"' "binary bodies are payloads"

# --- deterministic requests: the same script records the same bytes ---
script determ <<'EOF'
local http = require "drudge.http"
return { run = function()
  http.post("@BASE@/echo", { query = { z = 1, a = 2, m = { 3, 4 } }, json = { k = { c = 1, b = 2, a = { x = 1, y = 2 } }, j = "v" },
                             headers = { ["X-B"] = "2", ["X-A"] = "1" } })
  return "ok"
end }
EOF
ok determ
ok determ
equals "$(sql "select count(distinct request) from steps where kind='http' and name like 'POST %/echo?a=2%'")" 1 "identical request JSON"

# --- proxy variables: curl's own reading of them still applies (drudge
# tells curl "no proxy" itself only when none is set) ---
script envproxy <<'EOF'
local http = require "drudge.http"
return { run = function()
  local ok, r = pcall(http.get, "http://proxied.invalid/hello")
  return ok and ("status " .. r.status) or tostring(r)
end }
EOF
http_proxy="$BASE" expect_exit 0 "$DRUDGE" run "$TMP/envproxy.lua"
contains "$out" "status 404" "http_proxy: the request went to the proxy (the fixture), not to DNS"
http_proxy="$BASE" no_proxy=proxied.invalid expect_exit 0 "$DRUDGE" run "$TMP/envproxy.lua"
contains "$out" "resolve" "no_proxy: the host is looked up directly"
expect_exit 0 "$DRUDGE" run "$TMP/envproxy.lua"
contains "$out" "resolve" "no proxy variable: the host is looked up directly"

finish
