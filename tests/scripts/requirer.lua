local helper = require "lib.helper"
return { run = function(task) return helper.double(task.input.n) end }
