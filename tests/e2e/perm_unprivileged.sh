#!/usr/bin/env bash
# Permissions, as an unprivileged user (issue 24): root is refused nothing,
# so run as root this test runs every drudge command as the user
# drudge-test, which CI's set-up creates (scripts/setup.sh test); as root
# without that user it is skipped (77); as any other user it runs as is.
# A read-only directory, a read-only database, an unreadable database and
# an unreadable script: each refused with a message naming the file and why,
# nothing changed; what only reads still works.
source "$TESTS/lib.sh"
on_pg && { echo "skipped: SQLite files"; exit 77; }
U=drudge-test
as=()
if [ "$(id -u)" = 0 ]; then
  if ! id "$U" >/dev/null 2>&1; then
    echo "skipped: running as root and there is no user $U (scripts/setup.sh test creates it)"
    exit 77
  fi
  as=(setpriv --reuid="$U" --regid="$(id -g "$U")" --clear-groups)
fi
chmod 0755 "$TMP"
"${as[@]}" "$DRUDGE" --version >/dev/null 2>&1 ||
  { fail "$U cannot run $DRUDGE (is its directory readable by others?)"; finish; }
[ "$("${as[@]}" id -u)" != 0 ] || fail "the commands run unprivileged"
d() { "${as[@]}" "$DRUDGE" "$@"; }
cat >ok.lua <<'LUA'
return { name = "ok", run = function(task) return true end }
LUA
chmod 0644 ok.lua
mkdir w
[ ${#as[@]} -eq 0 ] || chown "$U" w
expect_exit 0 d --db w/d.db -q enqueue ok.lua
expect_exit 0 d --db w/d.db -q enqueue ok.lua --at +1d
expect_exit 0 d --db w/d.db -q work --until-empty # ends with the WAL folded in

# 1. A read-only directory: no database is created in it; one already there
#    is read (status, tasks, verify) but not written.
mkdir rodir
cp w/d.db rodir/d.db
chmod 0644 rodir/d.db
if [ ${#as[@]} -eq 0 ]; then chmod 0555 rodir; fi # (as root: root's directory)
expect_exit 1 d --db rodir/new.db enqueue ok.lua
contains "$err" "cannot create database rodir/new.db: Permission denied" "read-only directory: create"
[ -e rodir/new.db ] && fail "a database appeared in the read-only directory" || pass
expect_exit 0 d --db rodir/d.db status
contains "$out" "ok" "read-only directory: status reads"
expect_exit 0 d --db rodir/d.db --json tasks
contains "$out" '"state":"done"' "read-only directory: tasks reads"
expect_exit 0 d --db rodir/d.db audit verify
expect_exit 1 d --db rodir/d.db enqueue ok.lua
contains "$err" "database rodir/d.db is read-only" "read-only directory: enqueue refused"
expect_exit 1 d --db rodir/d.db work --until-empty
contains "$err" "rodir/d.db" "read-only directory: work refused, naming the path"
contains "$err" "Permission denied" "read-only directory: work refused, saying why"
equals "$(sqlite3 rodir/d.db 'select count(*) from tasks')" 2 "nothing written"

# A WAL that holds changes cannot be read without creating its -shm.
cp w/d.db rodir/wal.db
printf 'x%.0s' $(seq 100) >rodir/wal.db-wal
expect_exit 1 d --db rodir/wal.db status
contains "$err" "write-ahead log rodir/wal.db-wal holds changes" "read-only directory: a WAL left"

# 2. A read-only database file in a writable directory.
cp w/d.db w/ro.db
chmod 0444 w/ro.db
expect_exit 1 d --db w/ro.db enqueue ok.lua
contains "$err" "database w/ro.db is read-only: Permission denied" "read-only database: enqueue"
expect_exit 1 d --db w/ro.db run ok.lua
contains "$err" "read-only" "read-only database: run"
expect_exit 1 d --db w/ro.db cancel 2
contains "$err" "read-only" "read-only database: cancel"
expect_exit 0 d --db w/ro.db status
equals "$(sqlite3 w/ro.db 'select count(*) from tasks')" 2 "nothing written"

# 3. An unreadable database.
cp w/d.db w/secret.db
chmod 0000 w/secret.db
expect_exit 1 d --db w/secret.db status
contains "$err" "w/secret.db" "unreadable database: named"

# 4. An unreadable script.
cp ok.lua secret.lua
chmod 0000 secret.lua
expect_exit 6 d check secret.lua
contains "$err" "cannot read script secret.lua: Permission denied" "unreadable script: check"
expect_exit 1 d --db w/d.db run secret.lua
contains "$err" "cannot read script secret.lua: Permission denied" "unreadable script: run"
expect_exit 1 d --db w/d.db enqueue secret.lua
contains "$err" "cannot read script secret.lua" "unreadable script: enqueue"
finish
