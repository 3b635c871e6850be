# drudge audit export --payloads DIR: every payload the exported rows
# reference is written once into DIR as SHA256.EXT and listed in its row; an
# independent checker (Python's standard library) re-hashes every file,
# finds each reference of each row in its list, and re-checks the chain
# links of the rows. A pruned payload is listed as pruned. SQLite and
# PostgreSQL (label pg).
source "$TESTS/lib.sh"
port=$(free_port)
/usr/bin/python3 - "$port" >server.log 2>&1 <<'PY' &
import http.server, sys
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
class H(http.server.BaseHTTPRequestHandler):
    def reply(self, ctype, body):
        self.send_response(200); self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def do_GET(self):
        if self.path == "/shot.png": self.reply("image/png", PNG)
        else: self.reply("application/pdf", b"%PDF-1.4 " + self.path.encode() * 400)
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.reply("application/json", b'{"filed":true,"pad":"' + b"y" * 3000 + b'"}')
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
  http.get("http://127.0.0.1:$port/shot.png")   -- the same bytes in every task: one file
  http.get("http://127.0.0.1:$port/doc/" .. task.input.n)
  http.post("http://127.0.0.1:$port/cases", { body = string.rep("z", 5000) })
  return true
end }
LUA
for n in 1 2 3; do expect_exit 0 "$DRUDGE" enqueue ev.lua --input "{\"n\":$n}"; done
expect_exit 0 "$DRUDGE" -q work --until-empty
expect_exit 0 "$DRUDGE" audit export -o all.jsonl --payloads pay
contains "$err" "to pay" "says where the payloads went"
equals "$(stat -c %a pay)" "700" "the payload directory is private"
equals "$(stat -c %a "$(ls -d pay/* | head -1)")" "600" "payload files are private"
equals "$(ls pay | wc -l)" "6" "one file per distinct payload (1 PNG, 3 PDFs, 1 request body, 1 reply)"

check() {
/usr/bin/python3 - "$1" "$2" "${3:-all}" <<'PY'
import hashlib, json, os, re, sys
export, d = sys.argv[1], sys.argv[2]
rows = [json.loads(l) for l in open(export)]
files = set(os.listdir(d))
used, pruned, prev = set(), 0, None
for r in rows:
    text = (r["request"] or "") + (r["response"] or "")
    refs = set(re.findall(r'"(?:[a-z_]*_)?sha256":"([0-9a-f]{64})"', text))
    listed = {p["sha256"]: p for p in r.get("payloads", [])}
    assert set(listed) >= refs, "row %d: references %s not listed" % (r["id"], refs - set(listed))
    for sha, p in listed.items():
        assert sha in text, "row %d lists %s it does not reference" % (r["id"], sha)
        if p.get("pruned"):
            assert p["file"] is None; pruned += 1; continue
        assert p["file"].startswith(sha) and p["file"] in files, p
        data = open(os.path.join(d, p["file"]), "rb").read()
        assert hashlib.sha256(data).hexdigest() == sha, p["file"] + ": hash"
        assert len(data) == p["size"], p["file"] + ": size"
        used.add(p["file"])
    if prev is not None and r["id"] == prev["id"] + 1:
        assert r["prev_hash"] == prev["hash"], "row %d: chain link" % r["id"]
    prev = r
assert used == files or (sys.argv[3] == "some" and used < files), files - used
print("ok: %d rows, %d files, %d pruned" % (len(rows), len(used), pruned))
PY
}
expect_exit 0 check all.jsonl pay
contains "$out" "ok: " "every payload file re-hashes and every reference is listed"

# A filtered export into the same directory: the files are there already.
expect_exit 0 "$DRUDGE" audit export --task 2 -o t2.jsonl --payloads pay
contains "$err" "wrote 0 payload files" "content-addressed: nothing written twice"
expect_exit 0 check t2.jsonl pay some
contains "$out" "ok: " "a filtered export checks too"
# Without --payloads the rows are as before.
expect_exit 0 "$DRUDGE" audit export -o plain.jsonl
if grep -q '"payloads"' plain.jsonl; then fail "plain export lists payloads"; else pass; fi

# Pruned payloads are listed as pruned, without a file.
expect_exit 0 "$DRUDGE" audit prune --payloads-older-than 0s
expect_exit 0 "$DRUDGE" audit export -o pruned.jsonl --payloads pay2
contains "$err" "wrote 0 payload files" "pruned: no bytes to write"
expect_exit 0 /usr/bin/python3 -c '
import json, sys
ps = [p for l in open("pruned.jsonl") for p in json.loads(l).get("payloads", [])]
assert ps and all(p["pruned"] and p["file"] is None for p in ps), ps
print("ok", len(ps))'

# Bad input.
expect_exit 2 "$DRUDGE" audit export --format csv --payloads pay3
contains "$err" "--payloads needs --format jsonl" "CSV has no room"
touch afile
expect_exit 1 "$DRUDGE" audit export -o x.jsonl --payloads afile/sub
contains "$err" "afile/sub" "an unusable directory is named"
finish
