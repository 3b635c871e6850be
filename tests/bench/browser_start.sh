# Where a cold browser.open goes (issue 18: browser.open to the first page
# under 1 s): chromedriver's start (spawn until it listens), the session
# (chromedriver starts Chromium and connects to it), and the first page, each
# timed on its own through chromedriver's HTTP API with the flags drudge
# sends, beside variants of those flags, in paired rounds (each round runs
# every variant once, in turn). Also the CPU time of the whole tree
# (chromedriver and every Chromium process, reaped), which the machine's
# load does not stretch as it stretches wall time.
# Env: ROUNDS (default 5).
set -euo pipefail
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
cd "$TMP"
ROUNDS=${ROUNDS:-5}
SHELL_BIN=/usr/lib/chromium/chromium-headless-shell
[ -x "$SHELL_BIN" ] || { echo "no chromium-headless-shell: nothing to measure"; exit 0; }
"$BUILD/tests/browser_server" >server.out 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -s server.out ] && break; sleep 0.1; done
URL="http://127.0.0.1:$(awk '{print $2}' server.out)/table"
# drudge's flags (connectors/browser/proc.c, capabilities)
BASE='"--no-sandbox","--remote-debugging-pipe","--disable-gpu","--no-first-run","--no-default-browser-check","--disable-extensions","--disable-background-networking","--disable-sync","--disable-component-update","--disable-default-apps","--password-store=basic","--disable-features=Translate,MediaRouter,OptimizationHints","--lang=en-US","--window-size=1280,900"'
declare -A EXTRA=(
  [drudge]=''
  [single-process]=',"--single-process"'
  [no-zygote]=',"--no-zygote"'
  [no-crashpad]=',"--disable-crash-reporter","--disable-breakpad"'
)
VARIANTS="drudge single-process no-zygote no-crashpad"
now() { date +%s.%N; }
# start VARIANT: one cold open; prints "driver session page total cpu" (s).
start() {
  local prof t0 t1 t2 t3 port sid caps
  prof=$(mktemp -d "$TMP/profile.XXXXXX")
  t0=$(now)
  /usr/bin/time -o cpu.txt -f '%U %S' chromedriver --port=0 --log-level=SEVERE >driver.out 2>&1 &
  local tp=$!
  until grep -q 'successfully on port' driver.out 2>/dev/null; do sleep 0.005; done
  t1=$(now)
  port=$(grep -o 'successfully on port [0-9]*' driver.out | grep -o '[0-9]*$')
  caps='{"capabilities":{"alwaysMatch":{"browserName":"chrome-headless-shell","pageLoadStrategy":"normal","goog:chromeOptions":{"binary":"'$SHELL_BIN'","args":['$BASE${EXTRA[$1]}',"--user-data-dir='$prof'"]}}}}'
  sid=$(curl -s -d "$caps" "http://127.0.0.1:$port/session" | python3 -c 'import json,sys; print(json.load(sys.stdin)["value"]["sessionId"])')
  t2=$(now)
  curl -s -d "{\"url\":\"$URL\"}" "http://127.0.0.1:$port/session/$sid/url" >/dev/null
  t3=$(now)
  curl -s -X DELETE "http://127.0.0.1:$port/session/$sid" >/dev/null
  curl -s "http://127.0.0.1:$port/shutdown" >/dev/null || true
  wait $tp 2>/dev/null || true
  rm -rf "$prof"
  awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" -v cpu="$(awk '{ print $1 + $2 }' cpu.txt)" \
    'BEGIN { printf "%.3f %.3f %.3f %.3f %.3f\n", b - a, c - b, d - c, d - a, cpu }'
}
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
for ((r = 1; r <= ROUNDS; r++)); do
  for v in $VARIANTS; do
    echo "$v $(start "$v")" >>times.txt
  done
done
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
printf '%-15s %8s %8s %8s %8s %8s   (medians of %d paired rounds, s)\n' variant driver session page total cpu "$ROUNDS"
for v in $VARIANTS; do
  printf '%-15s' "$v"
  for c in 2 3 4 5 6; do printf ' %8s' "$(awk -v v="$v" -v c="$c" '$1 == v { print $c }' times.txt | median)"; done
  echo
done
# paired ratios of total and CPU against drudge's flags, per round
for v in $VARIANTS; do
  [ "$v" = drudge ] && continue
  paste <(awk '$1 == "drudge" { print $5, $6 }' times.txt) <(awk -v v="$v" '$1 == v { print $5, $6 }' times.txt) |
    awk -v v="$v" '{ t = t sprintf(" %.2f", $3 / $1); c = c sprintf(" %.2f", $4 / $2) } END { printf "%s / drudge, per round: total%s; cpu%s\n", v, t, c }'
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
