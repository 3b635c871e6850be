-- Runs the Lua snippet in task.input.code and returns what it returns.
return {
  timeout = 2,
  run = function(task)
    local f = assert(load(task.input.code, "=snippet"))
    return f()
  end,
}
