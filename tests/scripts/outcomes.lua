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
