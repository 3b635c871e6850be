---@meta
-- drudge's script globals, for the Lua language server (LuaLS): see
-- scripts/README.md ("Editor support"). The sandbox has these and the safe
-- parts of Lua's standard library; tests/e2e/toolbox_lsp.sh checks this
-- file against the functions drudge registers.

---A script: the table a script file returns.
---@class drudge.script
---@field run fun(task: drudge.task): any
---@field name? string letters, digits, `_ - .`; defaults to the file name
---@field manual_minutes? number minutes one item takes a person
---@field exception_minutes? number minutes a person spends on an item the robot failed
---@field max_attempts? integer 1-1000, default 3
---@field timeout? number seconds per attempt, default 300
---@field window? string run window, e.g. "Mon-Fri 18:00-07:30"
---@field screenshot_on_error? boolean desktop: capture the screen when a step fails
---@field targets? table<integer|string, string> hosts it calls, e.g. { "cms.example.org", mail = "mail.example.org" }: held at once while one is down
---@field description? string

---@class drudge.task
---@field id integer the task's number (stable across attempts)
---@field key string? the key given at enqueue
---@field attempt integer 1 for the first attempt
---@field script string the script's name
---@field input any the decoded JSON input
---@field previous table[] earlier attempts, oldest first, with their steps

---An error raised by drudge, as pcall returns it.
---@class drudge.error
---@field message string
---@field traceback string?
---@field kind "error"|"fail"|"retry"|"config"
---@field delay number retry_later's seconds

---Runs fn(...) as a named step of the audit trail; returns what fn returns.
---@param name string
---@param fn function
---@param ... any
---@return any ...
function step(name, fn, ...) end

---A business exception: the task ends failed, not retried.
---@param msg string
function fail(msg) end

---Requeues the task after seconds without spending an attempt.
---@param seconds number 0 to a year
---@param msg? string
function retry_later(seconds, msg) end

---Says target is down (a maintenance page): its circuit breaker opens for every worker, and this task waits without spending an attempt.
---@param target string a host, or a name from the script's targets
---@param reason? string
function outage(target, reason) end

---A credential from DRUDGE_SECRET_<NAME> or the secrets file; only its name is recorded.
---@param name string letters, digits and '_'
---@return string
function secret(name) end

---Waits without using the CPU; a "wait" step. Ends early on cancel or the attempt's timeout.
---@param seconds number 0 to a year
function sleep(seconds) end

---@class drudge.wait_opts
---@field timeout? number seconds before giving up (a system error), default 60
---@field every? number seconds between calls, default 1

---Calls fn until it returns a true value and returns what it returned.
---@generic T
---@param fn fun(): T
---@param opts? drudge.wait_opts
---@return T
function wait_until(fn, opts) end

---Free-text lines, recorded as "log" steps (also require "drudge.log").
log = require "drudge.log"
