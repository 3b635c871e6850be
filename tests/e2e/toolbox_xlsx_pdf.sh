# drudge.xlsx and drudge.pdf: a workbook written by drudge read back by
# drudge and by openpyxl, one written by openpyxl read by drudge (dates as
# ISO strings), damaged workbooks and PDFs giving clear errors, PDF text and
# metadata, and a missing module's error listing the modules that exist.
source "$TESTS/lib.sh"
FILES="$TMP/files"
mkdir -p "$FILES"
PY=/usr/bin/python3
$PY -c 'import openpyxl' 2>/dev/null || { echo "python3-openpyxl is missing (scripts/setup.sh installs it)"; exit 77; }
run() { expect_exit "$1" "$DRUDGE" --files "$FILES" run "$2"; }

# drudge -> drudge and drudge -> openpyxl
cat >"$TMP/w.lua" <<'LUA'
local xlsx = require "drudge.xlsx"
local json = require "drudge.json"
return { run = function()
  local w = xlsx.write("book.xlsx", {
    { name = "Cases", columns = { "ref", "amount", "due", "ok", "n" },
      formats = { amount = "#,##0.00", due = "yyyy-mm-dd hh:mm" }, widths = { ref = 20 },
      rows = { { ref = "CR-1", amount = 12.5, due = "2026-11-23", ok = true, n = 3 },
               { ref = "Zoë's", amount = 1e6, due = "2026-12-01T09:15:00", ok = false } } },
    { name = "Raw", rows = { { "a", "b" }, { 1, 2.25 } } },
  })
  return { w = w, sheets = xlsx.sheets("book.xlsx"), cases = xlsx.read("book.xlsx"),
           raw = xlsx.read("book.xlsx", { sheet = "Raw", header = false }),
           second = xlsx.read("book.xlsx", { sheet = 2 }) }
end }
LUA
run 0 "$TMP/w.lua"
contains "$out" '"sheets":["Cases","Raw"]' "sheet names"
contains "$out" '"cases":[{"amount":12.5,"due":"2026-11-23","n":3,"ok":true,"ref":"CR-1"},{"amount":1000000,"due":"2026-12-01T09:15:00","ok":false,"ref":"Zoë'"'"'s"}]' "drudge reads its own workbook back (dates as ISO strings)"
contains "$out" '"raw":[["a","b"],[1,2.25]]' "header = false: lists"
contains "$out" '"second":[{"a":1,"b":2.25}]' "sheet by number"
sha=$(sha256sum "$FILES/book.xlsx" | cut -d' ' -f1)
contains "$out" "\"sha256\":\"$sha\"" "xlsx.write returns the SHA-256"
contains "$(sql "select response from steps where kind = 'file' and name = 'xlsx.write book.xlsx'")" "\"sha256\":\"$sha\"" "recorded as a file step"
equals "$(stat -c %a "$FILES/book.xlsx")" "600" "workbook mode 0600"
got=$($PY - "$FILES/book.xlsx" <<'PY'
import sys, openpyxl
wb = openpyxl.load_workbook(sys.argv[1])
ws = wb["Cases"]
print(wb.sheetnames)
print([[c.value for c in r] for r in ws.iter_rows()])
print(ws["B2"].number_format, ws["A1"].font.b, round(ws.column_dimensions["A"].width), ws.freeze_panes)
print([[c.value for c in r] for r in wb["Raw"].iter_rows()])
PY
)
equals "$got" "['Cases', 'Raw']
[['ref', 'amount', 'due', 'ok', 'n'], ['CR-1', 12.5, datetime.datetime(2026, 11, 23, 0, 0), True, 3], [\"Zoë's\", 1000000, datetime.datetime(2026, 12, 1, 9, 15), False, None]]
#,##0.00 True 21 A2
[['a', 'b'], [1, 2.25]]" "openpyxl reads drudge's workbook: values, dates, formats, bold header, width, frozen header"

# openpyxl -> drudge
$PY - "$FILES/py.xlsx" <<'PY'
import sys, datetime, openpyxl
wb = openpyxl.Workbook()
ws = wb.active
ws.title = "Payments"
ws.append(["ref", "paid on", "amount", "approved", "note"])
ws.append(["P-1", datetime.date(2026, 3, 1), 10.5, True, "café, « quoted »"])
ws.append(["P-2", datetime.datetime(2026, 3, 2, 14, 30), 7, False, None])
ws.append([])
ws.append(["P-3", datetime.date(1900, 1, 1), -0.25, None, "plain, text"])
wb.create_sheet("Empty")
wb.save(sys.argv[1])
PY
cat >"$TMP/r.lua" <<'LUA'
local xlsx = require "drudge.xlsx"
return { run = function()
  return { sheets = xlsx.sheets("py.xlsx"), rows = xlsx.read("py.xlsx"), empty = xlsx.read("py.xlsx", { sheet = "Empty" }) }
end }
LUA
run 0 "$TMP/r.lua"
contains "$out" '"sheets":["Payments","Empty"]' "openpyxl's sheets"
contains "$out" '{"amount":10.5,"approved":true,"note":"café, « quoted »","paid on":"2026-03-01","ref":"P-1"}' "openpyxl row 1 (date, float, bool, Unicode)"
contains "$out" '{"amount":7,"approved":false,"paid on":"2026-03-02T14:30:00","ref":"P-2"}' "openpyxl row 2 (date-time, integer, empty cell)"
contains "$out" '{"amount":-0.25,"note":"plain, text","paid on":"1900-01-01","ref":"P-3"}' "row after an empty row; 1900-01-01"
contains "$out" '"empty":{}' "an empty sheet"

# Damaged workbooks: clear errors, naming the file.
head -c 2000 /dev/urandom >"$FILES/random.xlsx"
head -c 3000 "$FILES/book.xlsx" >"$FILES/truncated.xlsx"
(cd "$TMP" && mkdir -p z && cd z && echo hi >readme.txt && $PY -c 'import zipfile; z=zipfile.ZipFile("../files/nowb.xlsx","w"); z.write("readme.txt"); z.close()')
$PY - "$FILES/py.xlsx" "$FILES/badxml.xlsx" <<'PY'
import sys, zipfile
src, dst = zipfile.ZipFile(sys.argv[1]), zipfile.ZipFile(sys.argv[2], "w")
for i in src.infolist():
    data = src.read(i.filename)
    if i.filename == "xl/worksheets/sheet1.xml":
        data = data[: len(data) // 2]
    dst.writestr(i, data)
dst.close()
PY
cat >"$TMP/bad.lua" <<'LUA'
local xlsx = require "drudge.xlsx"
return { run = function()
  local out = {}
  for _, f in ipairs { "random.xlsx", "truncated.xlsx", "nowb.xlsx", "badxml.xlsx", "none.xlsx" } do
    local ok, e = pcall(xlsx.read, f)
    out[#out + 1] = tostring(e)
  end
  local ok, e = pcall(xlsx.read, "py.xlsx", { sheet = "Nope" })
  out[#out + 1] = tostring(e)
  return out
end }
LUA
run 0 "$TMP/bad.lua"
contains "$out" "xlsx.read: random.xlsx: not an xlsx workbook (Not a zip archive)" "random bytes"
contains "$out" "xlsx.read: truncated.xlsx: not an xlsx workbook" "truncated workbook"
contains "$out" "xlsx.read: nowb.xlsx: not an xlsx workbook (a zip archive without xl/workbook.xml)" "a zip that is no workbook"
contains "$out" "xlsx.read: badxml.xlsx: part xl/worksheets/sheet1.xml is not well-formed XML" "damaged sheet XML"
contains "$out" "xlsx.read: none.xlsx: not an xlsx workbook" "missing file"
contains "$out" "xlsx.read: py.xlsx has no sheet 'Nope'" "unknown sheet"
cat >"$TMP/badw.lua" <<'LUA'
local xlsx = require "drudge.xlsx"
return { run = function() xlsx.write("x.xlsx", { { name = "a/b", rows = {} } }) end }
LUA
run 2 "$TMP/badw.lua"
contains "$err" "'name' must be 1 to 31 characters" "bad sheet name: a configuration error"

# PDF: text per page and metadata; damaged files.
$PY "$TESTS/data/pdf/make_pdf.py" "$FILES/inv.pdf"
head -c 400 "$FILES/inv.pdf" >"$FILES/cut.pdf"
cp "$FILES/book.xlsx" "$FILES/notpdf.pdf"
cat >"$TMP/pdf.lua" <<'LUA'
local pdf = require "drudge.pdf"
return { run = function()
  local d = pdf.read("inv.pdf")
  local out = { pages = d.pages, n = d.page_count, title = d.title, author = d.author, created = d.created,
                info_pages = pdf.info("inv.pdf").pages }
  for _, f in ipairs { "cut.pdf", "notpdf.pdf", "none.pdf" } do
    local ok, e = pcall(pdf.read, f)
    out[f] = tostring(e)
  end
  return out
end }
LUA
run 0 "$TMP/pdf.lua"
contains "$out" '"pages":["Invoice 2026-118\nTotal due: 40.00","Page two: signed"]' "text per page"
contains "$out" '"n":2' "page count"
contains "$out" '"title":"Invoice 118"' "title"
contains "$out" '"author":"Case Office"' "author"
contains "$out" '"created":"2026-11-23T09:15:02Z"' "creation date"
contains "$out" '"cut.pdf":"pdf.read: cut.pdf: PDF document is damaged"' "truncated PDF"
contains "$out" '"notpdf.pdf":"pdf.read: notpdf.pdf: PDF document is damaged"' "not a PDF"
contains "$out" '"none.pdf":"pdf.read: none.pdf: No such file or directory"' "missing PDF"

# A module that does not exist: the error lists those that do.
cat >"$TMP/nomod.lua" <<'LUA'
return { run = function() require "drudge.excel" end }
LUA
run 2 "$TMP/nomod.lua"
contains "$err" "no built-in module 'drudge.excel' (built-in: drudge.json, drudge.log, drudge.queue, drudge.http, drudge.desktop, drudge.mail, drudge.browser, drudge.csv, drudge.xlsx, drudge.pdf)" "missing module lists the modules"

finish
