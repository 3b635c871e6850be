---@meta drudge.csv
local csv = {}
---@class drudge.csv.opts
---@field header? boolean the first record names the columns (default true)
---@field sep? string one character (default ",")
---@field encoding? string e.g. "windows-1252" (default UTF-8; a BOM decides)
---@field strict? boolean every record has the header's field count (default true)
---@field skip_blank? boolean (default true)

---@class drudge.csv.wopts
---@field columns? string[]
---@field sep? string
---@field crlf? boolean (default true)
---@field bom? boolean (default false)

---@class drudge.file
---@field path string
---@field sha256 string
---@field size integer

---Streams the rows: for row, line in csv.rows(path) do ... end
---@param path string in the files directory
---@param opts? drudge.csv.opts
---@return fun(): table, integer
function csv.rows(path, opts) end
---@param path string
---@param opts? drudge.csv.opts
---@return table[]
function csv.read(path, opts) end
---@param text string
---@param opts? drudge.csv.opts
---@return table[]
function csv.parse(text, opts) end
---@param path string
---@param rows table[]
---@param opts? drudge.csv.wopts
---@return drudge.file
function csv.write(path, rows, opts) end
return csv
