-- log_email_to_case.lua: the canonical example of a drudge script.
--
-- The job: an email arrives about a court case; a person looks the case up in
-- the case management system (CMS) and logs the email on the case file. That
-- takes about 4 minutes by hand. This script does it for one email per task.
--
-- Try it end to end with `drudge demo`, which starts a demo CMS, queues 500
-- emails and runs this script on them. By hand:
--
--   DRUDGE_DEMO_TOKEN=s3cret drudge demo serve --port 8080 &
--   export DRUDGE_SECRET_CMS_TOKEN=s3cret CMS_URL=http://127.0.0.1:8080
--   drudge run scripts/examples/log_email_to_case.lua --key '<m1@mail.example>' \
--     --input '{"case_ref":"CR-2026-10001","subject":"Witness statement",
--               "sender":"intake@metro-police.example","received":"2026-11-16T08:00:00Z",
--               "body":"Please log this."}'
--
-- The input (task.input) is one email: case_ref, subject, sender, received,
-- body. The task key (task.key) is the email's Message-ID, so queueing the
-- same email twice is a no-op (`drudge enqueue --from FILE --key-field message_id`).

local http = require "drudge.http"   -- the web API connector (libcurl)

-- Configuration comes from the environment (os.getenv is allowed); the
-- credential does not: secret() reads DRUDGE_SECRET_CMS_TOKEN or the secrets
-- file, and its value is redacted from everything drudge records.
local CMS = os.getenv("CMS_URL") or "http://127.0.0.1:8080"

-- Transient trouble is retried inside the call: 429/502/503/504 answers and,
-- for requests safe to repeat (a GET, or a POST with an Idempotency-Key), a
-- dropped connection; 4 tries with a short backoff, each in the audit trail.
-- If the last try fails too, a bad status is returned (below, error() turns
-- it into a system error) and a transport failure raises one: either way the
-- queue retries the whole task later, up to max_attempts.
local RETRY = { attempts = 4, backoff = 0.05 }

return {
  name = "log_email_to_case",
  description = "Log an incoming email on its case file in the case management system",
  manual_minutes = 4,      -- what one email costs a person by hand
  exception_minutes = 6,   -- what a person spends on an email the robot gave up on
  max_attempts = 5,        -- tries for system errors (the CMS down, timeouts)
  timeout = 30,            -- seconds per attempt

  run = function(task)
    local email = task.input
    if type(email) ~= "table" or type(email.case_ref) ~= "string" then
      -- The item itself is wrong: a business exception, not retried.
      fail("the task input is not an email with a case_ref")
    end
    if not email.case_ref:match("^[%w%-]+$") then
      -- It goes into a URL: refuse anything but letters, digits and dashes.
      fail("malformed case reference: " .. email.case_ref)
    end
    local token = secret "CMS_TOKEN"

    -- step() names a unit of work in the audit trail; the http calls inside
    -- nest under it.
    local case = step("find case", function()
      local r = http.get{
        url = CMS .. "/api/cases/" .. email.case_ref,
        auth = { bearer = token },
        retry = RETRY,
      }
      if r.status == 404 then
        -- An unknown case reference will not get better by retrying: fail()
        -- ends the task as failed at once, for a person to look at.
        fail("no such case: " .. email.case_ref)
      end
      if r.status ~= 200 then
        -- Anything else unexpected is a system error: error() means "retry".
        error("case lookup for " .. email.case_ref .. " answered HTTP " .. r.status)
      end
      return r:json()
    end)

    local doc = step("log email", function()
      -- Delivery is at least once: if a worker dies after the CMS logged the
      -- email but before the outcome was committed, the task runs again. The
      -- Idempotency-Key (stable across attempts) makes the CMS answer the
      -- second POST with the first one's result instead of logging twice.
      local r = http.post{
        url = case.links.documents,
        auth = { bearer = token },
        headers = { ["Idempotency-Key"] = task.script .. ":" .. (task.key or task.id) },
        json = {
          kind = "email",
          subject = email.subject,
          sender = email.sender,
          received = email.received,
          body = email.body,
        },
        retry = RETRY,
      }
      if r.status ~= 201 and r.status ~= 200 then
        error("logging on " .. email.case_ref .. " answered HTTP " .. r.status)
      end
      return r:json()
    end)

    log.info("logged on " .. email.case_ref .. " as document " .. doc.id)
    -- The return value is stored as the task's output.
    return { case_id = case.id, document_id = doc.id, replayed = doc.replayed == true }
  end,
}
