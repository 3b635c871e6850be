return {
  timeout = 1,
  run = function(task)
    local what = task.input.what
    if what == "fail" then
      step("check case", function() fail("no such case: " .. task.input.ref) end)
    elseif what == "error" then
      step("outer", function()
        step("inner", function()
          local t = nil
          return t.field -- line 11
        end)
      end)
    elseif what == "retry" then
      retry_later(30, "server said 429")
    elseif what == "errobj" then
      error({ code = 7 })
    elseif what == "loop" then
      while true do end
    elseif what == "pcall-loop" then
      while true do pcall(function() while true do end end) end
    elseif what == "xpcall-loop" then
      -- Lua calls a message handler with hooks off; the sandbox's does not
      xpcall(function() while true do end end, function() while true do end end)
    elseif what == "xpcall" then
      -- the handler's value comes back as before, extra arguments reach f
      local ok, v = xpcall(function(a) error({ code = a }) end, function(e) return e.code * 2 end, 21)
      local ok2, a, b = xpcall(function(x, y) return x + y, "two" end, error, 1, 2)
      return { ok = ok, v = v, ok2 = ok2, a = a, b = b }
    elseif what == "pattern" then
      -- exponential backtracking inside one C call: the matcher checks the deadline
      local s = string.rep("a", 5000)
      local p = string.rep("(.-)", 30) .. "b"
      local how = task.input.how
      if how == "find" then return s:find(p)
      elseif how == "gmatch" then for x in s:gmatch(p) do return x end
      elseif how == "gsub" then return (s:gsub(p, "x"))
      elseif how == "pcall" then while true do pcall(string.match, s, p) end
      else return string.match(s, p) end
    elseif what == "secret" then
      local tok = secret("api_token")
      log.info("using token " .. tok)
      step("call with " .. tok, function() error("rejected token " .. tok) end)
    elseif what == "bad-output" then
      return { f = function() end }
    end
    return "unreachable"
  end,
}
