#!/usr/bin/env bash
# The test suite's own PostgreSQL 15: tests/pg/server.sh start|stop|url DIR
#
#   start  initdb in DIR (a fresh cluster), then pg_ctl start on a private
#          Unix socket in DIR (no TCP), tuned for tests; writes DIR/env with
#          what tests/lib.sh needs (DRUDGE_PG_HOST, _PORT, _USER).
#   stop   pg_ctl stop (fast), then removes DIR.
#
# PostgreSQL refuses to run as root: as root, the cluster belongs to an
# unprivileged user (drudge-pg, created if missing). ctest runs start once
# per run as the fixture pg_server, and stop when the last pg test ended.
set -euo pipefail
cmd=$1 dir=$2
bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
port=${PG_PORT:-5439}
user=drudge-pg

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$user" -- "$@"
  else
    "$@"
  fi
}

start() {
  if [ ! -x "$bin/initdb" ]; then
    echo "PostgreSQL 15 is not installed ($bin/initdb): apt-get install postgresql-15" >&2
    exit 1
  fi
  if [ "$(id -u)" -eq 0 ] && ! id "$user" >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
  fi
  # A cluster left by a run that was killed goes first.
  [ -f "$dir/data/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
  mkdir -p "$dir"
  chmod 0755 "$dir"
  [ "$(id -u)" -eq 0 ] && chown "$user" "$dir"
  as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; exit 1; }
  # Tests need no crash safety of their own (the crash tests kill drudge, not
  # PostgreSQL), so no fsync unless PG_DURABLE (the benchmarks); autovacuum
  # wakes every second, as the README advises for a fleet's server.
  local durable=off
  [ -n "${PG_DURABLE:-}" ] && durable=on # the benchmarks: every commit on disk
  cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir'
port = $port
fsync = $durable
synchronous_commit = $durable
full_page_writes = $durable
max_connections = 300
shared_buffers = ${PG_SHARED_BUFFERS:-64MB}
max_wal_size = ${PG_MAX_WAL_SIZE:-1GB}
autovacuum_naptime = 1s
log_min_messages = warning
logging_collector = off
CONF
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null ||
    { cat "$dir/server.log" >&2; exit 1; }
  printf 'DRUDGE_PG_HOST=%s\nDRUDGE_PG_PORT=%s\nDRUDGE_PG_USER=postgres\nDRUDGE_PG_BIN=%s\n' \
    "$dir" "$port" "$bin" >"$dir/env"
  echo "PostgreSQL 15 for the tests: socket in $dir, port $port"
}

stop() {
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
  fi
  rm -rf "$dir"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
