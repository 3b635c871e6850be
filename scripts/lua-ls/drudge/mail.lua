---@meta drudge.mail
local mail = {}

---@class drudge.mail.address
---@field name string
---@field address string

---@class drudge.mail.attachment
---@field filename string
---@field content_type string
---@field size integer
local attachment = {}
---@return string
function attachment:data() end
---Writes the file in the files directory (a "file" step with its SHA-256).
---@param dir? string
---@param name? string
---@return string path
function attachment:save(dir, name) end

---@class drudge.mail.message
---@field message_id string?
---@field key string
---@field from drudge.mail.address[]
---@field to drudge.mail.address[]
---@field cc drudge.mail.address[]
---@field reply_to drudge.mail.address[]
---@field subject string
---@field date string?
---@field text string?
---@field html string?
---@field attachments drudge.mail.attachment[]
---@field size integer
---@field warnings string[]
---@field uid integer?
---@field mailbox string?

---@class drudge.mail.box
local box = {}
---@param criteria {unseen?: boolean, seen?: boolean, flagged?: boolean, deleted?: boolean, since?: string|number, before?: string|number, from?: string, to?: string, subject?: string, text?: string, message_id?: string}
---@return integer[]
function box:search(criteria) end
---@param uid integer
---@param opts? {lenient?: boolean, mark_seen?: boolean}
---@return drudge.mail.message
function box:fetch(uid, opts) end
---@param uid integer
---@param folder string
---@return integer?
function box:move(uid, folder) end
---@param uid integer
---@param folder string
---@return integer?
function box:copy(uid, folder) end
---@param uid integer
---@param flag string
function box:flag(uid, flag) end
---@param uid integer
---@param flag string
function box:unflag(uid, flag) end
---@return string[]
function box:list() end
---@param folder string
---@return boolean created
function box:create(folder) end
function box:close() end

---@param opts {url: string, user?: string, password?: string, verify_tls?: boolean, ca_file?: string, starttls?: boolean, timeout?: number}
---@return drudge.mail.box
function mail.imap(opts) end
---@param opts {smtp: string, from: string, to?: string|string[], cc?: string|string[], bcc?: string|string[], reply_to?: string, subject?: string, text?: string, html?: string, attachments?: table[], in_reply_to?: string, user?: string, password?: string, verify_tls?: boolean, ca_file?: string, starttls?: boolean, timeout?: number}
---@return string message_id
function mail.send(opts) end
---@param raw string
---@param opts? {lenient?: boolean}
---@return drudge.mail.message
function mail.parse(raw, opts) end
return mail
