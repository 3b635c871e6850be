-- email_intake: the dispatcher of the email robot.
--
-- Polls a mailbox, queues one email_to_case task per message, keyed by the
-- message (its Message-ID, or "sha256:<hex>" of the raw message when it has
-- none), then moves the message to the "Queued" folder. The task input has
-- the fields log_email_to_case.lua reads (case_ref, subject, sender,
-- received, body), so {"performer":"log_email_to_case.lua"} works too, plus
-- what email_to_case.lua needs to find the message again (key, message_id,
-- url, user). Run it on a schedule:
--
--   drudge schedule add intake --cron "*/5 * * * *" scripts/examples/email_intake.lua \
--     --input '{"url":"imaps://mail.example.org/INBOX","user":"robot"}'
--
-- with the password in the secret IMAP_PASSWORD. Exactly once: the task is
-- queued before the message is moved, so a crash in between leaves the
-- message in the inbox, and the next poll finds its key already queued (a
-- no-op) and moves it then. A message polled twice is never logged twice.
-- A message that cannot be parsed goes to "Rejected" for a person to look at.
local mail = require "drudge.mail"
local queue = require "drudge.queue"

-- The case a message is about, from its subject: "CR-2026-10001" as is,
-- "dossier n° 2026/118" as "2026-118"; nil when there is none (the performer
-- then fails the task for a person to file by hand).
local function case_ref(subject)
  local cr = subject:match("CR%-%d+%-%d+")
  if cr then return cr end
  local year, num = subject:match("(%d%d%d%d)[/%-](%d+)")
  return year and (year .. "-" .. num) or nil
end

return {
  name = "email_intake",
  description = "Queue one email_to_case task per incoming message",
  manual_minutes = 0.5,   -- a clerk opening the inbox and triaging one batch
  max_attempts = 3,
  timeout = 600,

  run = function(task)
    local cfg = task.input or {}
    local queued_folder = cfg.queued_folder or "Queued"
    local rejected_folder = cfg.rejected_folder or "Rejected"
    local box <close> = mail.imap{
      url = cfg.url or "imaps://mail.example.org/INBOX",
      user = cfg.user or "robot",
      password = secret "IMAP_PASSWORD",
      ca_file = cfg.ca_file,
    }
    box:create(queued_folder)

    local uids = box:search(cfg.search or {})   -- every message still in the inbox
    local limit = cfg.limit or 500              -- the rest waits for the next poll
    local done = { queued = 0, duplicates = 0, rejected = 0, left = math.max(0, #uids - limit) }
    for i = 1, math.min(#uids, limit) do
      local uid = uids[i]
      local ok, m = pcall(box.fetch, box, uid)
      if ok then
        local from = m.from[1] or {}
        local _, duplicate = queue.enqueue(cfg.performer or "email_to_case.lua", {
          key = m.key,
          message_id = m.message_id,
          url = (cfg.url or "imaps://mail.example.org/INBOX"):gsub("/[^/]*$", "/" .. queued_folder),
          user = cfg.user or "robot",
          ca_file = cfg.ca_file,
          case_ref = case_ref(m.subject),
          subject = m.subject,
          sender = from.address,
          received = m.date,
          body = m.text and m.text:sub(1, 65536),
          attachments = #m.attachments,
        }, { key = m.key })
        box:move(uid, queued_folder)
        if duplicate then
          done.duplicates = done.duplicates + 1
        else
          done.queued = done.queued + 1
        end
      elseif tostring(m):match("^mail: message UID %d+ in .-: ") then
        -- The message itself is broken (truncated, not MIME): a person's job.
        log.warn(tostring(m))
        box:create(rejected_folder)
        box:move(uid, rejected_folder)
        done.rejected = done.rejected + 1
      else
        error(m, 0) -- the server or the network: a system error, retried
      end
    end
    return done
  end,
}
