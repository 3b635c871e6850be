# Core paths under valgrind: no leaks, no invalid accesses.
source "$TESTS/lib.sh"
command -v valgrind >/dev/null || { echo "valgrind not installed: skipped"; exit 77; }
# Valgrind cannot run a sanitizer build; that build has its own leak checks.
[ "${DRUDGE_SANITIZE:-OFF}" = "ON" ] && { echo "sanitizer build: skipped"; exit 77; }
S="$TESTS/scripts"
vg() { valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99 "$@"; }
expect_exit 0 vg "$DRUDGE" -q run "$SRC/scripts/examples/hello.lua" --input '{"name":"Zoë"}'
expect_exit 3 vg "$DRUDGE" -q run "$S/outcomes.lua" --input '{"what":"fail","ref":"A"}'
expect_exit 4 vg "$DRUDGE" -q run "$S/outcomes.lua" --input '{"what":"error"}'
DRUDGE_SECRET_API_TOKEN=abcdefgh expect_exit 4 vg "$DRUDGE" -q run "$S/outcomes.lua" --input '{"what":"secret"}'
expect_exit 6 vg "$DRUDGE" check "$S/bad_fields.lua" "$S/syntax.lua"
expect_exit 0 vg "$DRUDGE" -q run "$S/steps.lua"
# The queue: a bulk load (multi-row batches, a remainder, a duplicate key),
# two workers with the group-commit writer, the audit chain walked after.
for i in $(seq 1 70) 5; do echo "{\"ref\":\"r$i\",\"name\":\"n$i\"}"; done >"$TMP/items.jsonl"
expect_exit 0 vg "$DRUDGE" enqueue "$SRC/scripts/examples/hello.lua" --from "$TMP/items.jsonl" --key-field ref
contains "$out" "enqueued 70 tasks" "bulk load under valgrind"
expect_exit 0 vg "$DRUDGE" -q work -j 2 --until-empty
equals "$(sql "select count(*) from tasks where key like 'r%' and state = 'done'")" "70" "all done under valgrind"
expect_exit 0 vg "$DRUDGE" status
expect_exit 0 vg "$DRUDGE" audit verify
finish
