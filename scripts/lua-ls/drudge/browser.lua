---@meta drudge.browser
-- drudge.browser: Chromium through WebDriver (scripts/README.md, "drudge.browser").
local browser = {}

---How long find and the actions wait for their target (seconds, default 10).
---@type number
browser.timeout = 10
---How long browser.open waits for the browser to start (seconds).
---@type number
browser.open_timeout = 30
---How long a navigation waits for its page (seconds).
---@type number
browser.page_timeout = 30
---Start the next session's browser in the background after each open: true from
---a worker's first open, false never; "auto" (the default), from its second open on.
---@type boolean|"auto"
browser.prewarm = "auto"
---Run headless sessions in Debian's chromium-headless-shell when it is installed
---(about half chromium's start-up); false: always full chromium.
---@type boolean
browser.headless_shell = true

---@class drudge.browser.opts
---@field headless? boolean (default true)
---@field size? integer[] {width, height} (default {1280, 900})
---@field downloads? string a directory in the files directory
---@field screenshot_on_error? boolean a screenshot step when a call fails

---A target, described as a person would: one of label, role (+ name), text, css, xpath.
---@class drudge.browser.target
---@field label? string a field's visible label, aria-label, aria-labelledby or placeholder
---@field role? string an ARIA role ("button", "link", "textbox", ...)
---@field name? string the accessible name, with role
---@field text? string visible text
---@field css? string a CSS selector
---@field xpath? string an XPath expression
---@field index? integer which of several matches (1-based)
---@field timeout? number seconds to wait for it

---@class drudge.browser.element
local element = {}
---@param opts? table
function element:click(opts) end
---@param text string
---@param opts? table {clear = true, secret = false}
function element:type(text, opts) end
---@param keys string
function element:press(keys) end
---@return string
function element:text() end
---@param name string
---@return string|nil
function element:attr(name) end

---@class drudge.browser.session
local session = {}
---@param url string
function session:go(url) end
function session:back() end
function session:forward() end
function session:reload() end
---@return string
function session:url() end
---@return string
function session:title() end
---@param target drudge.browser.target|string
---@return drudge.browser.element
function session:find(target) end
---@param target drudge.browser.target|string
---@return drudge.browser.element[]
function session:find_all(target) end
---@param target drudge.browser.target|string
---@param text string
---@param opts? table {clear = true, secret = false}
function session:type(target, text, opts) end
---@param target drudge.browser.target|string
function session:click(target) end
---@param target drudge.browser.target|string
---@param option string an option's label or value
function session:select(target, option) end
---@param target drudge.browser.target|string
function session:check(target) end
---@param target drudge.browser.target|string
function session:uncheck(target) end
---@param target drudge.browser.target|string
---@return boolean
function session:checked(target) end
---@param target drudge.browser.target|string
---@param path string a file in the files directory
function session:upload(target, path) end
---@param keys string
---@param target? drudge.browser.target|string
function session:press(keys, target) end
---@param target drudge.browser.target|string
function session:hover(target) end
---@param target drudge.browser.target|string
---@return string
function session:text(target) end
---@param target drudge.browser.target|string
---@return string
function session:value(target) end
---@param target drudge.browser.target|string
---@param name string
---@return string|nil
function session:attr(target, name) end
---@param target drudge.browser.target|string
---@return boolean
function session:visible(target) end
---@param target drudge.browser.target|string
---@return table[] rows keyed by the header cells
function session:table(target) end
---@param what table {url = ..., text = ..., gone = ..., timeout = ...}
function session:wait_for(what) end
---@param js string
---@return any
function session:eval(js, ...) end
---@param target? drudge.browser.target|string the page if nil
---@return table the stored screenshot's step
function session:screenshot(target) end
---@param target drudge.browser.target|string an iframe
function session:frame(target) end
function session:parent_frame() end
---@return table
function session:tabs() end
---@param url? string
function session:new_tab(url) end
---@param tab any
function session:switch_tab(tab) end
function session:close_tab() end
---@return string|nil
function session:accept_alert() end
---@return string|nil
function session:dismiss_alert() end
---Waits for a download to finish; its file in the downloads directory.
---@param opts? table {timeout = ...}
---@return table
function session:wait_download(opts) end
function session:close() end

---Opens a session; it is closed when the attempt ends, whatever happens.
---@param opts? drudge.browser.opts
---@return drudge.browser.session
function browser.open(opts) end

return browser
