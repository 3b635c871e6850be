-- Used by tests/integration/mail_imap.sh: one tour of the IMAP API on the
-- seeded corpus (6 messages: UIDs 1..6 in file name order).
local mail = require "drudge.mail"

return {
  name = "imap_tour",
  run = function(task)
    local box <close> = mail.imap{ url = task.input.url, user = "robot",
                                   password = secret "IMAP_PASSWORD",
                                   ca_file = task.input.ca_file }
    local r = {}
    r.all = box:search()
    r.unseen = box:search{ unseen = true, since = "2026-01-01" }
    r.by_subject = box:search{ subject = "Pièces" }     -- non-ASCII: CHARSET UTF-8
    r.by_from = box:search{ from = "station12@example.org" }
    r.by_id = box:search{ message_id = "latin1-3@example.fr" }
    local m = box:fetch(r.by_subject[1])
    r.subject, r.uid, r.mailbox = m.subject, m.uid, m.mailbox
    r.att_names = {}
    for i, a in ipairs(m.attachments) do r.att_names[i] = a.filename end
    r.saved = m.attachments[1]:save("case-118")
    r.unseen_after_fetch = #box:search{ unseen = true }  -- fetch is a peek
    r.created = box:create("Queued")
    r.created_again = box:create("Queued")
    r.folders = box:list()
    table.sort(r.folders)
    r.new_uid = box:move(r.all[1], "Queued")
    box:flag(r.all[2], "\\Seen")
    r.seen = box:search{ seen = true }
    -- (fetch with mark_seen below adds UID 5 to the seen ones)
    local ok, e = pcall(box.fetch, box, 6)               -- truncated.eml
    r.truncated_error = tostring(e)
    r.truncated_lenient = box:fetch(6, { lenient = true }).warnings[1]
    ok, e = pcall(box.fetch, box, 999)
    r.missing_error = tostring(e)
    ok, e = pcall(box.fetch, box, 998, { mark_seen = true })
    r.missing_error2 = tostring(e)
    r.marked = box:fetch(5, { mark_seen = true }).subject   -- no_message_id.eml
    ok, e = pcall(box.move, box, 3, "No such folder")
    r.move_error = tostring(e)
    ok, e = pcall(box.flag, box, 3, "bad flag)")
    r.flag_error = tostring(e)
    r.left = box:search()
    r.seen_after = box:search{ seen = true }
    return r
  end,
}
