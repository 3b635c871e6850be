return {
  name = "ok-script",
  manual_minutes = 4,
  exception_minutes = 6.5,
  max_attempts = 5,
  timeout = 2,
  run = function(task)
    return { got = task.input, id = task.id, attempt = task.attempt, key = task.key }
  end,
}
