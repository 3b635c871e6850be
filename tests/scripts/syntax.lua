return {
  run = function(task)
    local x = = 1
  end,
}
