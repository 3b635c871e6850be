# drudge report: bad input is a clear error naming what is wrong, exit 2;
# a missing database or an unwritable output file, exit 1.
source "$TESTS/lib.sh"

expect_exit 0 "$DRUDGE" run -q "$SRC/scripts/examples/hello.lua"

expect_exit 2 "$DRUDGE" report --since yesterday
contains "$err" "--since 'yesterday': not a time" "bad --since named"
expect_exit 2 "$DRUDGE" report --until 2026-02-31
contains "$err" "--until '2026-02-31': no such day" "impossible date"
expect_exit 2 "$DRUDGE" report --since 2026-11-30 --until 2026-11-01
contains "$err" "--since must be before --until" "reversed range"
expect_exit 2 "$DRUDGE" report --by year
contains "$err" "--by: 'year' is not one of day, week, month, script" "bad --by"
expect_exit 2 "$DRUDGE" report --format pdf
contains "$err" "--format: 'pdf' is not one of table, csv, json, html" "bad --format"
expect_exit 2 "$DRUDGE" report --bogus
contains "$err" "unknown option '--bogus'" "unknown option"
expect_exit 2 "$DRUDGE" report extra
contains "$err" "unexpected argument 'extra'" "stray argument"
expect_exit 2 "$DRUDGE" report --by
contains "$err" "needs a value" "missing value"

expect_exit 1 "$DRUDGE" --db "$TMP/none.db" report
contains "$err" "does not exist" "missing database"
[ ! -e "$TMP/none.db" ] && pass || fail "report created a database"
expect_exit 1 "$DRUDGE" report --format csv -o "$TMP/no/such/dir/r.csv"
contains "$err" "cannot write $TMP/no/such/dir/r.csv" "unwritable output"

expect_exit 0 "$DRUDGE" report --help
contains "$out" "usage: drudge report" "help"
finish
