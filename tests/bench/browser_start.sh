# Where a cold browser.open goes (issue 18: browser.open to the first page
# under 1 s): chromedriver's start (spawn until it listens), the session
# (chromedriver starts Chromium and connects to it), and the first page, each
# timed on its own through chromedriver's HTTP API (one client process, so
# no shell or curl start is counted) with the flags drudge sends, beside
# variants of those flags, in paired rounds (each round runs every variant
# once, in turn). Also the CPU time of the whole tree up to the first page
# (chromedriver and every Chromium process, read from /proc before the
# session closes: utime+stime, and those of children already reaped), which
# the machine's load does not stretch as it stretches wall time, and the
# number of Chromium processes then.
# Variants: "drudge" (connectors/browser/proc.c's flags), "before" (the
# flags drudge sent before the start was cut), and drudge's flags less one
# choice each: "gpu-process" (no --in-process-gpu), "zygote-2" (no
# --no-unsandboxed-zygote: a second zygote starts), "network-process" (no
# NetworkServiceInProcess2), "renderer-2" (no --renderer-process-limit=1:
# the first page starts a second renderer).
# Env: ROUNDS (default 5).
set -euo pipefail
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
cd "$TMP"
SHELL_BIN=/usr/lib/chromium/chromium-headless-shell
[ -x "$SHELL_BIN" ] || { echo "no chromium-headless-shell: nothing to measure"; exit 0; }
"$BUILD/tests/browser_server" >server.out 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -s server.out ] && break; sleep 0.1; done
export URL="http://127.0.0.1:$(awk '{print $2}' server.out)/table" SHELL_BIN ROUNDS=${ROUNDS:-5}
python3 - <<'PY'
import http.client, json, os, re, shutil, subprocess, tempfile, time

SHELL, URL, ROUNDS = os.environ["SHELL_BIN"], os.environ["URL"], int(os.environ["ROUNDS"])
# connectors/browser/proc.c, capabilities() (headless; --no-sandbox as root)
DRUDGE = ["--remote-debugging-pipe", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
          "--disable-extensions", "--disable-background-networking", "--disable-sync",
          "--disable-component-update", "--disable-default-apps",
          "--disable-component-extensions-with-background-pages",
          "--disable-client-side-phishing-detection", "--disable-field-trial-config", "--disable-breakpad",
          "--disable-hang-monitor", "--disable-search-engine-choice-screen", "--metrics-recording-only",
          "--no-service-autorun", "--mute-audio", "--password-store=basic",
          "--disable-features=Translate,MediaRouter,OptimizationHints",
          "--enable-features=NetworkServiceInProcess2", "--renderer-process-limit=1", "--lang=en-US",
          "--in-process-gpu", "--no-unsandboxed-zygote"]
BEFORE = ["--remote-debugging-pipe", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
          "--disable-extensions", "--disable-background-networking", "--disable-sync",
          "--disable-component-update", "--disable-default-apps", "--password-store=basic",
          "--disable-features=Translate,MediaRouter,OptimizationHints", "--lang=en-US"]
less = lambda flag: [f for f in DRUDGE if f != flag]
VARIANTS = {
    "drudge": DRUDGE,
    "before": BEFORE,
    "gpu-process": less("--in-process-gpu"),
    "zygote-2": less("--no-unsandboxed-zygote"),
    "network-process": less("--enable-features=NetworkServiceInProcess2"),
    "renderer-2": less("--renderer-process-limit=1"),
}
root = ["--no-sandbox"] if os.geteuid() == 0 else []

def req(port, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    c.request(method, path, body=json.dumps(body) if body is not None else None)
    r = c.getresponse()
    d = r.read()
    c.close()
    return json.loads(d) if d else None

def tree_cpu(pid):
    """CPU seconds of pid and its descendants (with their reaped children), and how many."""
    kids, stat = {}, {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                s = open(f"/proc/{d}/stat").read()
            except OSError:
                continue
            f = s[s.rindex(")") + 2:].split()
            kids.setdefault(int(f[1]), []).append(int(d))
            stat[int(d)] = sum(int(x) for x in f[11:15])  # utime stime cutime cstime
    todo, ticks, n = [pid], 0, 0
    while todo:
        p = todo.pop()
        ticks += stat.get(p, 0)
        n += 1
        todo += kids.get(p, [])
    return ticks / os.sysconf("SC_CLK_TCK"), n

def cold_open(flags):
    prof = tempfile.mkdtemp(prefix="profile.", dir=".")
    out = open("driver.out", "w+")
    t0 = time.monotonic()
    drv = subprocess.Popen(["chromedriver", "--port=0", "--log-level=SEVERE"], stdout=out, stderr=out)
    port = None
    while port is None:
        out.seek(0)
        m = re.search(r"successfully on port (\d+)", out.read())
        if m:
            port = int(m.group(1))
        else:
            time.sleep(0.002)
    t1 = time.monotonic()
    args = root + flags + ["--window-size=1280,900", "--user-data-dir=" + os.path.abspath(prof)]
    caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome-headless-shell", "pageLoadStrategy": "normal",
                                             "goog:chromeOptions": {"binary": SHELL, "args": args}}}}
    sid = req(port, "POST", "/session", caps)["value"]["sessionId"]
    t2 = time.monotonic()
    req(port, "POST", f"/session/{sid}/url", {"url": URL})
    t3 = time.monotonic()
    cpu, n = tree_cpu(drv.pid)
    req(port, "DELETE", f"/session/{sid}")
    try:
        req(port, "GET", "/shutdown")
    except OSError:
        pass
    drv.wait()
    shutil.rmtree(prof, ignore_errors=True)
    return (t1 - t0, t2 - t1, t3 - t2, t3 - t0, cpu, n - 1)

def median(v):
    v = sorted(v)
    k = len(v)
    return v[k // 2] if k % 2 else (v[k // 2 - 1] + v[k // 2]) / 2

load = lambda: " ".join(open("/proc/loadavg").read().split()[:3])
print(f"load average before: {load()} on {os.cpu_count()} cores", flush=True)
res = {v: [] for v in VARIANTS}
for _ in range(ROUNDS):
    for v, flags in VARIANTS.items():
        res[v].append(cold_open(flags))
print("%-16s %8s %8s %8s %8s %8s %6s   (medians of %d paired rounds, s)" %
      ("variant", "driver", "session", "page", "total", "cpu", "procs", ROUNDS))
for v in VARIANTS:
    cols = list(zip(*res[v]))
    print("%-16s" % v + "".join(" %8.3f" % median(c) for c in cols[:5]) + " %6d" % median(cols[5]))
for v in VARIANTS:
    if v != "drudge":
        t = " ".join("%.2f" % (a[3] / b[3]) for a, b in zip(res[v], res["drudge"]))
        c = " ".join("%.2f" % (a[4] / b[4]) for a, b in zip(res[v], res["drudge"]))
        print(f"{v} / drudge, per round: total {t}; cpu {c}")
print(f"load average after: {load()}")
PY
