local json = require "drudge.json"
return {
  run = function(task)
    local a, b = step("first", function(x, y) return x + y, "two" end, 1, 2)
    step("second", function()
      step("nested", function() log.warn("deep", 1, true) end)
    end)
    local ok, err = pcall(step, "caught", function() fail("nope") end)
    return { a = a, b = b, ok = ok, kind = err.kind, msg = tostring(err) }
  end,
}
