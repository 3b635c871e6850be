-- Allocates until the memory cap stops it. A long timeout: near the cap each
-- failed allocation runs a full collection, which is slow under sanitizers.
return {
  timeout = 120,
  run = function(task)
    local t = {}
    if task.input.swallow then
      while true do
        pcall(function() for i = 1, 1e9 do t[#t + 1] = string.rep("y", 4096) .. i end end)
      end
    end
    for i = 1, 1e9 do t[i] = string.rep("x", 4096) .. i end
  end,
}
