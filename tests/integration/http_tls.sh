# drudge.http over TLS: a local HTTPS server with a certificate from a
# self-signed CA made here. Refused without the CA, accepted with ca_file.
source "$TESTS/lib.sh"
# curl honours proxy variables; these tests talk to loopback servers only.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
command -v openssl >/dev/null || { echo "openssl not installed"; exit 77; }

cd "$TMP"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=drudge test CA" \
  -keyout ca.key -out ca.pem -addext basicConstraints=critical,CA:TRUE \
  -addext keyUsage=critical,keyCertSign 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >ext.cnf
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
  -extfile ext.cnf -out server.pem 2>/dev/null
# Another CA, to show a wrong ca_file is refused too.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=other CA" \
  -keyout other.key -out other.pem 2>/dev/null

PORT=$(free_port)
"$BUILD/tests/fixture_server" --port "$PORT" --cert server.pem --key server.key >server.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
wait_port "$PORT"
URL="https://127.0.0.1:$PORT/hello"

cat >plain.lua <<EOF
local http = require "drudge.http"
return { run = function() return http.get("$URL").body end }
EOF
expect_exit 4 "$DRUDGE" run plain.lua
contains "$err" "http: GET $URL: SSL certificate problem" "refused without the CA"

cat >other.lua <<EOF
local http = require "drudge.http"
return { run = function() return http.get("$URL", { ca_file = "$TMP/other.pem" }).body end }
EOF
expect_exit 4 "$DRUDGE" run other.lua
contains "$err" "SSL certificate problem" "refused with another CA"

cat >ca.lua <<EOF
local http = require "drudge.http"
return { run = function()
  local r = http.get("$URL", { ca_file = "$TMP/ca.pem" })
  assert(r.status == 200 and r.body == "hello\n")
  -- the CA as a default, and keep-alive over TLS
  http.defaults{ ca_file = "$TMP/ca.pem" }
  for i = 1, 5 do assert(http.get("$URL").status == 200) end
  return http.post("https://127.0.0.1:$PORT/echo", { json = { tls = true } }):json().body
end }
EOF
expect_exit 0 "$DRUDGE" run ca.lua
equals "$out" '"{\"tls\":true}"' "works with ca_file"

cat >insecure.lua <<EOF
local http = require "drudge.http"
return { run = function() return http.get("$URL", { verify_tls = false }).status end }
EOF
expect_exit 0 "$DRUDGE" run insecure.lua
equals "$out" "200" "verify_tls = false"
finish
