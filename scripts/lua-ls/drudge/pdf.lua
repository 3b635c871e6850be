---@meta drudge.pdf
local pdf = {}
---@class drudge.pdf.info
---@field page_count integer
---@field title string?
---@field author string?
---@field subject string?
---@field keywords string?
---@field creator string?
---@field producer string?
---@field created string?
---@field modified string?

---@class drudge.pdf.document: drudge.pdf.info
---@field pages string[] text per page

---@param path string
---@param opts? {password?: string}
---@return drudge.pdf.document
function pdf.read(path, opts) end
---@param path string
---@param opts? {password?: string}
---@return drudge.pdf.info
function pdf.info(path, opts) end
return pdf
