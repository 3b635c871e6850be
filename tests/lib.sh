# Helpers for shell tests: source "$TESTS/lib.sh".
set -euo pipefail

# A command that fails outside a check ends the test at once (set -e), with
# no check's message; say which command failed, where, and through which
# functions, so that a failure seen once under load is not a bare exit code.
# -E: the trap also fires in functions. Only where set -e is on (not in
# expect_exit's run of a command that is meant to fail); a subshell's or a
# command substitution's failure is left to the command that ran it.
set -E
on_error() {
  local rc=$? i
  [[ $- == *e* ]] && [ "$BASHPID" = "$$" ] || return 0
  echo "ERROR: exit $rc from '$BASH_COMMAND' at ${BASH_SOURCE[1]}:${BASH_LINENO[0]}" >&2
  for ((i = 1; i + 1 < ${#BASH_SOURCE[@]}; i++)); do
    echo "  in ${FUNCNAME[i]}, called at ${BASH_SOURCE[i + 1]}:${BASH_LINENO[i]}" >&2
  done
}
trap on_error ERR
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
  # With a busy timeout: the sqlite3 shell has none, so a write (or, now and
  # then, a read) that meets a running drudge's write lock failed at once
  # with "database is locked" and ended the test under set -e.
  sql() { sqlite3 -cmd ".timeout 30000" "$DRUDGE_DB" "$@"; }
fi
# on_pg: true when the test runs against PostgreSQL.
on_pg() { [ -n "${DRUDGE_TEST_PG:-}" ]; }

# wait_until SECONDS CMD...: runs CMD every 0.1 s until it succeeds; returns 1
# if it did not within SECONDS. The deadline is the clock's, not a count of
# tries (on a loaded machine each try is slow), and generous: waiting costs
# only as long as the thing waited for takes, while a deadline that a busy
# 2-core machine (the suite at -j2, a sanitizer build) overruns is a false
# failure.
wait_until() {
  local end=$((SECONDS + $1))
  shift
  while ! "$@"; do
    [ "$SECONDS" -lt "$end" ] || return 1
    sleep 0.1
  done
}

# sql_is QUERY WANT: QUERY prints WANT (a database error is just "not yet").
sql_is() { [ "$(sql "$1" 2>/dev/null)" = "$2" ]; }

# wait_sql QUERY WANT [SECONDS]: polls the database (60 s at most) until
# QUERY prints WANT.
wait_sql() { wait_until "${3:-60}" sql_is "$1" "$2"; }

# A free TCP port on loopback for a server a test starts. The port is free
# when chosen and the server binds it later, so it is taken below the
# kernel's ephemeral range (no bind to port 0 and no outgoing connection
# of a test running beside this one can take it meanwhile) and reserved
# for this test's shell by a directory under /tmp/drudge-test-ports
# (mkdir is atomic), which a later test reclaims once that shell is gone.
free_port() {
  /usr/bin/python3 - "$$" <<'PY'
import os, random, socket, sys
owner, d = sys.argv[1], "/tmp/drudge-test-ports"
try:
    os.mkdir(d)
    os.chmod(d, 0o1777)  # tests run as several users
except FileExistsError:
    pass
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])

def alive(pid):
    try:
        os.kill(int(pid), 0)
    except PermissionError:
        return True
    except (OSError, ValueError):
        return False
    return True

def reserve(p):
    path = "%s/%d" % (d, p)
    try:
        os.mkdir(path)
    except FileExistsError:
        try:
            if alive(open(path + "/pid").read()):
                return False
            os.remove(path + "/pid")
            os.rmdir(path)
            os.mkdir(path)
        except OSError:
            return False  # being reserved, or reclaimed by another test first
    with open(path + "/pid", "w") as f:
        f.write(owner)
    return True

def bindable(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        return s.getsockname()[1]
    except OSError:
        return 0
    finally:
        s.close()

for _ in range(500):
    p = random.randrange(10000, low) if low > 11000 else 0
    if p and not reserve(p):
        continue
    port = bindable(p)
    if port:  # else in use by something else: it stays reserved, try another
        print(port)
        sys.exit(0)
sys.exit("free_port: no free port below the ephemeral range")
PY
}

# wait_port PORT [SECONDS]: waits (60 s at most) until something listens on
# 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  local port=$1 secs=${2:-60}
  wait_until "$secs" port_open "$port" && return 0
  echo "nothing listens on port $port after ${secs}s" >&2
  return 1
}

# fault_shim: sets preload to the fault-injecting SQLite VFS
# (tests/fault/sqlite_fault.c, for LD_PRELOAD, after the sanitizers'
# runtimes in a sanitized build), or skips the test: on PostgreSQL, or
# without the shim.
fault_shim() {
  on_pg && { echo "skipped: SQLite's VFS"; exit 77; }
  local shim="$BUILD/tests/sqlite_fault.so"
  [ -e "$shim" ] || { echo "skipped: no $shim"; exit 77; }
  preload=$shim
  if [ "${DRUDGE_SANITIZE:-}" = ON ]; then # the sanitizer's runtime must come first
    preload="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so):$shim"
  fi
}

finish() {
  local f
  for f in /tmp/drudge-test-ports/*/pid; do # free_port's reservations
    [ -f "$f" ] && [ "$(cat "$f" 2>/dev/null)" = "$$" ] && rm -f "$f" && rmdir "${f%/pid}" 2>/dev/null
  done
  echo "$passes passed, $fails failed"
  [ "$fails" -eq 0 ]
}
