# The control room in a real browser (headless Chromium through WebDriver:
# tests/integration/room_browser.py): each role logs in and sees what it may,
# and nothing else (a viewer never receives an e-mail address or a task's
# input, in a page or the API); an operator retries a failed task from its
# page and sees it run (a `drudge work` here runs it); a forged POST without
# the CSRF token is refused; the sixth wrong password is slowed down.
# Screenshots of every page go to $BUILD/tests/room_browser/.
source "$TESTS/lib.sh"
command -v chromedriver >/dev/null || { echo "chromedriver not installed: skipped"; exit 77; }
[ -x /usr/bin/chromium ] || { echo "chromium not installed: skipped"; exit 77; }

cat > s.lua <<'EOF2'
return {
  name = "s", max_attempts = 1,
  run = function(task)
    step("look up the case", function() return { case = task.key } end)
    if task.input.fail and task.attempt < 2 then fail("no reply from " .. task.input.email) end
    return { filed = task.input.email }
  end,
}
EOF2
expect_exit 0 "$DRUDGE" -q enqueue s.lua --key ann@example.org --input '{"email":"ann@example.org"}'
expect_exit 0 "$DRUDGE" -q enqueue s.lua --key bob@example.org --input '{"email":"bob@example.org","fail":true}'
expect_exit 0 "$DRUDGE" -q enqueue s.lua --key cy@example.org --input '{"email":"cy@example.org","fail":true}'
expect_exit 0 "$DRUDGE" -q work --until-empty
for u in vic:viewer olga:operator aud:auditor adam:admin; do
  expect_exit 0 sh -c "echo 'pass-$u-12345' | \"\$DRUDGE\" -q user add ${u%%:*} --role ${u##*:}"
done

"$DRUDGE" serve -q --listen 127.0.0.1:0 > serve.out 2> serve.err &
srv=$!
"$DRUDGE" -q work > work.out 2>&1 &
wrk=$!
trap 'kill $srv $wrk 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q http serve.out 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's|.*\(http://[^ ]*/\).*|\1|p' serve.out)
# Evidence: a robot's screenshot (of the control room's own login page).
cat > shot.lua <<'EOF2'
local browser = require "drudge.browser"
return { name = "shot", max_attempts = 1, run = function(task)
  local b = browser.open{}
  b:go(task.input.url)
  b:wait_for{ text = "Log in" }
  return { evidence = b:screenshot().sha256 }
end }
EOF2
expect_exit 0 "$DRUDGE" run shot.lua --input "{\"url\":\"${url}login\"}"
shot_task=$(sql "select id from tasks where script = 'shot'")
shots="$BUILD/tests/room_browser"
rm -rf "$shots"
if python3 "$TESTS/integration/room_browser.py" "$url" "$shots" "$shot_task" > py.out 2>&1; then pass; else fail "the browser checks"; fi
cat py.out
rm -rf "$shots/.profile"
kill $srv $wrk
wait $srv $wrk 2>/dev/null || true
trap - EXIT
equals "$(sql "select state from tasks where id = 3")" "done" "the task retried from the page ran"
# The server says which logins it slowed (the timings above depend on the machine's load).
equals "$(grep -c 'login of adam from 127.0.0.1 slowed' serve.err)" "2" "two logins were slowed"
contains "$(cat serve.err)" "login of adam from 127.0.0.1 slowed by 1 s (5 failed logins)" "the sixth by 1 s"
contains "$(cat serve.err)" "login of adam from 127.0.0.1 slowed by 2 s (6 failed logins)" "the seventh by 2 s"
equals "$(sql "select count(*) from steps where name = 'retry' and task_id = 3 and request like '{\"user\":\"olga\",\"via\":\"room\",\"remote\":\"127.0.0.1\"}'")" \
  "1" "the page's retry is on the chain with the user and the address"
equals "$(sql "select count(*) from steps where name = 'login failed' and request like '%\"user\":\"adam\"%'")" "6" "each failed login is on the chain"
finish
