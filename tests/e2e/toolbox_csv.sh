# drudge.csv: RFC 4180 reading (quotes, commas and line breaks in fields,
# CRLF, byte order marks, other encodings), broken quoting named by file and
# line, a 50 MB file streamed in constant memory, writing as a "file" step
# with the SHA-256, and only inside the files directory.
source "$TESTS/lib.sh"
FILES="$TMP/files"
mkdir -p "$FILES"
run() { expect_exit "$1" "$DRUDGE" --files "$FILES" run "$2"; }

printf 'id,name,note\r\n1,Zoë,"a, b"\r\n2,"O""Brien","line1\nline2"\r\n\r\n3,x,\r\n' >"$FILES/a.csv"
printf '\xef\xbb\xbfid;v\n1;x\n' >"$FILES/bom.csv"
printf '\xff\xfei\x00d\x00,\x00v\x00\n\x001\x00,\x00\xe9\x00\n\x00' >"$FILES/utf16.csv"
printf 'id,name\n1,caf\xe9\n' >"$FILES/latin.csv"
printf 'id,name\n1,"bad"x\n' >"$FILES/bad1.csv"
printf 'id,name\n1,ba"d\n' >"$FILES/bad2.csv"
printf 'id,name\n1,ok\n2,"never\n3,x\n' >"$FILES/bad3.csv"
printf 'id,name\n1,a,extra\n' >"$FILES/ragged.csv"
printf 'id,id\n1,2\n' >"$FILES/dup.csv"
cat >"$TMP/read.lua" <<'LUA'
local csv = require "drudge.csv"
local json = require "drudge.json"
return { run = function()
  local out = {}
  for row, line in csv.rows("a.csv") do out[#out + 1] = line .. " " .. json.encode(row) end
  out[#out + 1] = json.encode(csv.read("bom.csv", { sep = ";" }))
  out[#out + 1] = json.encode(csv.read("utf16.csv"))
  out[#out + 1] = json.encode(csv.read("latin.csv", { encoding = "windows-1252" }))
  out[#out + 1] = json.encode(csv.read("ragged.csv", { strict = false }))
  out[#out + 1] = json.encode(csv.parse("a,b\n1,2", { header = false }))
  for _, f in ipairs { "bad1.csv", "bad2.csv", "bad3.csv", "latin.csv", "ragged.csv", "dup.csv", "none.csv" } do
    local ok, e = pcall(csv.read, f)
    out[#out + 1] = f .. " " .. tostring(e)
  end
  local ok, e = pcall(csv.read, "../outside.csv")
  out[#out + 1] = tostring(e)
  return out
end }
LUA
run 0 "$TMP/read.lua"
contains "$out" '"2 {\"id\":\"1\",\"name\":\"Zoë\",\"note\":\"a, b\"}"' "quoted comma, UTF-8"
contains "$out" '"3 {\"id\":\"2\",\"name\":\"O\\\"Brien\",\"note\":\"line1\\nline2\"}"' "doubled quote, line break in a field"
contains "$out" '"6 {\"id\":\"3\",\"name\":\"x\",\"note\":\"\"}"' "blank line skipped, line numbers kept, empty last field"
contains "$out" '[{\"id\":\"1\",\"v\":\"x\"}]' "UTF-8 BOM skipped, sep"
contains "$out" '[{\"id\":\"1\",\"v\":\"é\"}]' "UTF-16 by its BOM"
contains "$out" '[{\"id\":\"1\",\"name\":\"café\"}]' "windows-1252"
contains "$out" '[{\"id\":\"1\",\"name\":\"a\"}]' "strict = false drops extra fields"
contains "$out" '[[\"a\",\"b\"],[\"1\",\"2\"]]' "header = false, no final newline"
contains "$out" "bad1.csv csv: bad1.csv:2: field 2: 'x' after the closing quote" "text after a closing quote"
contains "$out" "bad2.csv csv: bad2.csv:2: field 2: a quote inside a field that does not start with one" "quote in an unquoted field"
contains "$out" "bad3.csv csv: bad3.csv:3: field 2: the quoted field never ends" "unterminated quote, its line"
contains "$out" "latin.csv csv: latin.csv:2: field 2 is not valid UTF-8 (give the file's encoding" "not UTF-8"
contains "$out" "ragged.csv csv: ragged.csv:2: 3 fields, the header has 2" "ragged row"
contains "$out" "dup.csv csv: dup.csv:1: the header names column 'id' twice" "duplicate column"
contains "$out" "none.csv csv.read: cannot open none.csv: No such file or directory" "missing file"
contains "$out" "outside the files directory" "confined to the files directory"

# Writing: header from the keys (sorted) or columns, quoting, BOM, a step with the SHA-256.
cat >"$TMP/write.lua" <<'LUA'
local csv = require "drudge.csv"
return { run = function()
  local a = csv.write("out.csv", { { id = 1, name = "Zoë", amount = 1.5 }, { id = 2, name = 'say "hi", ok', ok = true } })
  local b = csv.write("cols.csv", { { id = 1, name = "x", skip = "y" } }, { columns = { "name", "id" }, bom = true, crlf = false })
  local back = csv.read("out.csv")
  assert(back[2].name == 'say "hi", ok' and back[1].amount == "1.5" and back[2].ok == "true", "round trip")
  return { a = a, b = b }
end }
LUA
run 0 "$TMP/write.lua"
equals "$(cat "$FILES/out.csv" | tr '\r' '~')" 'amount,id,name,ok~
1.5,1,Zoë,~
,2,"say ""hi"", ok",true~' "written CSV (CRLF, quoting, sorted columns)"
equals "$(od -An -c -N3 "$FILES/cols.csv" | tr -d ' ')" '357273277' "BOM written"
equals "$(tail -c +4 "$FILES/cols.csv")" 'name,id
x,1' "columns chosen and ordered, LF"
equals "$(stat -c %a "$FILES/out.csv")" "600" "written 0600"
sha=$(sha256sum "$FILES/out.csv" | cut -d' ' -f1)
contains "$out" "\"sha256\":\"$sha\"" "csv.write returns the SHA-256"
equals "$(sql "select kind || ' ' || name || ' ' || outcome from steps where kind = 'file' order by id" | head -1)" "file csv.write out.csv ok" "a file step"
contains "$(sql "select response from steps where kind = 'file' and name = 'csv.write out.csv'")" "\"sha256\":\"$sha\"" "the step holds the SHA-256"
[ ! -e "$FILES/out.csv.part" ] && pass || fail "no .part left behind"
cat >"$TMP/badwrite.lua" <<'LUA'
local csv = require "drudge.csv"
return { run = function() csv.write("x.csv", { { f = print } }) end }
LUA
run 2 "$TMP/badwrite.lua"
contains "$err" "csv.write: rows[1].f is a function" "a value that cannot be written: configuration error"

# att:save() is a file step too.
printf 'From: a@b.example\r\nTo: c@d.example\r\nSubject: s\r\nMessage-ID: <m1@x>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nhi\r\n--XX\r\nContent-Type: text/csv; name=list.csv\r\nContent-Disposition: attachment; filename=list.csv\r\n\r\nid\r\n7\r\n--XX--\r\n' >"$FILES/m.eml"
cat >"$TMP/att.lua" <<'LUA'
local mail = require "drudge.mail"
local csv = require "drudge.csv"
return { run = function()
  local f = io.open("m.eml", "rb"); local raw = f:read("a"); f:close()
  local p = mail.parse(raw).attachments[1]:save("in")
  return { path = p, rows = csv.read("in/list.csv") }
end }
LUA
run 0 "$TMP/att.lua"
contains "$out" '"rows":[{"id":"7"}]' "saved attachment read back"
sha=$(sha256sum "$FILES/in/list.csv" | cut -d' ' -f1)
contains "$(sql "select response from steps where kind = 'file' and name like 'att:save %'")" "\"sha256\":\"$sha\"" "att:save recorded with the SHA-256"

# 50 MB in constant memory (5 MB under the sanitizers, which are ~20x slower).
mb=50
[ "${DRUDGE_SANITIZE:-OFF}" = "ON" ] && mb=5
/usr/bin/python3 - "$FILES/big.csv" "$mb" <<'PY'
import sys
with open(sys.argv[1], 'w', newline='') as f:
    f.write('id,name,amount,note\r\n')
    i = 0
    while f.tell() < int(sys.argv[2]) * 1024 * 1024:
        for _ in range(1000):
            i += 1
            f.write(f'{i},Name {i},{i * 2},"a note, with a comma and ""quotes"" {i}"\r\n')
print(i, file=open(sys.argv[1] + '.n', 'w'))
PY
n=$(cat "$FILES/big.csv.n")
cat >"$TMP/big.lua" <<'LUA'
local csv = require "drudge.csv"
return { timeout = 120, run = function()
  local n, peak, sum = 0, 0, 0
  for row in csv.rows("big.csv") do
    n = n + 1
    sum = sum + tonumber(row.amount)
    if n % 10000 == 0 then
      collectgarbage("step")
      local kb = collectgarbage("count")
      if kb > peak then peak = kb end
    end
  end
  return { rows = n, peak_kb = peak, sum = sum }
end }
LUA
run 0 "$TMP/big.lua"
contains "$out" "\"rows\":$n," "every row of the $mb MB file read"
contains "$out" "\"sum\":$((n * (n + 1)))}" "every amount read"
peak=$(echo "$out" | /usr/bin/python3 -c 'import json,sys; print(int(json.load(sys.stdin)["peak_kb"]))')
[ "$peak" -lt 8192 ] && pass || fail "reading $mb MB used $peak KiB of Lua memory (constant memory expected)"
echo "$mb MB CSV: $n rows, peak Lua memory $peak KiB"

finish
