-- email_to_case: the performer of the email robot (queued by email_intake).
--
-- Finds its message in the "Queued" folder, takes the case reference that
-- email_intake found in the subject ("CR-2026-10001", "dossier n° 2026/118"),
-- files the attachments under cases/<reference>/ in the files directory, registers the
-- message with the case management system when CMS_URL is set in the
-- environment (token in the secret CMS_TOKEN), and moves the message to
-- "Processed". A message with no case reference is a business exception:
-- the task fails at once and the message stays in "Queued" for a person.
local mail = require "drudge.mail"

-- The message with this key: by Message-ID when it has one, else by its hash
-- (reading the folder). Other workers move messages out meanwhile, so one
-- gone between the search and the fetch is skipped, as is one that cannot be
-- parsed (it cannot be ours: its key would be unknown).
local function find(box, input)
  local uids = input.message_id and box:search{ message_id = input.message_id } or box:search()
  for _, uid in ipairs(uids) do
    local ok, m = pcall(box.fetch, box, uid)
    if ok and m.key == input.key then return m end
    if not ok and not tostring(m):match("^mail: no message with UID")
       and not tostring(m):match("^mail: message UID") then
      error(m, 0)
    end
  end
  return nil
end

return {
  name = "email_to_case",
  description = "File one incoming message and its attachments in its case",
  manual_minutes = 4,
  exception_minutes = 6,
  max_attempts = 5,
  timeout = 120,

  run = function(task)
    local input = task.input
    local box <close> = mail.imap{ url = input.url, user = input.user,
                                   password = secret "IMAP_PASSWORD", ca_file = input.ca_file }
    local m = step("find message", find, box, input)
    if not m then
      -- Already processed by an earlier attempt (moved on), or moved by hand.
      fail("message " .. input.key .. " is no longer in " .. input.url)
    end
    local ref = input.case_ref   -- worked out from the subject by email_intake
    if not ref then fail("no case reference in the subject: " .. m.subject) end

    local files = step("file attachments", function()
      local saved = {}
      for _, att in ipairs(m.attachments) do
        saved[#saved + 1] = att:save("cases/" .. ref)
      end
      return saved
    end)

    local cms = os.getenv("CMS_URL")
    if cms then
      step("register in the case file", function()
        local http = require "drudge.http"
        local r = http.post{ url = cms .. "/api/cases/" .. ref .. "/documents",
                             auth = { bearer = secret "CMS_TOKEN" },
                             headers = { ["Idempotency-Key"] = task.key },
                             json = { subject = m.subject, sender = input.sender,
                                      date = m.date, message_id = m.message_id,
                                      attachments = files } }
        if r.status == 404 then fail("no such case: " .. ref) end
        if r.status >= 300 then error("case management answered " .. r.status) end
      end)
    end

    box:create("Processed")
    box:move(m.uid, "Processed")
    return { case = ref, attachments = #files }
  end,
}
