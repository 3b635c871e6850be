# Sourced by the browser tests after tests/lib.sh: skips the test (77)
# without chromedriver; gives drudge a state directory of the test's own
# (DRUDGE_STATE_DIR: chromedriver's log, Chromium's profiles) and a files
# directory; starts the fixture site (tests/fixtures/browser_server.c),
# stopped on exit, and sets PORT and URL to it; defines ours().
command -v chromedriver >/dev/null || { echo "chromedriver not installed: skipped"; exit 77; }
export DRUDGE_STATE_DIR="$TMP/state"
mkdir -p files
"$BUILD/tests/browser_server" >server.out 2>server.err &
server=$!
trap 'kill $server 2>/dev/null' EXIT
for _ in $(seq 50); do [ -s server.out ] && break; sleep 0.1; done
PORT=$(awk '{print $2}' server.out)
URL="http://127.0.0.1:$PORT"

# Our processes: those whose command line names the state directory
# (chromedriver's log, Chromium's profile); zombies do not count.
ours() { ps -eo pid=,stat=,args= | awk -v d="$DRUDGE_STATE_DIR" 'index($0, d) && $2 !~ /^Z/' | grep -v awk || true; }
