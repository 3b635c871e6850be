# The Lua language server definitions (scripts/lua-ls/) name every global
# drudge gives a script and every function and field of every built-in
# module, and nothing else: compared with what drudge itself registers.
source "$TESTS/lib.sh"
DEFS="$SRC/scripts/lua-ls"
mkdir -p "$TMP/files"

# The modules drudge has, as its own error lists them.
echo 'return { run = function() require "drudge.no_such_module" end }' >"$TMP/mods.lua"
expect_exit 2 "$DRUDGE" --files "$TMP/files" run "$TMP/mods.lua"
mods=$(echo "$err" | sed -n 's/.*(built-in: \([^)]*\)).*/\1/p' | head -1 | tr -d ',')
[ -n "$mods" ] && pass || fail "no module list in: $err"

# What they register, and the sandbox's globals.
{
  echo 'local out = {}'
  echo 'return { run = function()'
  for m in $mods; do
    echo "  for k in pairs(require \"$m\") do out[#out + 1] = \"$m \" .. k end"
  done
  echo '  for k in pairs(_G) do out[#out + 1] = "_G " .. k end'
  echo '  table.sort(out); return table.concat(out, "\n") end }'
} >"$TMP/names.lua"
expect_exit 0 "$DRUDGE" --files "$TMP/files" run "$TMP/names.lua"
registered=$(echo "$out" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin))')

# Lua's own globals (the language server knows them already).
lua_std="_G _VERSION assert collectgarbage coroutine error getmetatable io ipairs load math next os pairs pcall print rawequal rawget rawlen rawset require select setmetatable string table tonumber tostring type utf8 xpcall"

declared=$(
  for m in $mods; do
    f="$DEFS/$(echo "$m" | tr . /).lua"
    if [ ! -f "$f" ]; then echo "MISSING-FILE $m"; continue; fi
    head -1 "$f" | grep -qx -- "---@meta $m" || echo "BAD-HEADER $m"
    v=$(sed -n 's/^local \([a-z_]*\) = {}$/\1/p' "$f" | head -1)
    sed -n "s/^function $v\.\([a-z_]*\)(.*/$m \1/p; s/^$v\.\([a-z_]*\) = .*/$m \1/p" "$f"
  done
  sed -n 's/^function \([a-z_]*\)(.*/_G \1/p; s/^\([a-z_]*\) = .*/_G \1/p' "$DEFS/globals.lua"
  for g in $lua_std; do echo "_G $g"; done
)
want=$(echo "$registered" | sort -u)
have=$(echo "$declared" | sort -u)
missing=$(comm -23 <(echo "$want") <(echo "$have"))
extra=$(comm -13 <(echo "$want") <(echo "$have"))
equals "$missing" "" "registered but not in scripts/lua-ls"
equals "$extra" "" "in scripts/lua-ls but not registered"
n=$(echo "$want" | grep -vc '^_G ')
[ "$n" -gt 40 ] && pass || fail "only $n module functions and fields found"

# The options each function takes in drudge check's lint are the options the
# definitions declare (for the classes both name).
defaults=$(sed -n '/^---@class drudge.http.defaults/,/^$/s/^---@field \([a-z_]*\).*/\1/p' "$DEFS/drudge/http.lua" | sort | tr '\n' ' ')
lint=$(sed -n '/^local http_defaults = {/,/}/p' "$SRC/runner/host/lint.lua" | grep -o '"[a-z_]*"' | tr -d '"' | sort | tr '\n' ' ')
equals "$defaults" "$lint" "http defaults: the same options in scripts/lua-ls and drudge check"
finish
