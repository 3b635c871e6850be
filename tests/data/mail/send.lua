-- Used by tests/integration/mail_smtp.sh: sends one message with two
-- attachments (one from data, one from a file in the files directory).
local mail = require "drudge.mail"

return {
  name = "send",
  run = function(task)
    local fh = assert(io.open("scan.pdf", "wb"))
    fh:write("%PDF-1.4\n% scanned\n")
    fh:close()
    local id = mail.send{
      smtp = task.input.smtp,
      from = "Robot Drudge <robot@example.fr>",
      to = { "Zoë Müller <zoe@example.org>", "clerk@example.fr" },
      cc = "jane@example.org",
      bcc = { "audit@example.fr" },
      subject = "Récépissé – dossier n° 118",
      text = "Bonjour,\n.\nLe dossier est enregistré.\n",
      html = "<p>Bonjour,</p><p>Le dossier est enregistré.</p>",
      attachments = {
        { filename = "Procès-verbal n° 118.txt", content_type = "text/plain", data = "PV 118\n" },
        { path = "scan.pdf" },
      },
      user = task.input.user,
      password = task.input.user and secret "SMTP_PASSWORD" or nil,
    }
    return { message_id = id }
  end,
}
