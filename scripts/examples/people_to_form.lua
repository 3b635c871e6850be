-- people_to_form: a robot that keys people from a CSV file into a web form
-- that has no API, the way a clerk would: by the fields' labels, in
-- whatever order the page shows them today.
--
-- One script, two roles (the dispatcher and the performer, as the email
-- robot has):
--
--   drudge --files files run scripts/examples/people_to_form.lua \
--     --input '{"csv":"people.csv","url":"https://intranet.example.org/people/new"}'
--
-- reads files/people.csv (a header line: first_name,last_name,email,phone,
-- city,country,notes; quoted fields may hold commas, quotes and newlines)
-- and queues one task per person, keyed by the e-mail address, so a file
-- read twice queues nobody twice; then
--
--   drudge --files files work --until-empty
--
-- fills the form once per task: each person is a task of their own, retried
-- on its own if the site misbehaves, and a person the site refuses is
-- failed for a clerk to look at, without holding up the others.
local browser = require "drudge.browser"
local queue = require "drudge.queue"

local FIELDS = { "first_name", "last_name", "email", "phone", "city", "country", "notes" }

-- Splits CSV text into rows of fields (RFC 4180: "" is a quote inside a
-- quoted field).
local function parse_csv(text)
  local rows, row, field, i, quoted = {}, {}, {}, 1, false
  local function end_field() row[#row + 1] = table.concat(field); field = {} end
  local function end_row() end_field(); rows[#rows + 1] = row; row = {} end
  while i <= #text do
    local c = text:sub(i, i)
    if quoted then
      if c == '"' and text:sub(i + 1, i + 1) == '"' then field[#field + 1] = '"'; i = i + 1
      elseif c == '"' then quoted = false
      else field[#field + 1] = c end
    elseif c == '"' then quoted = true
    elseif c == "," then end_field()
    elseif c == "\n" then end_row()
    elseif c ~= "\r" then field[#field + 1] = c end
    i = i + 1
  end
  if #field > 0 or #row > 0 then end_row() end
  return rows
end

-- The dispatcher: one task per row of the file.
local function queue_people(input)
  local f = assert(io.open(input.csv, "r"))
  local rows = parse_csv(f:read("a"))
  f:close()
  local header = table.remove(rows, 1) or {}
  for i, name in ipairs(header) do header[i] = name:lower():gsub("%s+", "_") end
  local queued, duplicates = 0, 0
  for n, row in ipairs(rows) do
    local person = { url = input.url }
    for i, name in ipairs(header) do person[name] = row[i] end
    if not person.email or person.email == "" then
      fail(("%s line %d: no e-mail address"):format(input.csv, n + 1))
    end
    local _, duplicate = queue.enqueue("people_to_form.lua", person, { key = person.email:lower() })
    if duplicate then duplicates = duplicates + 1 else queued = queued + 1 end
  end
  return { queued = queued, duplicates = duplicates }
end

-- The performer: one person into the form.
local function enter_person(p)
  local b = browser.open{ size = { 1280, 900 } }
  b:go(p.url)
  step("fill in the form", function()
    b:type({ label = "First Name" }, p.first_name)
    b:type({ label = "Last Name" }, p.last_name)
    b:type({ label = "Email" }, p.email)
    b:type({ label = "Phone" }, p.phone or "")
    b:type({ label = "City" }, p.city or "")
    if p.country and p.country ~= "" then
      local ok = pcall(b.select, b, { label = "Country" }, p.country)
      if not ok then fail("the form does not offer the country '" .. p.country .. "'") end
    end
    b:type({ label = "Notes" }, p.notes or "")
  end)
  b:click{ role = "button", name = "Submit" }
  b:wait_for{ text = "Saved #" }
  local saved = b:text("#saved")
  return { email = p.email, saved = tonumber(saved:match("#(%d+)")) }
end

return {
  name = "people_to_form",
  description = "Key people from a CSV file into a web form, by the fields' labels",
  manual_minutes = 3,         -- a clerk typing one person in
  exception_minutes = 5,
  max_attempts = 3,
  timeout = 120,
  screenshot_on_error = true, -- a failed step leaves a picture of the page
  run = function(task)
    local input = task.input or {}
    if input.csv then return queue_people(input) end
    for _, k in ipairs(FIELDS) do
      if k ~= "notes" and k ~= "phone" and k ~= "city" and k ~= "country" and not input[k] then
        fail("the person has no " .. k)
      end
    end
    return enter_person(input)
  end,
}
