"""The control room in a real browser: headless Chromium driven through
WebDriver (chromedriver), with a WebDriver client of a few lines over
urllib (the W3C protocol is plain JSON over HTTP). Run by room_browser.sh,
which prepares the database, the users and the server; argv: the server's
URL, the directory for screenshots, the file the shell watches to run the
retried task (see there). Prints one line per check; exits 1 on a failure.
"""
import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

URL, SHOTS, SHOT_TASK = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
os.makedirs(SHOTS, exist_ok=True)
fails = 0


def check(ok, what, detail=""):
    global fails
    print(("ok   " if ok else "FAIL ") + what + ("" if ok else ": " + detail[:600]), flush=True)
    fails += 0 if ok else 1


class Driver:
    def __init__(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.proc = subprocess.Popen(["chromedriver", "--port=%d" % self.port],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                self.call("GET", "/status")
                break
            except OSError:
                time.sleep(0.1)
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1000", "--user-data-dir=" + os.path.join(SHOTS, ".profile")]}}}}
        self.sid = self.call("POST", "/session", caps)["sessionId"]

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path), data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read() or b"{}").get("value")
        except urllib.error.HTTPError as e:
            raise RuntimeError("webdriver %s %s: %s" % (method, path, e.read()[:400]))

    def s(self, method, path, body=None):
        return self.call(method, "/session/%s%s" % (self.sid, path), body)

    def get(self, path):
        self.s("POST", "/url", {"url": URL + path})

    def find(self, css):
        els = self.s("POST", "/elements", {"using": "css selector", "value": css})
        return [list(e.values())[0] for e in els]

    def click(self, css):
        self.s("POST", "/element/%s/click" % self.find(css)[0], {})

    def type(self, css, text):
        el = self.find(css)[0]
        self.s("POST", "/element/%s/clear" % el, {})
        self.s("POST", "/element/%s/value" % el, {"text": text})

    def source(self):
        return self.s("GET", "/source")

    def text(self):
        return self.js("return document.body.innerText")

    def js(self, script, *args):
        return self.s("POST", "/execute/sync", {"script": script, "args": list(args)})

    def js_async(self, script):
        return self.s("POST", "/execute/async", {"script": script, "args": []})

    def shot(self, name):
        png = base64.b64decode(self.s("GET", "/screenshot"))
        with open(os.path.join(SHOTS, name + ".png"), "wb") as f:
            f.write(png)

    def quit(self):
        try:
            self.s("DELETE", "")
        finally:
            self.proc.terminate()
            self.proc.wait()


def login(d, user, password):
    d.s("POST", "/cookie/delete", {}) if False else None
    d.get("/login")
    d.type("#user", user)
    d.type("#password", password)
    t0 = time.monotonic()
    d.click("#login")
    for _ in range(200):
        if not d.s("GET", "/url").endswith("/login") or d.find("#login-failed"):
            break
        time.sleep(0.05)
    return time.monotonic() - t0


def logout(d):
    if d.find("form.who button"):
        d.click("form.who button")
        time.sleep(0.2)


def fetch_status(d, path, method="GET", headers=None):
    """fetch() from inside the page: what the page's own script could do."""
    return d.js_async("""const done = arguments[arguments.length - 1];
        fetch(%s, {method: %s, credentials: 'same-origin', headers: %s})
          .then(r => r.text().then(t => done([r.status, t]))).catch(e => done([0, String(e)]));"""
                      % (json.dumps(path), json.dumps(method), json.dumps(headers or {})))


PASSWORD = lambda u, role: "pass-%s:%s-12345" % (u, role)
d = Driver()
try:
    # ---- each role: what it sees and cannot see ----
    pages = ["/", "/tasks", "/tasks/2", "/exceptions", "/schedules", "/scripts", "/report", "/audit"]
    for user, role in [("vic", "viewer"), ("olga", "operator"), ("aud", "auditor"), ("adam", "admin")]:
        login(d, user, PASSWORD(user, role))
        check(d.s("GET", "/url") == URL + "/", "%s: the login leads to the overview" % role, d.s("GET", "/url"))
        seen = {}
        for p in pages:
            d.get(p)
            time.sleep(0.3 if p == "/report" else 0.05)
            seen[p] = d.source()
            d.shot("%s%s" % (role, p.replace("/", "-") if p != "/" else "-overview"))
        d.get("/")
        nav = d.js("return document.querySelector('header nav').innerText")
        if role == "viewer":
            for p in pages:
                check("@example.org" not in seen[p] and "[REDACTED" not in seen[p],
                      "viewer: no e-mail address and no task data on %s" % p, seen[p])
            api = fetch_status(d, "/api/v1/tasks/2")
            check(api[0] == 200 and "@" not in api[1] and "input" not in api[1],
                  "viewer: none in the API either", str(api))
            api = fetch_status(d, "/api/v1/tasks")
            check(api[0] == 200 and "@" not in api[1], "viewer: nor in the task list", str(api))
            check("Exceptions" not in nav and "Audit" not in nav, "viewer: no Exceptions or Audit in the menu", nav)
            check("Not allowed" in seen["/exceptions"] and "Not allowed" in seen["/audit"],
                  "viewer: the exceptions and audit pages are refused", seen["/exceptions"][:300])
            check("counts and states only" in seen["/tasks/2"], "viewer: the task page says why it shows no data")
            check("Retry" not in seen["/tasks/2"] and "Pause" not in seen["/"], "viewer: no buttons that change anything")
        if role == "operator":
            check("[REDACTED:email]" in seen["/tasks/2"] and "bob@example.org" not in seen["/tasks/2"],
                  "operator: the task's data redacted", seen["/tasks/2"][:2000])
            check("Retry selected" in seen["/exceptions"], "operator: exceptions with bulk retry")
            check("Not allowed" in seen["/audit"], "operator: no audit trail")
            check("chart-hour" in seen["/"] and "<svg" in seen["/"], "operator: the overview's charts are inline SVG")
        if role == "auditor":
            check("bob@example.org" in seen["/tasks/2"], "auditor: the task's data as recorded")
            check('id="retry"' not in seen["/tasks/2"] and "Pause" not in seen["/"],
                  "auditor: changes nothing (no buttons)")
            check("Verify the whole trail now" in seen["/audit"], "auditor: the audit page")
            d.get("/audit")
            d.click("#verify")
            for _ in range(100):
                r = d.js("return document.getElementById('verify-result').innerText")
                if r and not r.startswith("Verifying…"):
                    break
                time.sleep(0.1)
            check(r.startswith("Intact:"), "auditor: verify now says the trail is intact", r)
            d.shot("auditor-audit-verified")
            d.get("/audit/tasks/2")
            check("Timeline of task #2" in d.source(), "auditor: a task's timeline to print")
            d.shot("auditor-timeline")
        d.get("/tasks/" + SHOT_TASK)
        imgs = d.js("return Array.from(document.querySelectorAll('img.shot')).map(i => i.naturalWidth)")
        if role == "auditor":
            d.js("const i = document.querySelector('img.shot'); if (i) i.scrollIntoView()")
            d.shot("auditor-evidence")
            check(len(imgs) == 1 and imgs[0] > 100, "auditor: the robot's screenshot shows inline", str(imgs))
        else:
            check(not imgs, "%s: no evidence screenshots (they cannot be redacted)" % role, str(imgs))
        if role == "admin":
            check("[REDACTED:email]" in seen["/tasks/2"], "admin: task data redacted, as an operator's")
        logout(d)

    # ---- retry a failed task from the page and see it run ----
    login(d, "olga", PASSWORD("olga", "operator"))
    d.get("/tasks/3")
    check('id="retry"' in d.source(), "operator: a failed task has a Retry button")
    d.click("#retry")
    state = ""
    for _ in range(300):  # the worker of the shell runs it
        time.sleep(0.2)
        d.get("/tasks/3")
        state = d.js("return document.querySelector('main .state').innerText")
        if state == "done":
            break
    check(state == "done", "the retried task ran and is done", state)
    # The page's live update may have set the state to done after the page
    # was rendered with the attempt still running: its steps come with a load.
    d.get("/tasks/3")
    d.shot("operator-task-retried")
    check("Attempt 2" in d.source(), "its second attempt shows in the step tree")

    # ---- live: a task's page follows its state without a reload ----
    d.get("/tasks/2")
    d.js("window.notReloaded = true")
    for _ in range(50):
        if d.js("return document.documentElement.dataset.live") == "events":
            break
        time.sleep(0.1)
    check(d.js("return document.documentElement.dataset.live") == "events",
          "the task's page opened its event stream", str(d.js("return document.documentElement.dataset.live")))
    before = d.js("return document.querySelector('#task-state .state').innerText")
    # Someone else retries it (another session, through the API); the worker runs it.
    req = urllib.request.Request(URL + "/api/v1/login", method="POST", headers={"Content-Type": "application/json"},
                                 data=json.dumps({"user": "adam", "password": PASSWORD("adam", "admin")}).encode())
    with urllib.request.urlopen(req, timeout=30) as r:
        cookie = r.headers["Set-Cookie"].split(";")[0]
        token = json.loads(r.read())["csrf"]
    req = urllib.request.Request(URL + "/api/v1/tasks/2/retry", method="POST", data=b"",
                                 headers={"Cookie": cookie, "X-CSRF-Token": token})
    urllib.request.urlopen(req, timeout=30).close()
    seen_states, state = [before], before
    for _ in range(300):
        state = d.js("return document.querySelector('#task-state .state').innerText")
        if state != seen_states[-1]:
            seen_states.append(state)
        if state == "done":
            break
        time.sleep(0.1)
    d.shot("operator-task-live")
    check(state == "done" and d.js("return window.notReloaded === true"),
          "the page showed the task's new state without a reload (%s)" % " → ".join(seen_states), state)
    check(d.js("return !document.getElementById('task-changed').hidden"), "and offers a reload for the details")
    d.get("/")
    for _ in range(50):
        if d.js("return document.documentElement.dataset.live") == "events":
            break
        time.sleep(0.1)
    check(d.js("return document.documentElement.dataset.live") == "events", "the overview has its event stream too")

    # ---- a forged POST without the CSRF token is refused ----
    forged = fetch_status(d, "/api/v1/tasks/2/retry", "POST")
    check(forged[0] == 403 and "CSRF" in forged[1], "a POST without the CSRF token is refused", str(forged))
    token = d.js("return document.querySelector('meta[name=csrf]').content")
    ok = fetch_status(d, "/api/v1/scripts/s/pause", "POST", {"X-CSRF-Token": token})
    check(ok[0] == 200, "the same with the page's token goes through", str(ok))
    fetch_status(d, "/api/v1/scripts/s/resume", "POST", {"X-CSRF-Token": token})
    check("drudge_session" not in d.js("return document.cookie"), "the session cookie is out of the page's reach (HttpOnly)")
    # A form posted to the server from another origin: its cookie stays home (SameSite=Strict).
    d.get("/")
    d.js("""const f = document.createElement('form'); f.method = 'post'; f.action = '/logout';
            document.body.appendChild(f); f.submit();""")
    time.sleep(0.5)
    check("not allowed" in d.text().lower() or "CSRF" in d.source(), "a form POST without the token is refused too", d.text()[:300])
    d.get("/")
    check(d.s("GET", "/url") == URL + "/", "and the session is still open")
    logout(d)

    # ---- five wrong passwords, then slowed ----
    times = [login(d, "adam", "not the password") for _ in range(5)]
    base = sorted(times)[2]  # the median: what a login costs on this machine now
    check(d.find("#login-failed"), "five wrong passwords are refused (%s s)" % ", ".join("%.2f" % t for t in times))
    d.shot("login-failed")
    slow = login(d, "adam", "not the password")
    check(slow >= 1.0, "the sixth is slowed down by 1 s (%.2f s, against %.2f s)" % (slow, base))
    slow2 = login(d, "adam", PASSWORD("adam", "admin"))
    check(slow2 >= 2.0 and d.s("GET", "/url") == URL + "/",
          "the right password after that: slowed by 2 s too (%.2f s), then in" % slow2)
finally:
    d.quit()
print("%d failed" % fails)
sys.exit(1 if fails else 0)
