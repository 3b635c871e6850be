---@meta drudge.xlsx
local xlsx = {}
---@class drudge.xlsx.sheet
---@field name string 1-31 characters
---@field rows table[]
---@field columns? string[]
---@field formats? table<string, string> column -> number format ("#,##0.00", "yyyy-mm-dd")
---@field widths? table<string|integer, number>

---@param path string
---@return string[]
function xlsx.sheets(path) end
---@param path string
---@param opts? {sheet?: integer|string, header?: boolean}
---@return table[]
function xlsx.read(path, opts) end
---@param path string
---@param sheets drudge.xlsx.sheet[]
---@return drudge.file
function xlsx.write(path, sheets) end
return xlsx
