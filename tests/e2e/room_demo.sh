# `drudge demo --serve ADDR` leaves the control room running on the demo's
# database and prints its address and how to log in.
source "$TESTS/lib.sh"
"$DRUDGE" demo --count 20 -j 2 --serve 127.0.0.1:0 > demo.out 2> demo.err &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 600); do grep -q 'drudge serve: http' demo.out 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's|drudge serve: \(http://[^ ]*/\).*|\1|p' demo.out)
contains "$url" "http://127.0.0.1:" "the demo prints the control room's address"
pw=$(sed -n 's/.*log in as demo, password \([0-9a-f]*\) .*/\1/p' demo.out)
equals "${#pw}" "24" "and a password for the user demo"
code=$(curl -s -o body.out -w '%{http_code}' -c jar -H 'Content-Type: application/json' \
  --data-binary "{\"user\":\"demo\",\"password\":\"$pw\"}" "${url}api/v1/login")
equals "$code" "200" "which logs in"
code=$(curl -s -o body.out -w '%{http_code}' -b jar "${url}api/v1/status")
contains "$(cat body.out)" '"script":"log_email_to_case"' "the demo's tasks are there"
kill $pid
wait $pid || true
trap - EXIT
finish
