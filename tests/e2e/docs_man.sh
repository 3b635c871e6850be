#!/usr/bin/env bash
# Man pages (issue 22): the build makes drudge(1) and drudge-COMMAND(1) for
# every command `drudge --help` lists, from the same text as --help; each
# page's text, read back out of the troff, is the command's --help exactly,
# and groff formats every page without a warning.
source "$TESTS/lib.sh"
man_dir="$BUILD/man"
[ -f "$man_dir/drudge.1" ] && pass || { fail "no $man_dir/drudge.1 (the build's man target)"; finish; }

# The preformatted text of a page, unescaped.
page_text() {
  sed -n '/^\.nf$/,/^\.fi$/p' "$1" | sed -e '1d' -e '$d' |
    sed -e 's/^\\&//' -e 's/\\-/-/g' -e 's/\\e/\\/g'
}

equals "$(page_text "$man_dir/drudge.1")" "$("$DRUDGE" --help)" "drudge(1) is drudge --help"
cmds=$("$DRUDGE" --help | sed -n '/^commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p')
n=0
for c in $cmds; do
  n=$((n + 1))
  f="$man_dir/drudge-$c.1"
  if [ ! -f "$f" ]; then fail "no man page for $c"; continue; fi
  equals "$(page_text "$f")" "$("$DRUDGE" "$c" --help)" "drudge-$c(1) is drudge $c --help"
  summary=$("$DRUDGE" --help | sed -n "s/^  $c  *//p")
  contains "$(cat "$f")" "drudge-$c \\- $summary" "drudge-$c(1) NAME line"
done
[ "$n" -ge 20 ] && pass || fail "only $n commands listed"
if command -v groff >/dev/null; then
  warnings=$(groff -man -ww -z "$man_dir"/*.1 2>&1)
  equals "$warnings" "" "groff formats the pages without warnings"
fi
finish
