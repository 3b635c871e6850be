# Sourced by the HTTP benches (http.sh, http_cpu.sh, lone.sh): starts the
# suite's fixture server (tests/fixtures, built into $BUILD/tests) on a free
# port and waits until it listens. Sets PORT and SERVER; on exit the server
# is stopped and $TMP removed. (Not a .sh: tests/bench/run runs those.)
start_fixture_server() {
  PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$BUILD/tests/fixture_server" --port "$PORT" >server.log 2>&1 &
  SERVER=$!
  trap 'kill $SERVER 2>/dev/null || true; rm -rf "$TMP"' EXIT
  for ((i = 0; i < 100; i++)); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.05; done
}
