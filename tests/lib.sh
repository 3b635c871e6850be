# Helpers for shell tests: source "$TESTS/lib.sh".
set -euo pipefail
export DRUDGE_DB="$TMP/drudge.db"
unset DRUDGE_SECRETS DRUDGE_FILES

fails=0
passes=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
pass() { passes=$((passes + 1)); }

# expect_exit CODE CMD...: runs CMD, captures stdout/stderr into $out/$err, checks the code.
expect_exit() {
  local want=$1; shift
  set +e
  "$@" >"$TMP/.out" 2>"$TMP/.err"
  local got=$?
  set -e
  out=$(cat "$TMP/.out"); err=$(cat "$TMP/.err")
  if [ "$got" != "$want" ]; then
    fail "exit $got, want $want: $*"$'\n'"stdout: $out"$'\n'"stderr: $err"
  else
    pass
  fi
}

# contains HAYSTACK NEEDLE WHAT
contains() {
  case "$1" in
    *"$2"*) pass ;;
    *) fail "$3: expected to contain '$2', got: $1" ;;
  esac
}

# equals GOT WANT WHAT
equals() {
  if [ "$1" == "$2" ]; then pass; else fail "$3: got '$1', want '$2'"; fi
}

# sql QUERY: runs a query against the test database.
sql() { sqlite3 "$DRUDGE_DB" "$@"; }

# wait_sql QUERY WANT: polls the database (10 s at most) until QUERY prints WANT.
wait_sql() {
  for _ in $(seq 100); do
    [ "$(sql "$1" 2>/dev/null)" = "$2" ] && return 0
    sleep 0.1
  done
  return 1
}

# A free TCP port on loopback.
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_port PORT [SECONDS]: waits until something listens on 127.0.0.1:PORT.
wait_port() {
  local port=$1 secs=${2:-10} i
  for ((i = 0; i < secs * 20; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "nothing listens on port $port after ${secs}s" >&2
  return 1
}

finish() {
  echo "$passes passed, $fails failed"
  [ "$fails" -eq 0 ]
}
