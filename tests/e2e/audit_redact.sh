# Redaction: secret values and configured patterns never reach the database.
source "$TESTS/lib.sh"

TOKEN='tok-9f8e7d6c5b4a-"quoted"\slash'
FILETOKEN='file-secret-0a1b2c3d4e'
export DRUDGE_SECRET_CMS_TOKEN="$TOKEN"
printf 'DB_PASSWORD=%s\n' "$FILETOKEN" > secrets.env
chmod 600 secrets.env

cat > leak.lua <<'EOF'
local top = secret "DB_PASSWORD"   -- read at load time: kept redacted in every attempt
return {
  run = function(task)
    local tok = secret "CMS_TOKEN"
    log.info("using token " .. tok .. " and " .. top)
    step("call with " .. tok, function()
      log.warn(tok)   -- recorded inside a JSON string, so escaped there
    end)
    log.info("contact " .. task.input.email .. " about " .. task.input.ref ..
             ", NI number " .. task.input.nino .. " / " .. task.input.nino2)
    if task.input.fail then fail("token " .. tok .. " rejected for " .. task.input.email) end
    return { echoed = tok, pw = top, mail = task.input.email }
  end,
}
EOF
cat > redact.conf <<'EOF'
# case references and the built-ins
case_ref = CPS-[0-9]{6}
email
uk_nino   # National Insurance numbers
EOF
INPUT='{"email":"jane.doe@example.org","ref":"CPS-123456","nino":"QQ123456C","nino2":"AB 12 34 56 D"}'

expect_exit 0 "$DRUDGE" --secrets secrets.env --redact redact.conf run leak.lua --input "$INPUT"
contains "$out" '"echoed":"[REDACTED:CMS_TOKEN]"' "output redacted"
contains "$out" '"pw":"[REDACTED:DB_PASSWORD]"' "top-level secret redacted"
contains "$out" '"mail":"[REDACTED:email]"' "pattern applied to output"
contains "$err" "using token [REDACTED:CMS_TOKEN] and [REDACTED:DB_PASSWORD]" "echoed log redacted"
DRUDGE_REDACT=redact.conf expect_exit 3 "$DRUDGE" --secrets secrets.env run leak.lua \
  --input "${INPUT%\}},\"fail\":true}"
contains "$err" "token [REDACTED:CMS_TOKEN] rejected for [REDACTED:email]" "error redacted (\$DRUDGE_REDACT)"

steps=$(sql "select name, request, response, error from steps")
contains "$steps" "call with [REDACTED:CMS_TOKEN]" "step name redacted"
contains "$steps" '{"message":"[REDACTED:CMS_TOKEN]"}' "JSON-escaped value redacted"
contains "$steps" "contact [REDACTED:email] about [REDACTED:case_ref], NI number [REDACTED:uk_nino] / [REDACTED:uk_nino]" "patterns redacted"
for v in jane.doe CPS-123456 QQ123456C "AB 12 34 56 D"; do
  case "$steps" in *"$v"*) fail "pattern value '$v' in the steps table" ;; *) pass ;; esac
done
# The task's input is kept as given in the queue (it is what the task runs on);
# the audit trail, attempts and outputs are redacted.
equals "$(sql "select count(*) from tasks where input like '%jane.doe%'")" "2" "input kept in the queue"
equals "$(sql "select count(*) from tasks where output like '%jane.doe%' or error like '%jane.doe%'")" "0" "outputs redacted"
equals "$(sql "select count(*) from attempts where error like '%tok-9f8e%'")" "0" "attempt error redacted"

# No secret value anywhere in the database file or its WAL, in any form.
for v in "$TOKEN" "$FILETOKEN" "tok-9f8e7d6c5b4a" 'tok-9f8e7d6c5b4a-\"quoted\"\\slash' "file-secret"; do
  if grep -a -F -q -- "$v" "$DRUDGE_DB" "$DRUDGE_DB"-wal 2>/dev/null; then
    fail "secret value '$v' found in the database files"
  else
    pass
  fi
done

# Workers redact the same way (--redact reaches every host in the process).
cat > queued.lua <<'EOF'
return { run = function(task) log.info("write to " .. task.input.email .. " with " .. secret "CMS_TOKEN") end }
EOF
expect_exit 0 "$DRUDGE" enqueue queued.lua --input '{"email":"queued.person@example.org"}'
expect_exit 0 "$DRUDGE" --redact redact.conf work --until-empty
equals "$(sql "select request from steps where kind = 'log' and task_id = 3")" \
  '{"message":"write to [REDACTED:email] with [REDACTED:CMS_TOKEN]"}' "worker redacts"

# A bad pattern file is refused with the file and line.
printf 'ok = [0-9]+\nbroken = (unclosed\n' > bad.conf
expect_exit 2 "$DRUDGE" --redact bad.conf run leak.lua --input "$INPUT"
contains "$err" "bad.conf:2: pattern 'broken'" "bad regex: file and line"
printf 'emale\n' > bad.conf
expect_exit 2 "$DRUDGE" --redact bad.conf run leak.lua --input "$INPUT"
contains "$err" "bad.conf:1: 'emale' is not a built-in pattern" "unknown built-in"
printf 'empty = x*\n' > bad.conf
expect_exit 2 "$DRUDGE" --redact bad.conf run leak.lua --input "$INPUT"
contains "$err" "matches the empty string" "empty-matching pattern refused"
expect_exit 1 "$DRUDGE" --redact nosuch.conf run leak.lua --input "$INPUT"
contains "$err" "nosuch.conf" "missing pattern file named"

finish
