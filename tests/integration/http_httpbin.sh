# drudge.http against httpbin (Debian's python3-httpbin), an independent peer:
# what we send is checked from what it echoes back.
source "$TESTS/lib.sh"
# curl honours proxy variables; these tests talk to loopback servers only.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
/usr/bin/python3 -c 'import httpbin.core' 2>/dev/null || { echo "python3-httpbin not installed"; exit 77; }

PORT=$(free_port)
/usr/bin/python3 -m httpbin.core --port "$PORT" >"$TMP/httpbin.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
wait_port "$PORT"
BASE="http://127.0.0.1:$PORT"

sed "s#@BASE@#$BASE#g" >"$TMP/suite.lua" <<'EOF'
local http = require "drudge.http"
local function check(what, cond, detail) if not cond then error(what .. ": " .. tostring(detail), 2) end end
return { run = function()
  -- /get: query and headers as sent
  local r = http.get("@BASE@/get", { query = { case = "R-17/2024", n = 2 }, headers = { ["X-Case"] = "R-17" } })
  local j = r:json()
  check("get status", r.status == 200, r.status)
  check("get args", j.args.case == "R-17/2024" and j.args.n == "2", r.body)
  check("get header", j.headers["X-Case"] == "R-17", r.body)
  check("get url", j.url == "@BASE@/get?case=R-17%2F2024&n=2", j.url)
  check("gzip offered", j.headers["Accept-Encoding"]:find("gzip"), j.headers["Accept-Encoding"])
  check("user agent with headers", j.headers["User-Agent"]:match("^drudge/%d"), j.headers["User-Agent"])
  j = http.get("@BASE@/get"):json()
  check("user agent", j.headers["User-Agent"]:match("^drudge/%d[^,]*$"), j.headers["User-Agent"])
  check("gzip offered without headers", j.headers["Accept-Encoding"]:find("gzip"), j.headers["Accept-Encoding"])
  -- the script's own User-Agent replaces drudge's (sent once); false removes a default
  j = http.get("@BASE@/get", { headers = { ["user-agent"] = "clerk-bot/2", ["Accept-Encoding"] = false } }):json()
  check("own user agent", j.headers["User-Agent"] == "clerk-bot/2", j.headers["User-Agent"])
  check("accept-encoding removed", j.headers["Accept-Encoding"] == nil, j.headers["Accept-Encoding"])
  j = http.get("@BASE@/get", { headers = { ["Accept-Encoding"] = "identity" } }):json()
  check("own accept-encoding", j.headers["Accept-Encoding"] == "identity", j.headers["Accept-Encoding"])

  -- /post: JSON, form, multipart
  j = http.post("@BASE@/post", { json = { subject = "Zoë's statement", pages = 3, urgent = true } }):json()
  check("post json", j.json.subject == "Zoë's statement" and j.json.pages == 3 and j.json.urgent == true, j.data)
  check("post ctype", j.headers["Content-Type"] == "application/json", j.headers["Content-Type"])
  j = http.post("@BASE@/post", { form = { a = "1", b = "x y" } }):json()
  check("post form", j.form.a == "1" and j.form.b == "x y", j.form)
  j = http.post("@BASE@/post", { multipart = { note = "hello", doc = { data = "PDF-bytes", filename = "s.pdf", type = "application/pdf" } } }):json()
  check("multipart form", j.form.note == "hello", j.form.note)
  check("multipart file", j.files.doc == "PDF-bytes", j.files.doc)
  j = http.put("@BASE@/put", { body = "plain" }):json()
  check("put", j.data == "plain", j.data)
  check("patch", http.patch("@BASE@/patch", { json = { a = 1 } }):json().json.a == 1)
  check("delete", http.delete("@BASE@/delete").status == 200)

  -- /basic-auth and /bearer
  r = http.get("@BASE@/basic-auth/alice/s3cret-pw", { auth = { basic = { "alice", "s3cret-pw" } } })
  check("basic", r.status == 200 and r:json().user == "alice", r.status)
  check("basic wrong", http.get("@BASE@/basic-auth/alice/s3cret-pw", { auth = { basic = { "alice", "no" } } }).status == 401)
  -- (this httpbin strips "Bearer " with lstrip, so the token must not start with those letters)
  r = http.get("@BASE@/bearer", { auth = { bearer = "tok-123456" } })
  check("bearer", r.status == 200 and r:json().token == "tok-123456", r.body)
  check("bearer missing", http.get("@BASE@/bearer").status == 401)

  -- /cookies: kept within the task
  r = http.get("@BASE@/cookies/set", { query = { flavour = "oatmeal" } })
  check("cookies set (after redirect)", r.status == 200 and r:json().cookies.flavour == "oatmeal", r.body)
  check("cookies kept", http.get("@BASE@/cookies"):json().cookies.flavour == "oatmeal")

  -- /redirect/N, /status/N
  r = http.get("@BASE@/redirect/3")
  check("redirect", r.status == 200 and r.url == "@BASE@/get", r.url)
  r = http.get("@BASE@/redirect/2", { follow_redirects = false })
  check("no follow", r.status == 302 and r.headers.Location == "/relative-redirect/1", r.headers.location)
  for _, s in ipairs{ 200, 201, 204, 400, 404, 418, 500, 503 } do
    r = http.get("@BASE@/status/" .. s)
    check("status " .. s, r.status == s and r:ok() == (s < 300), r.status)
  end

  -- /delay/N with a timeout
  local ok, e = pcall(http.get, "@BASE@/delay/3", { timeout = 0.5 })
  check("delay timeout", not ok and tostring(e):find("timed out", 1, true), e)
  check("delay ok", http.get("@BASE@/delay/0"):ok())

  -- /gzip: decompressed automatically
  r = http.get("@BASE@/gzip")
  check("gzip", r:json().gzipped == true and r.headers["content-encoding"] == "gzip", r.headers["content-encoding"])

  -- /response-headers: repeated headers
  r = http.get("@BASE@/response-headers", { query = { ["X-Multi"] = { "one", "two" }, ["X-One"] = "1" } })
  check("response header", r.headers["x-one"] == "1", r.headers["x-one"])
  local all = r:header_all("X-Multi")
  check("repeated", #all == 2 and all[1] == "one" and all[2] == "two", #all)
  check("joined", r.headers["x-multi"] == "one, two", r.headers["x-multi"])
  return "ok"
end }
EOF
expect_exit 0 "$DRUDGE" run "$TMP/suite.lua"
equals "$out" '"ok"' "httpbin suite"
# The basic-auth password and the bearer token never reach the database's
# record. (The script's own source, stored as the version that ran, holds
# them as literals on purpose here: drop it first, as an attacker could.)
sqlite3 "$DRUDGE_DB" "drop trigger script_files_no_delete; delete from script_files; vacuum;
                      pragma wal_checkpoint(truncate)"
for s in s3cret-pw tok-123456; do
  if grep -qa -- "$s" "$DRUDGE_DB" "$DRUDGE_DB-wal" 2>/dev/null; then fail "secret $s in the database"; else pass; fi
done
contains "$(sql "select response from steps where name like 'GET %/bearer'")" '[REDACTED:bearer]' "echoed token redacted"
finish
