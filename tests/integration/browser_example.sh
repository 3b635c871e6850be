# scripts/examples/people_to_form.lua against the test pages' form, whose
# fields move and change ids on every load: a CSV of people becomes one task
# each, and each task keys its person in by the fields' labels.
source "$TESTS/lib.sh"
source "$TESTS/data/browser/setup.sh"
script="$SRC/scripts/examples/people_to_form.lua"

cat > files/people.csv <<'EOF'
first_name,last_name,email,phone,city,country,notes
Ada,Lovelace,ada@example.org,0123,London,United Kingdom,"Analyst, ""first programmer"""
Zoë,O'Brien,zoe@example.org,0456,Dublin,France,
Alan,Turing,alan@example.org,0789,Wilmslow,Atlantis,
EOF
expect_exit 0 "$DRUDGE" check "$script"
expect_exit 0 "$DRUDGE" --files files -q run "$script" --input "{\"csv\":\"people.csv\",\"url\":\"$URL/form\"}"
contains "$out" '"queued":3' "three people queued"
expect_exit 0 "$DRUDGE" --files files -q run "$script" --input "{\"csv\":\"people.csv\",\"url\":\"$URL/form\"}"
contains "$out" '"duplicates":3' "the same file again queues nobody twice"
expect_exit 0 "$DRUDGE" --files files -q work --until-empty
equals "$(sql "select state from tasks where key = 'ada@example.org'")" "done" "Ada entered"
equals "$(sql "select state from tasks where key = 'zoe@example.org'")" "done" "Zoë entered"
equals "$(sql "select t.state || ': ' || a.error from tasks t join attempts a on a.task_id = t.id where key = 'alan@example.org'")" \
  "failed: the form does not offer the country 'Atlantis'" "an unknown country is a business exception"
subs=$(curl -s "$URL/submissions")
got=$(echo "$subs" | python3 -c '
import json, sys
for line in sys.stdin:
    d = json.loads(line)
    # libmicrohttpd drops an empty value that ends the body ("notes=" when
    # the shuffled form puts notes last): missing is empty.
    print(d["first_name"], d["last_name"], d["email"], d["city"], d["country"], d.get("notes", ""), sep="|")' | sort)
equals "$got" "Ada|Lovelace|ada@example.org|London|uk|Analyst, \"first programmer\"
Zoë|O'Brien|zoe@example.org|Dublin|fr|" "the form got each person's values"
contains "$(sql "select error from steps where kind = 'browser' and name = 'select label \"Country\"' and outcome = 'error'")" \
  'the list has no such option (it has: -, United Kingdom, France, Germany)' "the refused option's step says what the list offers"
finish
