---@meta drudge.desktop
local desktop = {}
---Seconds to wait for the display lock (default 30).
desktop.lock_wait = 30
---Seconds before a task that found the display busy runs again (default 15).
desktop.lock_retry = 15

---@class drudge.desktop.window
---@field id integer
local window = {}
---@return string
function window:title() end
---@return string
function window:class() end
---@return integer?
function window:pid() end
---@return {x: integer, y: integer, width: integer, height: integer}
function window:geometry() end
---@param opts? {timeout?: number}
function window:activate(opts) end
---@param opts? {timeout?: number}
function window:focus(opts) end
---@param x integer
---@param y integer
function window:move(x, y) end
---@param width integer
---@param height integer
function window:resize(width, height) end
function window:close() end
---@return boolean
function window:exists() end
---@param opts? {timeout?: number}
function window:wait_closed(opts) end
---@param opts? {path?: string}
---@return drudge.desktop.shot
function window:screenshot(opts) end

---@class drudge.desktop.shot
---@field sha256 string
---@field width integer
---@field height integer
---@field size integer
---@field content_type string
---@field path string?

---@class drudge.desktop.keyopts
---@field delay_ms? integer 0-1000 (default 12)
---@field window? drudge.desktop.window

---@class drudge.desktop.match
---@field name? string ERE on the title
---@field class? string
---@field instance? string
---@field pid? integer
---@field visible_only? boolean

---@param text string
---@param opts? drudge.desktop.keyopts
function desktop.type(text, opts) end
---@param keys string xdotool names: "ctrl+s", "Return Tab"
---@param opts? drudge.desktop.keyopts
function desktop.key(keys, opts) end
---@param keys string
---@param opts? drudge.desktop.keyopts
function desktop.key_down(keys, opts) end
---@param keys string
---@param opts? drudge.desktop.keyopts
function desktop.key_up(keys, opts) end
---@param x integer
---@param y integer
function desktop.move(x, y) end
---@param opts {x?: integer, y?: integer, button?: integer, count?: integer, window?: drudge.desktop.window}
function desktop.click(opts) end
---@return integer x
---@return integer y
function desktop.mouse_location() end
---@param opts {dx?: integer, dy?: integer}
function desktop.scroll(opts) end
---@param opts drudge.desktop.match
---@return drudge.desktop.window[]
function desktop.find_windows(opts) end
---@param opts drudge.desktop.match|{timeout?: number}
---@return drudge.desktop.window
function desktop.wait_window(opts) end
---@return drudge.desktop.window?
function desktop.active_window() end
---@param opts? {window?: drudge.desktop.window, path?: string}
---@return drudge.desktop.shot
function desktop.screenshot(opts) end
---Releases the display lock before the attempt ends.
function desktop.release() end
return desktop
