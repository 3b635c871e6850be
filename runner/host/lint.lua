-- lint.lua: `drudge check`'s static checks of a script's source, run by
-- runner/host/lint.c in a plain Lua state of its own (never a script's
-- sandbox). luacheck (Debian's lua-check) parses the script and finds
-- undefined globals; on its syntax tree this file finds what only drudge
-- knows: `secret "NAME"` literals with no value, `require`s of modules that
-- do not exist, and option names a drudge function does not take in calls
-- written with a table literal.
--
-- Called as lint(ctx) with ctx = { path, src, dir, globals = {name, ...},
-- modules = {name, ...}, has_secret = function(name) -> bool | nil (no
-- secret checks), file_exists = function(path) -> bool }. Returns a list of
-- { line = n, column = n, message = "..." }, in source order.

local luacheck = require "luacheck"
local parser = require "luacheck.parser"
local decoder = require "luacheck.decoder"

-- Options each function takes in a table literal: module -> function ->
-- { arg = position of the options table (a list: any of them), names }.
-- Kept equal to the connectors' own lists (connectors/http/http.c
-- call_fields/default_fields, ...) and to scripts/README.md.
local http_call = { "method", "url", "query", "headers", "body", "json", "form", "multipart",
  "auth", "timeout", "connect_timeout", "follow_redirects", "max_redirects", "verify_tls",
  "ca_file", "proxy", "output", "raise", "retry", "body_inline_max", "body_record_max",
  "base_url" }
local http_defaults = { "headers", "auth", "timeout", "connect_timeout", "follow_redirects",
  "max_redirects", "verify_tls", "ca_file", "proxy", "raise", "retry", "body_inline_max",
  "body_record_max", "base_url" }
local desktop_win = { "name", "class", "instance", "pid", "visible_only" }
local options = {
  ["drudge.http"] = {
    request = { args = { 1 }, names = http_call },
    get = { args = { 1, 2 }, names = http_call },
    head = { args = { 1, 2 }, names = http_call },
    post = { args = { 1, 2 }, names = http_call },
    put = { args = { 1, 2 }, names = http_call },
    patch = { args = { 1, 2 }, names = http_call },
    delete = { args = { 1, 2 }, names = http_call },
    defaults = { args = { 1 }, names = http_defaults },
    client = { args = { 1 }, names = http_defaults },
    limit = { args = { 2 }, names = { "per_second", "per_minute", "concurrent", "burst" } },
  },
  ["drudge.mail"] = {
    imap = { args = { 1 }, names = { "url", "user", "password", "verify_tls", "ca_file",
      "starttls", "timeout" } },
    send = { args = { 1 }, names = { "smtp", "from", "to", "cc", "bcc", "reply_to", "subject",
      "text", "html", "attachments", "in_reply_to", "user", "password", "verify_tls", "ca_file",
      "starttls", "timeout" } },
    parse = { args = { 2 }, names = { "lenient" } },
  },
  ["drudge.desktop"] = {
    type = { args = { 2 }, names = { "delay_ms", "window" } },
    key = { args = { 2 }, names = { "delay_ms", "window" } },
    key_down = { args = { 2 }, names = { "delay_ms", "window" } },
    key_up = { args = { 2 }, names = { "delay_ms", "window" } },
    click = { args = { 1 }, names = { "x", "y", "button", "count", "window" } },
    scroll = { args = { 1 }, names = { "dx", "dy" } },
    find_windows = { args = { 1 }, names = desktop_win },
    wait_window = { args = { 1 }, names = { "name", "class", "instance", "pid", "visible_only",
      "timeout" } },
    screenshot = { args = { 1 }, names = { "window", "path" } },
  },
  ["drudge.queue"] = {
    enqueue = { args = { 3 }, names = { "key", "priority", "at", "manual_minutes",
      "exception_minutes" } },
  },
  [""] = { -- globals
    wait_until = { args = { 2 }, names = { "timeout", "every" } },
  },
}
-- Functions that return an object with the module's functions (http.client).
local returns_module = { ["drudge.http"] = { client = true } }

local function set(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

local function sorted_list(s)
  local l = {}
  for k in pairs(s) do l[#l + 1] = k end
  table.sort(l)
  return table.concat(l, ", ")
end

return function(ctx)
  local problems = {}
  local line_start = { 1 } -- byte offset where each line starts
  for pos in ctx.src:gmatch("\n()") do line_start[#line_start + 1] = pos end
  local function problem(node, fmt, ...)
    local line = node.line or 0
    local column = node.offset and line_start[line] and node.offset - line_start[line] + 1 or 1
    problems[#problems + 1] = { line = line, column = column, message = string.format(fmt, ...) }
  end

  -- Undefined globals, as luacheck sees them, reading the sandbox's globals.
  local report = luacheck.check_strings({ ctx.src }, {
    std = "none", read_globals = ctx.globals, allow_defined_top = false,
    unused = false, redefined = false, max_line_length = false })[1]
  local syntax_error = false
  for _, e in ipairs(report) do
    if e.code == "011" then
      syntax_error = true -- host.c's load already reports it, with its line
    elseif e.code == "111" or e.code == "112" then
      problems[#problems + 1] = { line = e.line, column = e.column,
        message = string.format("assignment to undeclared global '%s' (declare it with 'local')",
          e.name) }
    elseif e.code == "113" then
      problems[#problems + 1] = { line = e.line, column = e.column,
        message = string.format("undefined global '%s' (a typo? scripts get %s)", e.name,
          "the sandbox's globals: see scripts/README.md") }
    end
  end
  if syntax_error then return problems end

  local ok, ast = pcall(parser.parse, decoder.decode(ctx.src))
  if not ok then return problems end
  local modules = set(ctx.modules)
  local bound = {} -- local name -> module name (from require or a client)

  local function string_arg(call, i)
    local a = call[i + 1]
    return a and a.tag == "String" and a[1] or nil
  end

  -- The module and function a callee expression names, or nil.
  local function callee(expr)
    if expr.tag == "Id" then return "", expr[1] end
    if expr.tag == "Index" and expr[1].tag == "Id" and expr[2].tag == "String" then
      local m = bound[expr[1][1]]
      if m then return m, expr[2][1] end
    end
  end

  local function check_table(tbl, spec, what)
    local allowed = set(spec.names)
    for _, item in ipairs(tbl) do
      if item.tag == "Pair" and item[1].tag == "String" and not allowed[item[1][1]] then
        problem(item[1], "%s: unknown option '%s' (it takes %s)", what, item[1][1],
          sorted_list(allowed))
      end
    end
  end

  local function check_call(call)
    local fn = call[1]
    if fn.tag == "Id" and fn[1] == "require" then
      local name = string_arg(call, 1)
      if name and not modules[name] then
        local file = ctx.dir .. "/" .. name:gsub("%.", "/") .. ".lua"
        if name:match("^drudge%.") then
          problem(call, "require: no built-in module '%s' (built-in: %s)", name,
            table.concat(ctx.modules, ", "))
        elseif not ctx.file_exists(file) then
          problem(call, "require: module '%s' not found (no built-in module and no %s)", name,
            file)
        end
      end
    elseif fn.tag == "Id" and fn[1] == "secret" and ctx.has_secret then
      local name = string_arg(call, 1)
      if name and not ctx.has_secret(name) then
        problem(call, "secret '%s' is not set: export DRUDGE_SECRET_%s or add %s=... to %s", name,
          name:upper(), name, ctx.secrets_file or "a secrets file (--secrets)")
      end
    end
    local m, f = callee(fn)
    local spec = m and options[m] and options[m][f]
    if spec then
      for _, i in ipairs(spec.args) do
        local a = call[i + 1]
        if a and a.tag == "Table" then
          check_table(a, spec, (m == "" and "" or m:gsub("^drudge%.", "") .. ".") .. f)
        end
      end
    end
  end

  -- What a local is bound to: local http = require "drudge.http",
  -- local api = http.client{...}.
  local function bind(names, exprs)
    for i, id in ipairs(names) do
      local e = exprs and exprs[i]
      if id.tag == "Id" and e and e.tag == "Call" then
        if e[1].tag == "Id" and e[1][1] == "require" then
          local name = string_arg(e, 1)
          if name and options[name] then bound[id[1]] = name end
        else
          local m, f = callee(e[1])
          if m and returns_module[m] and returns_module[m][f] then bound[id[1]] = m end
        end
      end
    end
  end

  local function walk(node)
    if type(node) ~= "table" then return end
    if node.tag == "Local" then bind(node[1], node[2]) end
    if node.tag == "Call" then check_call(node) end
    for _, child in ipairs(node) do walk(child) end
  end
  walk(ast)
  table.sort(problems, function(a, b)
    if a.line ~= b.line then return a.line < b.line end
    return a.column < b.column
  end)
  return problems
end
