# The demo case-management service (drudge demo serve): bearer token, 404 for
# unknown cases, Idempotency-Key honoured, deterministic 503s, loopback only.
source "$TESTS/lib.sh"

start() { # start FAIL_RATE: starts the service, sets $pid and $base
  rm -f "$TMP/port" # else the loop below may read the previous service's port
  DRUDGE_DEMO_TOKEN=tok "$DRUDGE" demo serve --fail-rate "$1" --cases 20 >"$TMP/port" 2>"$TMP/svc.err" &
  pid=$!
  for _ in $(seq 400); do [ -s "$TMP/port" ] && break; sleep 0.05; done
  base="http://127.0.0.1:$(cat "$TMP/port")"
  wait_port "$(cat "$TMP/port")"
}
stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
trap stop EXIT
req() { # req METHOD PATH [curl args]: prints "STATUS BODY"
  local m=$1 p=$2; shift 2
  curl -s --noproxy '*' -X "$m" -o "$TMP/body" -w '%{http_code}' "$@" "$base$p"
  echo " $(cat "$TMP/body")"
}
auth=(-H 'Authorization: Bearer tok')
post=(-H 'Content-Type: application/json' -d '{"subject":"Witness statement"}')

expect_exit 2 env -u DRUDGE_DEMO_TOKEN "$DRUDGE" demo serve
contains "$err" "set DRUDGE_DEMO_TOKEN" "the token is required"
expect_exit 2 env DRUDGE_DEMO_TOKEN=x "$DRUDGE" demo serve --fail-rate 2000
contains "$err" "--fail-rate: '2000' is out of range" "bad fail rate"

start 0
ss -ltn | grep -q "127.0.0.1:$(cat "$TMP/port") " && pass || fail "not listening on loopback only"
contains "$(req GET /api/cases/CR-2026-10001)" "401 " "no token: 401"
contains "$(req GET /api/cases/CR-2026-10001 -H 'Authorization: Bearer wrong')" "401 " "wrong token: 401"
r=$(req GET /api/cases/CR-2026-10001 "${auth[@]}")
contains "$r" '200 {"id":1,"ref":"CR-2026-10001"' "known case"
contains "$r" "\"documents\":\"$base/api/cases/CR-2026-10001/documents\"" "documents link"
contains "$(req GET /api/cases/CR-2026-10021 "${auth[@]}")" '404 {"error":"no such case"}' "case 21 of 20 is unknown"
contains "$(req GET /api/cases/CR-2026-9 "${auth[@]}")" "404 " "malformed ref: 404"
contains "$(req GET /api/nothing "${auth[@]}")" "404 " "unknown endpoint"
contains "$(req POST /api/cases/CR-2026-10001/documents "${auth[@]}" -d x)" "415 " "POST needs JSON"
contains "$(req POST /api/cases/CR-2026-10001/documents "${auth[@]}" -H 'Content-Type: application/json' -d '{}')" "422 " "POST needs a subject"
contains "$(req POST /api/cases/CR-2026-10001/documents "${auth[@]}" "${post[@]}")" '201 {"id":1,' "logged"
contains "$(req POST /api/cases/CR-2026-10001/documents "${auth[@]}" "${post[@]}")" '201 {"id":2,' "no key: logged again"
k=(-H 'Idempotency-Key: email-1')
contains "$(req POST /api/cases/CR-2026-10002/documents "${auth[@]}" "${post[@]}" "${k[@]}")" '201 {"id":3,' "with a key"
contains "$(req POST /api/cases/CR-2026-10002/documents "${auth[@]}" "${post[@]}" "${k[@]}")" '200 {"id":3,"case":2,"replayed":true}' "same key: first answer, not logged twice"
contains "$(req POST /api/cases/CR-2026-10003/documents "${auth[@]}" "${post[@]}" "${k[@]}")" "422 " "same key, other case"
contains "$(req GET /api/stats "${auth[@]}")" '"documents":3,"replayed":1}' "stats"
stop
contains "$(cat "$TMP/svc.err")" "3 documents logged" "counters printed on stop"

# 503s are deterministic: two runs answer the same sequence.
for run in 1 2; do
  start 300
  seq=""
  for _ in $(seq 20); do seq+=$(req GET /api/cases/CR-2026-10005 "${auth[@]}" | cut -c1-3),; done
  stop
  eval "seq$run=\$seq"
done
equals "$seq1" "$seq2" "the 503 sequence repeats"
contains "$seq1" "503" "some requests answer 503"
contains "$seq1" "200" "some requests answer 200"

# --exit-on-eof: the service stops when its parent's pipe closes.
exec 3> >(DRUDGE_DEMO_TOKEN=tok exec "$DRUDGE" demo serve --exit-on-eof >"$TMP/port2" 2>/dev/null)
for _ in $(seq 400); do [ -s "$TMP/port2" ] && break; sleep 0.05; done
wait_port "$(cat "$TMP/port2")"
exec 3>&-
for _ in $(seq 100); do (exec 4<>"/dev/tcp/127.0.0.1/$(cat "$TMP/port2")") 2>/dev/null || break; sleep 0.05; done
(exec 4<>"/dev/tcp/127.0.0.1/$(cat "$TMP/port2")") 2>/dev/null && fail "still listening after EOF" || pass
finish
