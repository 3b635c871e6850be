# drudge audit show and export; an export verified by the Python verifier
# printed in logs/README.md, run for real.
source "$TESTS/lib.sh"

cat > work.lua <<'EOF'
return {
  name = "file-doc",
  run = function(task)
    step("find case", function()
      log.info("looking up " .. task.input.ref)
    end)
    step("file document", function()
      if task.input.ref == "BAD" then fail("no such case: BAD\nsecond line") end
      step("upload", function() log.info("uploaded, \"quoted\", tab\there") end)
    end)
    return { ref = task.input.ref, ["ünï"] = "cödé" }
  end,
}
EOF
cat > other.lua <<'EOF'
return { run = function(task) log.info("other") end }
EOF
expect_exit 0 "$DRUDGE" -q run work.lua --input '{"ref":"A1"}' --key A1
expect_exit 3 "$DRUDGE" -q run work.lua --input '{"ref":"BAD"}'
expect_exit 0 "$DRUDGE" -q run other.lua

# show: a readable timeline.
expect_exit 0 "$DRUDGE" audit show 2
contains "$out" "task #2  file-doc  failed after 1 attempt" "show: task line"
contains "$out" "attempt 1  failed  started 20" "show: attempt line"
contains "$out" "  [1] " "show: root at depth 1"
contains "$out" "    [2] " "show: step under root"
contains "$out" 'step "find case"  ok' "show: step"
contains "$out" "      [3] " "show: log under step"
contains "$out" "log info: looking up BAD" "show: log message"
contains "$out" 'step "file document"  fail' "show: failed step"
contains "$out" "error: no such case: BAD" "show: error under the failed step"
echo "$out" > show.txt
expect_exit 0 "$DRUDGE" audit show '#1' --attempt 1
contains "$out" "key A1" "show: key"
contains "$out" "log info: uploaded, \"quoted\", tab	here" "show: escapes undone"
expect_exit 1 "$DRUDGE" audit show 99
contains "$err" "no task #99" "show: unknown task"
expect_exit 1 "$DRUDGE" audit show 1 --attempt 2
contains "$err" "task #1 has no attempt 2" "show: unknown attempt"
expect_exit 2 "$DRUDGE" audit show abc
contains "$err" "TASK must be a task id" "show: bad task"
expect_exit 0 "$DRUDGE" --json audit show 2
echo "$out" > show.json
expect_exit 0 /usr/bin/python3 -c '
import json, sys
d = json.load(open("show.json"))
assert d["task"]["script"] == "file-doc" and d["task"]["state"] == "failed", d["task"]
steps = d["attempts"][0]["steps"]
assert [s["seq"] for s in steps] == list(range(1, len(steps) + 1))
assert steps[0]["parent"] is None and steps[0]["outcome"] == "failed"
assert json.loads(steps[0]["request"]) == {"input": {"ref": "BAD"}}
assert any(s["outcome"] == "fail" and "no such case" in s["error"] for s in steps)
assert all(len(s["hash"]) == 64 for s in steps)
'

# export: JSON Lines, verified with the README's verifier.
sed -n '/^```python$/,/^```$/p' "$SRC/logs/README.md" | sed '1d;$d' > verify.py
test -s verify.py && pass || fail "README has the Python verifier"
expect_exit 0 "$DRUDGE" audit export -o all.jsonl
contains "$err" "exported 12 steps to all.jsonl" "export to a file"
equals "$(stat -c %a all.jsonl)" "600" "export file is private"
expect_exit 0 /usr/bin/python3 verify.py all.jsonl
contains "$out" "ok: 12 rows, last 12" "README verifier accepts the export"
head="$(sql "select hash from steps where id = 12")"
contains "$out" "$head" "verifier's head is the chain head"
# The verifier catches an edited export, naming the row.
/usr/bin/python3 -c '
import json
rows = [json.loads(l) for l in open("all.jsonl")]
rows[4]["name"] = "something else"
open("edited.jsonl", "w").write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))'
expect_exit 1 /usr/bin/python3 verify.py edited.jsonl
contains "$err" "row 5 (task 1, attempt 1, seq 5): does not match its hash" "verifier names the edited row"

# Filters: a filtered export still verifies row by row.
expect_exit 0 "$DRUDGE" audit export --script other
equals "$(echo "$out" | wc -l)" "2" "export --script"
contains "$out" '"script":"other"' "export --script rows"
echo "$out" > other.jsonl
expect_exit 0 /usr/bin/python3 verify.py other.jsonl
expect_exit 0 "$DRUDGE" audit export --task 2
equals "$(echo "$out" | wc -l)" "4" "export --task"
expect_exit 0 "$DRUDGE" audit export --since +1d
equals "$out" "" "export --since in the future: nothing"
expect_exit 0 "$DRUDGE" audit export --until 2000-01-01
equals "$out" "" "export --until in the past: nothing"
expect_exit 0 "$DRUDGE" audit export --since 2000-01-01 --until +1d
equals "$(echo "$out" | wc -l)" "12" "export --since/--until window"
expect_exit 2 "$DRUDGE" audit export --since yesterdayish
contains "$err" "--since 'yesterdayish': not a time" "bad time"
expect_exit 2 "$DRUDGE" audit export --format xml
contains "$err" "--format is jsonl or csv" "bad format"

# CSV: header, one row per step, quoting that a CSV reader undoes.
expect_exit 0 "$DRUDGE" audit export --format csv -o all.csv
expect_exit 0 /usr/bin/python3 -c '
import csv, json
rows = list(csv.DictReader(open("all.csv", newline="", encoding="utf-8")))
assert len(rows) == 12, len(rows)
assert list(rows[0].keys())[:3] == ["id", "task_id", "attempt"], rows[0].keys()
js = [json.loads(l) for l in open("all.jsonl", encoding="utf-8")]
for c, j in zip(rows, js):
    assert c["hash"] == j["hash"] and c["name"] == j["name"]
    assert c["request"] == (j["request"] or ""), (c["request"], j["request"])
    assert c["error"] == (j["error"] or "")
'

finish
