---@meta drudge.queue
local queue = {}
---@class drudge.queue.opts
---@field key? string|number unique per script: a duplicate returns the existing id
---@field priority? integer -1000000 to 1000000
---@field at? string|number "2026-11-23T19:00", "+30m" or seconds since the epoch
---@field manual_minutes? number
---@field exception_minutes? number

---@param script string a script file or the name of a script queued before
---@param input any
---@param opts? drudge.queue.opts
---@return integer id
---@return boolean duplicate
function queue.enqueue(script, input, opts) end
return queue
