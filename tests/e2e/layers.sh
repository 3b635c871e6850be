# The dependency rule (README, "Architecture"): data flows one way,
#   cli -> work, room -> queue, host -> connectors -> audit (logs/) -> store -> calendar, util
# so a file may include headers of its own layer and of the layers below it,
# never of one above; the public headers (include/drudge/) any file may use.
# And no SQL engine outside the store: no <sqlite3.h> (nor libpq) but in
# runner/store/.
source "$TESTS/lib.sh"

# The layer of a path, by rank: 0 is the top.
rank() {
  case "$1" in
    runner/main.c | runner/cli/*) echo 0 ;;
    runner/work/* | runner/room/*) echo 1 ;;
    runner/queue/* | runner/host/*) echo 2 ;;
    connectors/*) echo 3 ;;
    logs/*) echo 4 ;;
    runner/store/*) echo 5 ;;
    runner/calendar/* | runner/util/*) echo 6 ;;
    *) echo 7 ;;
  esac
}

cd "$SRC"
bad=0
while IFS= read -r f; do
  r=$(rank "$f")
  while IFS= read -r inc; do
    [ -n "$inc" ] || continue
    ir=$(rank "$inc")
    if [ "$ir" -lt "$r" ]; then
      fail "$f includes $inc, a layer above it"
      bad=$((bad + 1))
    fi
  done < <(sed -n 's/^#include "\(\(runner\|connectors\|logs\)\/[^"]*\)".*/\1/p' "$f")
done < <(git ls-files 'runner/*.[ch]' 'connectors/*.[ch]' 'logs/*.[ch]' 2>/dev/null ||
           find runner connectors logs -name '*.[ch]')
[ "$bad" -eq 0 ] && pass

# SQL engines stay in the store.
engines=$(grep -rln 'sqlite3\|libpq-fe.h\|PGconn' runner connectors logs --include='*.[ch]' |
          grep -v '^runner/store/' || true)
equals "$engines" "" "files outside runner/store/ that name a database engine"

finish
