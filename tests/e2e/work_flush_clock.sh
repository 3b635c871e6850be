# The early flush runs by the clock: a script POSTs to a local server, then
# waits on a port that never answers (100 s); the POST it had made reaches
# the audit chain while it waits (taken while no later step ended: the
# worker was blocked in the call); killed with kill -9 then, the retry sees
# the POST in task.previous.
# The same for `drudge run`. SQLite and PostgreSQL (label pg).
source "$TESTS/lib.sh"
post_port=$(free_port)
dead_port=$(free_port)
# A server that answers POSTs with 201, and a port that accepts connections
# but never says anything.
/usr/bin/python3 - "$post_port" "$dead_port" >servers.log 2>&1 <<'PY' &
import http.server, socket, sys, threading, time
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(201); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a): pass
dead = socket.socket(); dead.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
dead.bind(("127.0.0.1", int(sys.argv[2]))); dead.listen(16)
threading.Thread(target=http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever,
                 daemon=True).start()
time.sleep(600)
PY
servers=$!
trap 'kill $servers 2>/dev/null || true' EXIT
wait_port "$post_port"
wait_port "$dead_port"

cat > post.lua <<LUA
local http = require("drudge.http")
return {
  max_attempts = 3, timeout = 120,
  run = function(task)
    if task.attempt > 1 then
      local names = {}
      for _, s in ipairs(task.previous[1].steps) do names[#names + 1] = s.kind .. " " .. s.name end
      return { previous = task.previous[1].outcome, steps = table.concat(names, ",") }
    end
    local r = http.post("http://127.0.0.1:$post_port/cases", { body = "case 7" })
    assert(r.status == 201)
    http.get("http://127.0.0.1:$dead_port/never", { timeout = 100, retry = { attempts = 1 } })
    return "unreachable"
  end,
}
LUA
post_name="POST http://127.0.0.1:$post_port/cases"

# drudge work, killed 3.5 s in: nothing ended after the POST.
expect_exit 0 "$DRUDGE" -q enqueue post.lua --key case-7
"$DRUDGE" -q work --lease 2s >work1.out 2>&1 & pid=$!
wait_sql "select count(*) from task_state where state = 'running'" 1 || fail "never ran"
# The POST's step reaches the chain about a second after it ends (the
# writer's clock), while the GET still waits (100 s): wait for it, not a
# fixed 3.5 s that a loaded machine can overrun.
wait_sql "select count(*) from steps where task_id = 1 and attempt = 1" 1 || true
equals "$(sql "select kind || ' ' || name || ' ' || outcome from steps where task_id = 1 and attempt = 1")" \
  "http $post_name ok" "the POST is on the chain while the worker waits"
kill -9 $pid
wait $pid 2>/dev/null || true
sleep 2.2 # the lease runs out
expect_exit 0 "$DRUDGE" -q work --until-empty --backoff-base 0
equals "$(sql "select state, attempts from tasks where id = 1")" "done|2" "done on the second attempt"
out_json=$(sql "select output from tasks where id = 1")
contains "$out_json" '"previous":"lost"' "the retry sees the lost attempt"
contains "$out_json" "\"steps\":\"task post,http $post_name\"" "and the POST it had made"
equals "$(sql "select count(*) from steps where task_id = 1 and attempt = 1 and kind = 'http'")" "1" "once"
expect_exit 0 "$DRUDGE" audit verify

# drudge run, killed 3.5 s in.
"$DRUDGE" -q run post.lua --key case-8 >run.out 2>&1 & pid=$!
wait_sql "select count(*) from task_state where id = 2 and state = 'running'" 1 || fail "the run never started"
wait_sql "select count(*) from steps where task_id = 2 and attempt = 1" 1 || true
equals "$(sql "select kind || ' ' || name from steps where task_id = 2 and attempt = 1")" \
  "http $post_name" "the run's POST is on the chain while it waits"
kill -9 $pid
wait $pid 2>/dev/null || true
expect_exit 0 "$DRUDGE" -q work --until-empty --backoff-base 0
equals "$(sql "select outcome from attempts where task_id = 2 and n = 1")" "lost" "the killed run's attempt is lost"
contains "$(sql "select output from tasks where id = 2")" "http $post_name" "its retry sees the POST"
expect_exit 0 "$DRUDGE" audit verify
finish
