---@meta drudge.http
local http = {}

---@class drudge.http.retry
---@field attempts? integer tries in all, 1-100 (default 3)
---@field on? integer[] statuses to retry (default {429, 502, 503, 504})
---@field backoff? number seconds (default 0.5), doubled per try
---@field max_delay? number seconds (default 30)
---@field errors? boolean retry transient transport failures (default true)

---@class drudge.http.defaults
---@field headers? table<string, string|false>
---@field auth? {bearer: string}|{basic: string[]}|{user: string, pass: string}
---@field timeout? number seconds for one try (default 60)
---@field connect_timeout? number (default 10)
---@field follow_redirects? boolean (default true)
---@field max_redirects? integer (default 10)
---@field verify_tls? boolean (default true)
---@field ca_file? string
---@field proxy? string
---@field raise? boolean a status >= 400 raises (4xx: not retried)
---@field retry? boolean|drudge.http.retry
---@field body_inline_max? integer
---@field body_record_max? integer
---@field base_url? string

---@class drudge.http.opts: drudge.http.defaults
---@field url? string
---@field method? string
---@field query? table<string, any>
---@field body? string
---@field json? any
---@field form? table<string, any>
---@field multipart? table<string, string|{path?: string, data?: string, filename?: string, type?: string}>
---@field output? string write the body to this file in the files directory

---@class drudge.http.response
---@field status integer
---@field method string
---@field url string after redirects
---@field body string? nil with output
---@field output string?
---@field size integer
---@field elapsed number
---@field attempts integer
---@field headers table<string, string> any case
---@field raw_headers string
---@field links table<string, string> Link headers: relation -> URL
local response = {}
---@return any
function response:json() end
---@return boolean
function response:ok() end
---@param name string
---@return string[]
function response:header_all(name) end

---@param opts drudge.http.opts
---@return drudge.http.response
function http.request(opts) end
---@param url string|drudge.http.opts
---@param opts? drudge.http.opts
---@return drudge.http.response
function http.get(url, opts) end
---@param url string|drudge.http.opts
---@param opts? drudge.http.opts
---@return drudge.http.response
function http.head(url, opts) end
---@param url string|drudge.http.opts
---@param opts? drudge.http.opts
---@return drudge.http.response
function http.post(url, opts) end
---@param url string|drudge.http.opts
---@param opts? drudge.http.opts
---@return drudge.http.response
function http.put(url, opts) end
---@param url string|drudge.http.opts
---@param opts? drudge.http.opts
---@return drudge.http.response
function http.patch(url, opts) end
---@param url string|drudge.http.opts
---@param opts? drudge.http.opts
---@return drudge.http.response
function http.delete(url, opts) end
---Options merged under every call of this module.
---@param opts drudge.http.defaults
function http.defaults(opts) end
---A table with the same functions, with these defaults.
---@param opts drudge.http.defaults
---@return drudge.http
function http.client(opts) end
---@param s string
---@return string
function http.escape(s) end
---@param host string
---@param limits {per_second?: number, per_minute?: number, concurrent?: integer, burst?: integer}
function http.limit(host, limits) end
return http
