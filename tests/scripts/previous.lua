-- First attempt: does a step, then breaks. Later attempts report what the
-- earlier ones recorded.
return {
  run = function(task)
    if task.attempt == 1 then
      step("post document", function() return true end)
      error("connection reset after posting")
    end
    local p = task.previous[1]
    return { count = #task.previous, attempt = p.attempt, outcome = p.outcome,
             error = p.error, step = p.steps[2].name, step_outcome = p.steps[2].outcome }
  end,
}
