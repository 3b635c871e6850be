# drudge audit show TASK --html: the printable case record, checked in a real
# browser (headless Chromium): the screenshot a step recorded is rendered
# from its data: URI with the bytes whose SHA-256 is on the chain, the steps
# form a tree under their parents with the outcomes of the chain, the verify
# status and the chain head are those of `audit verify`, operator steps are
# listed, a forged row turns the record's verdict red, the file is 0600.
source "$TESTS/lib.sh"
command -v chromium >/dev/null || { echo "chromium not installed"; exit 77; }
port=$(free_port)
/usr/bin/python3 - "$port" >server.log 2>&1 <<'PY' &
import http.server, struct, sys, zlib
def png(w, h, rgb):  # a solid colour no page element uses: found again in the browser
    raw = (b"\0" + bytes(rgb) * w) * h
    def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
PNG = png(240, 130, (255, 0, 255))
class H(http.server.BaseHTTPRequestHandler):
    def reply(self, ctype, body):
        self.send_response(200); self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def do_GET(self):
        self.reply("image/png", PNG) if self.path == "/shot.png" else self.reply("application/json", b'{"case":"C-7"}')
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0))); self.reply("application/json", b'{"filed":true}')
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
srv=$!
trap 'kill $srv 2>/dev/null || true' EXIT
wait_port "$port"
cat > case.lua <<LUA
local http = require("drudge.http")
http.defaults{ body_inline_max = 0 }
return { run = function(task)
  log.info("looking up case " .. task.input.case)
  step("capture", function()
    http.get("http://127.0.0.1:$port/shot.png")
    step("lookup", function() http.get("http://127.0.0.1:$port/case") end)
  end)
  if task.attempt == 1 then error("portal said: try again later") end
  http.post("http://127.0.0.1:$port/cases", { body = "x" })
  return { filed = true, case = task.input.case }
end }
LUA
cat > bad.lua <<'LUA'
return { run = function(task) fail("no such case <" .. task.input.case .. ">") end }
LUA
expect_exit 0 "$DRUDGE" enqueue case.lua --input '{"case":"C-7"}' --key C-7
expect_exit 0 "$DRUDGE" enqueue bad.lua --input '{"case":"X-1"}'
for i in 1 2 3; do "$DRUDGE" -q work --until-empty --backoff-base 10ms >/dev/null 2>&1 || true; sleep 0.2; done
equals "$(sql "select state||','||attempts from tasks order by id" | tr '\n' ' ')" "done,2 failed,1 " "task states"
expect_exit 0 "$DRUDGE" resolve 2 --note "called the court: case X-1 was withdrawn"

# The record: private, self-contained, whole.
echo stale > rec1.html; chmod 644 rec1.html
expect_exit 0 "$DRUDGE" audit show 1 --html --out rec1.html
contains "$err" "case record of task #1 in rec1.html" "says where"
equals "$(stat -c %a rec1.html)" "600" "the record is private (also when the file existed)"
expect_exit 0 "$DRUDGE" audit show 2 --html --out rec2.html
expect_exit 0 "$DRUDGE" audit show 1 --html
equals "$(printf %s "$out" | grep -c 'data:image/png;base64,')" "2" "stdout: both attempts' screenshots inline"
if grep -Eq '(src|href)="(https?:|//|file:)' rec1.html; then fail "the record fetches something"; else pass; fi
expect_exit 0 "$DRUDGE" audit verify --json
verify_json=$out

# In the browser: a screenshot for people (and for the reviewer to look at),
# and the DOM after rendering, with a probe that reports each image's decoded
# size (a broken data: URI decodes to 0x0).
profile=$(mktemp -d "$TMP/chromium.XXXXXX")
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
       --disable-background-networking --disable-component-update --disable-sync
       --user-data-dir="$profile")
timeout 60 chromium "${flags[@]}" --screenshot="$TMP/record.png" --window-size=1200,1800 \
  "file://$TMP/rec1.html" >/dev/null 2>&1 || true
if [ -s "$TMP/record.png" ] && [ "$(head -c 8 "$TMP/record.png" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ]; then
  pass
else
  fail "no PNG screenshot of the case record"
fi
for n in 1 2; do
  sed 's|</body>|<script>document.body.setAttribute("data-images", [...document.images].map(i => i.complete + ":" + i.naturalWidth + "x" + i.naturalHeight).join(" "))</script></body>|' \
    rec$n.html > probe$n.html
  timeout 60 chromium "${flags[@]}" --dump-dom "file://$TMP/probe$n.html" >dom$n.html 2>/dev/null || true
done
expect_exit 0 "$DRUDGE" audit export --task 1 -o export1.jsonl
expect_exit 0 "$DRUDGE" audit export --task 2 -o export2.jsonl
expect_exit 0 "$DRUDGE" audit evidence 1 --out ev1
got=$(/usr/bin/python3 - dom1.html dom2.html export1.jsonl export2.jsonl ev1/manifest.json "$verify_json" <<'PY'
import base64, hashlib, json, re, sys
from html.parser import HTMLParser
class P(HTMLParser):
    def __init__(s):
        super().__init__(); s.stack, s.steps, s.ids, s.imgs, s.body, s.ops = [], [], {}, [], {}, []
        s.cur_id, s.text = None, ""
    def handle_starttag(s, tag, attrs):
        a = dict(attrs)
        if tag == "body": s.body = a
        if tag == "li": s.stack.append(None)
        if tag == "div" and "data-seq" in a:
            parent = next((x for x in reversed(s.stack[:-1]) if x), None)
            st = dict(a, parent=parent); s.steps.append(st); s.stack[-1] = st
        if tag == "img": s.imgs.append(a)
        if tag == "figure": s.fig = a
        if tag == "tr" and "data-action" in a: s.ops.append(a["data-action"])
        if "id" in a and tag in ("span", "code", "td", "div", "section", "pre", "p"):
            s.cur_id, s.text = a["id"], ""; s.ids[a["id"]] = dict(a)
    def handle_endtag(s, tag):
        if tag == "li": s.stack.pop()
        if s.cur_id and tag in ("span", "code", "td", "div", "pre"):
            s.ids[s.cur_id]["text"] = s.text.strip(); s.cur_id = None
    def handle_data(s, d):
        if s.cur_id: s.text += d
def parse(f):
    p = P(); p.feed(open(f, encoding="utf-8").read()); return p
p1, p2 = parse(sys.argv[1]), parse(sys.argv[2])
rows1 = [json.loads(l) for l in open(sys.argv[3])]
rows2 = [json.loads(l) for l in open(sys.argv[4])]
manifest = json.load(open(sys.argv[5]))
verify = json.loads(sys.argv[6])
bad = []
# Every step row of the task is on the page, with its outcome, under its parent.
chain = {(r["attempt"], r["seq"]): r for r in rows1 if r["attempt"] > 0}
page = {(int(s["data-attempt"]), int(s["data-seq"])): s for s in p1.steps}
if set(chain) != set(page): bad.append("steps: chain %s page %s" % (sorted(chain), sorted(page)))
for k, r in chain.items():
    s = page.get(k)
    if not s: continue
    if s["data-outcome"] != r["outcome"]: bad.append("%s outcome %s vs %s" % (k, s["data-outcome"], r["outcome"]))
    want_parent = (k[0], r["parent"]) if r["parent"] else None
    got_parent = (int(s["parent"]["data-attempt"]), int(s["parent"]["data-seq"])) if s["parent"] else None
    if want_parent != got_parent: bad.append("%s nested under %s, chain says %s" % (k, got_parent, want_parent))
# The images: decoded by the browser at their real size, and their bytes are
# the payload the chain names (and the evidence manifest's).
if p1.body.get("data-images") != "true:240x130 true:240x130": bad.append("images decoded: %r" % p1.body.get("data-images"))
png_shas = {f["sha256"] for f in manifest["files"] if f["content_type"].startswith("image/png")}
for img in p1.imgs:
    b = base64.b64decode(img["src"].split(",", 1)[1])
    h = hashlib.sha256(b).hexdigest()
    if h not in png_shas: bad.append("image bytes %s not the recorded screenshot %s" % (h, png_shas))
    if not any(h in (r["response"] or "") for r in rows1): bad.append("image %s not referenced on the chain" % h)
# The verdict and the head are audit verify's.
v = p1.ids.get("integrity", {})
if v.get("data-verified") != "true": bad.append("verdict %r" % v)
if p1.ids.get("head-hash", {}).get("text") != verify["head"]: bad.append("head %r vs %r" % (p1.ids.get("head-hash"), verify["head"]))
for k, want in (("f-state", "done"), ("f-key", "C-7"), ("f-attempts", "2 (of at most 3)")):
    if p1.ids.get(k, {}).get("text") != want: bad.append("%s: %r" % (k, p1.ids.get(k)))
if len(p1.ids.get("f-version", {}).get("text", "")) != 64: bad.append("no script version")
if '"filed":true' not in p1.ids.get("f-output", {}).get("text", ""): bad.append("output %r" % p1.ids.get("f-output"))
if "no-operators" not in p1.ids: bad.append("task 1 has operator actions?")
# Task 2: failed, resolved by hand: the note, and the operator step.
if p2.ids.get("f-resolved-note", {}).get("text") != "called the court: case X-1 was withdrawn": bad.append("note %r" % p2.ids.get("f-resolved-note"))
if p2.ops != ["resolve"]: bad.append("operator actions %r" % p2.ops)
if "no such case <X-1>" not in p2.ids.get("f-error", {}).get("text", ""): bad.append("error %r" % p2.ids.get("f-error"))
print("\n".join(bad) if bad else "ok %d steps, %d images" % (len(page), len(p1.imgs)))
PY
)
equals "$got" "ok 13 steps, 2 images" "the rendered record matches the chain"

# A forged resolution note: the next record says the trail does not verify,
# naming the task and the field.
sql "update tasks set resolved_note='forged note' where id=2"
expect_exit 0 "$DRUDGE" audit show 2 --html --out forged.html
contains "$(cat forged.html)" 'data-verified="false"' "a forgery turns the verdict"
contains "$(cat forged.html)" "does NOT verify" "said in words"
contains "$(grep -o '<pre id="problems">[^<]*' forged.html)" "task 2" "the problem names the task"
contains "$(grep -o '<pre id="problems">[^<]*' forged.html)" "resolved_note" "... and the field"

# Bad input.
expect_exit 1 "$DRUDGE" audit show 99 --html --out none.html
contains "$err" "no task #99" "unknown task"
[ ! -e none.html ] && pass || fail "a failed record leaves no file"
expect_exit 2 "$DRUDGE" audit show 1 --html --attempt 1
contains "$err" "--html shows every attempt" "--html with --attempt"
expect_exit 2 "$DRUDGE" audit show 1 --out x.html
contains "$err" "--out is for --html" "--out without --html"
finish
