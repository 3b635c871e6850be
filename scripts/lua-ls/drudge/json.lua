---@meta drudge.json
local json = {}
---JSON null, as decoded.
json.null = nil ---@type lightuserdata
---@param text string
---@return any
function json.decode(text) end
---Deterministic: sorted keys, integers stay integers.
---@param value any
---@return string
function json.encode(value) end
---Marks t (or a new table) as an array, so it encodes as [] when empty.
---@param t? table
---@return table
function json.array(t) end
return json
