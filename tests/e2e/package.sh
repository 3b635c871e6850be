#!/usr/bin/env bash
# The Debian package (issue 22): CPack builds it from this build tree; it
# installs with dpkg -i (its dependencies are Debian packages, found by
# dpkg-shlibdeps), the installed drudge runs the demo from /usr/bin with
# its modules from /usr/lib/drudge, its man pages and completion are in
# place, and dpkg -r removes every file it installed. It changes the
# machine, so it runs only as root, and only if no drudge package is
# installed already (exit 77: skipped).
source "$TESTS/lib.sh"
if [ "$(id -u)" != 0 ] || ! command -v dpkg-deb >/dev/null || ! command -v cpack >/dev/null; then
  echo "skipped: needs root, dpkg-deb and cpack"; exit 77
fi
# The package is the release build's; the sanitizer suite checks memory, and
# an ASan binary in /usr/bin would only repeat the plain suite's run slowly.
if [ "${DRUDGE_SANITIZE:-OFF}" = ON ]; then
  echo "skipped: the package test runs in the plain build, not under sanitizers"; exit 77
fi
if dpkg-query -W -f '${Status}' drudge 2>/dev/null | grep -q ' installed$'; then
  echo "skipped: a drudge package is installed already"; exit 77
fi
[ -d "$BUILD/man" ] || { fail "no man pages in $BUILD/man (the man target)"; finish; }

# cpack first builds the tree it packages (its preinstall step, make all).
# In a tree older than its sources (edited or merged after the build) that
# relinks build/drudge and the modules while the rest of the suite runs
# them: their exec then fails with "Text file busy" (exit 126) or runs a
# half-written file, and another test fails for no reason of its own.
# A dry run (-n) says whether anything would be built; if so, no cpack.
stale=$(cmake --build "$BUILD" --target preinstall -- -n 2>&1 | grep -E "Building|Linking|Generating" | head -3 || true)
if [ -n "$stale" ]; then
  fail "the build tree is older than its sources: cpack would rebuild it under the running suite (build it before the tests):"$'\n'"$stale"
  finish
fi

# cpack in a copy of the build's CPack config, writing the package here
start=$(date +%s)
expect_exit 0 cpack -G DEB --config "$BUILD/CPackConfig.cmake" -B "$TMP/pkg"
deb=$(ls "$TMP"/pkg/drudge_*_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] && pass || { fail "no package: $out $err"; finish; }
echo "package built in $(($(date +%s) - start)) s: $deb"
info=$(dpkg-deb -I "$deb")
contains "$(grep "^ Depends:" <<<"$info")" "libc6 (>=" "dependencies from dpkg-shlibdeps"
contains "$info" "liblua5.4-0" "Lua's package"
contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in ./usr/bin/drudge ./usr/lib/drudge/drudge_http.so ./usr/lib/drudge/drudge_pg.so \
  ./usr/share/man/man1/drudge.1 ./usr/share/man/man1/drudge-tasks.1 \
  ./usr/share/bash-completion/completions/drudge ./usr/share/zsh/vendor-completions/_drudge \
  ./usr/lib/systemd/system/drudge-worker.service ./usr/share/doc/drudge/README.md; do
  contains "$contents" "$f" "the package holds $f"
done

trap 'dpkg -P drudge >/dev/null 2>&1 || true' EXIT
expect_exit 0 dpkg -i "$deb"
equals "$(dpkg-query -W -f '${Status}' drudge)" "install ok installed" "installed"
mkdir demo && cd demo
expect_exit 0 env -u DRUDGE_MODULE_DIR /usr/bin/drudge demo
contains "$out" "report" "the installed drudge runs the demo"
db=$(find . -name '*.db' | head -1)
expect_exit 0 /usr/bin/drudge --db "$db" audit verify
cd ..
if command -v man >/dev/null; then
  expect_exit 0 man -w drudge-tasks
  contains "$out" "/usr/share/man/man1/drudge-tasks.1" "man finds the pages"
fi
listed=$(dpkg -L drudge)
expect_exit 0 dpkg -r drudge
left=""
for f in $listed; do [ -f "$f" ] && left="$left $f"; done
equals "$left" "" "dpkg -r leaves no file behind"
# (CPack's ldconfig postrm keeps the package's record until a purge.)
contains "$(dpkg-query -W -f '${Status}' drudge 2>/dev/null || true)" "deinstall ok" "removed"
expect_exit 0 dpkg -P drudge
trap - EXIT
[ ! -e /usr/lib/drudge ] && [ ! -e /usr/share/doc/drudge ] && pass || fail "directories left behind"
finish
