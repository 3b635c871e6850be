# drudge audit evidence TASK --out DIR: every payload of a task (HTTP bodies
# here: a PNG, JSON, a PDF named by the server) written out with a manifest
# naming each file's step, kind and SHA-256; an independent checker (Python's
# standard library) re-hashes the files against the manifest and the manifest
# against the chain's rows. SQLite and PostgreSQL (label pg).
source "$TESTS/lib.sh"
port=$(free_port)
/usr/bin/python3 - "$port" >server.log 2>&1 <<'PY' &
import http.server, sys
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
class H(http.server.BaseHTTPRequestHandler):
    def reply(self, ctype, body, extra=()):
        self.send_response(200); self.send_header("Content-Type", ctype)
        for k, v in extra: self.send_header(k, v)
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def do_GET(self):
        if self.path == "/shot.png": self.reply("image/png", PNG)
        else: self.reply("application/pdf", b"%PDF-1.4 " + b"x" * 3000)
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.reply("application/json", b'{"case":"C-7","filed":true,' + b'"pad":"' + b"y" * 3000 + b'"}')
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
srv=$!
trap 'kill $srv 2>/dev/null || true' EXIT
wait_port "$port"
cat > ev.lua <<LUA
local http = require("drudge.http")
http.defaults{ body_inline_max = 0 } -- every body a payload
return { run = function(task)
  step("fetch", function()
    http.get("http://127.0.0.1:$port/shot.png")
    http.get("http://127.0.0.1:$port/doc")
  end)
  http.post("http://127.0.0.1:$port/cases", { body = string.rep("z", 5000) })
  return true
end }
LUA
expect_exit 0 "$DRUDGE" -q run ev.lua
expect_exit 0 "$DRUDGE" audit evidence 1 --out case-1
contains "$out" "and manifest.json in case-1" "evidence says where"
equals "$(stat -c %a case-1)" "700" "the directory is private"
equals "$(stat -c %a case-1/manifest.json)" "600" "the files are private"
ls case-1 > files.txt
contains "$(cat files.txt)" ".png" "the screenshot-like body as .png"
contains "$(cat files.txt)" ".pdf" "the PDF as .pdf"
contains "$(cat files.txt)" ".json" "the JSON reply as .json"

# The independent checker: every file's SHA-256 is the manifest's, and each
# manifest entry is referenced by its step row on the chain (export).
expect_exit 0 "$DRUDGE" audit export --task 1 -o export.jsonl
expect_exit 0 /usr/bin/python3 - case-1 export.jsonl <<'PY'
import hashlib, json, os, sys
d, export = sys.argv[1], sys.argv[2]
m = json.load(open(os.path.join(d, "manifest.json")))
rows = {r["id"]: r for r in map(json.loads, open(export))}
n = 0
for f in m["files"]:
    data = open(os.path.join(d, f["file"]), "rb").read()
    assert hashlib.sha256(data).hexdigest() == f["sha256"], f["file"] + ": hash"
    assert len(data) == f["size"], f["file"] + ": size"
    row = rows[f["step_id"]]
    assert f["sha256"] in (row["request"] or "") + (row["response"] or ""), f["file"] + ": not in its step"
    assert (row["kind"], row["seq"], row["attempt"]) == (f["kind"], f["seq"], f["attempt"]), f["file"]
    n += 1
extra = set(os.listdir(d)) - {"manifest.json"} - {f["file"] for f in m["files"]}
assert not extra, extra
print(f"ok: {n} files")
PY
contains "$out" "ok: 4 files" "4 payloads (3 replies, 1 request body), every hash checks"
# audit show --full prints requests and responses under each step.
expect_exit 0 "$DRUDGE" audit show 1 --full
contains "$out" "request:  {\"method\":\"POST\"" "show --full: the request"
contains "$out" 'response: {"status":200' "show --full: the response"
contains "$out" '"body_sha256":"' "show --full: the payload reference"
expect_exit 0 "$DRUDGE" audit show 1
[[ "$out" != *"response:"* ]] && pass || fail "without --full, no responses"
expect_exit 1 "$DRUDGE" audit evidence 1 --out case-1
contains "$err" "it exists" "never overwrites"
expect_exit 1 "$DRUDGE" audit evidence 99 --out none
contains "$err" "no task #99" "unknown task"
finish
