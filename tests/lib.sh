# Helpers for shell tests: source "$TESTS/lib.sh".
set -euo pipefail
export DRUDGE_DB="$TMP/drudge.db"
unset DRUDGE_SECRETS DRUDGE_FILES

# Under the label pg (tests/CMakeLists.txt) a test runs against the suite's
# own PostgreSQL (tests/pg/server.sh): DRUDGE_TEST_PG names its directory,
# and each test gets a fresh database of its own.
if [ -n "${DRUDGE_TEST_PG:-}" ]; then
  source "$DRUDGE_TEST_PG/env"
  PSQL="$DRUDGE_PG_BIN/psql"
  pg_db="t_$(basename "$TMP" | tr -c 'a-zA-Z0-9\n' '_' | tr 'A-Z' 'a-z')"
  # pg_url DB: the URL of database DB on the test server.
  pg_url() { echo "postgresql:///$1?host=$DRUDGE_PG_HOST&port=$DRUDGE_PG_PORT&user=$DRUDGE_PG_USER"; }
  # pg_admin SQL...: runs statements as the server's superuser (database postgres).
  pg_admin() { "$PSQL" -qAtX -v ON_ERROR_STOP=1 "$(pg_url postgres)" "$@"; }
  pg_admin -c "CREATE DATABASE $pg_db" >/dev/null
  # SQLite's functions that the tests' queries use, for their own database.
  "$PSQL" -qAtX -v ON_ERROR_STOP=1 "$(pg_url "$pg_db")" -f "$TESTS/pg/sqlite_compat.sql" >/dev/null
  export DRUDGE_DB="$(pg_url "$pg_db")"
  export PGCONNECT_TIMEOUT=10
  # The files directory a PostgreSQL database's commands use (cli.c).
  export DRUDGE_FILES="$TMP/drudge.db.files"
fi

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

# sql QUERY: runs a query against the test database (SQLite's output:
# columns joined by '|'; psql prints the same under the label pg).
if [ -n "${DRUDGE_TEST_PG:-}" ]; then
  sql() { "$PSQL" -qAtX -F'|' -v ON_ERROR_STOP=1 "$DRUDGE_DB" -c "$@"; }
else
  sql() { sqlite3 "$DRUDGE_DB" "$@"; }
fi
# on_pg: true when the test runs against PostgreSQL.
on_pg() { [ -n "${DRUDGE_TEST_PG:-}" ]; }

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
