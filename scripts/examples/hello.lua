-- hello.lua: the smallest useful script. Try:
--   drudge run scripts/examples/hello.lua --input '{"name":"Zoë"}'
return {
  name = "hello",
  manual_minutes = 1,
  run = function(task)
    local name = (task.input and task.input.name) or "world"
    local greeting = step("greet", function()
      return "Hello, " .. name .. "!"
    end)
    log.info(greeting)
    return { greeting = greeting }
  end,
}
