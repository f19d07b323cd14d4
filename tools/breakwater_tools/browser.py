"""The dashboard page in a real browser (scripts/browser-test runs it; see there)."""

import argparse
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

from . import ROOT
from .proc import PROCS, Failed, exact_env, free_port, http, wait_until

CHROMIUM = os.environ.get("BROWSER_TEST_CHROMIUM", "chromium")
VIEWPORT = {"width": 1500, "height": 1000}


def log(msg):
    print("browser-test: " + msg, flush=True)


# ---- processes (stopped by PID, each in a session of its own), HTTP ---------------------------


def start(name, argv, logfile, env=None):
    """env: the whole environment (default: this one's)."""
    return PROCS.spawn(argv, logfile, env=exact_env(env) if env is not None else None, append=False,
                       session=True, name=name)


def wait_for(what, cond, timeout, interval=0.05, proc=None):
    return wait_until(cond, timeout, interval, what=what, proc=proc)


def get_json(url):
    status, body = http(url, timeout=5)
    if status != 200:
        raise Failed("GET %s: HTTP %s" % (url, status))
    return json.loads(body)


# ---- browser drivers: the same small interface over playwright or the DevTools protocol -----
class PlaywrightDriver:
    name = "playwright"

    def __init__(self, tmp):
        from playwright.sync_api import sync_playwright
        self.dialogs, self.errors = [], []
        self.pw = sync_playwright().start()
        try:
            self.browser = self.pw.chromium.launch(
                executable_path=CHROMIUM, headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
            self.page = self.browser.new_page(viewport=VIEWPORT)
        except Exception:
            self.pw.stop()
            raise
        self.page.on("dialog", self._dialog)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _dialog(self, d):
        self.dialogs.append("%s: %s" % (d.type, d.message))
        d.dismiss()

    def goto(self, url):
        self.page.goto(url, wait_until="load", timeout=30000)

    def eval(self, expr):
        return self.page.evaluate(expr)

    def screenshot(self, path):
        self.page.screenshot(path=path, full_page=True)

    def close(self):
        try:
            self.browser.close()
        finally:
            self.pw.stop()


class CDPDriver:
    """chromium --remote-debugging-port, spoken to with websocket-client."""
    name = "devtools-protocol"

    def __init__(self, tmp):
        import websocket  # websocket-client
        profile = os.path.join(tmp, "chromium-profile")
        os.makedirs(profile, exist_ok=True)
        self.proc = start("chromium", [
            CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--no-default-browser-check", "--remote-debugging-port=0",
            "--remote-allow-origins=*", "--user-data-dir=" + profile,
            "--window-size=%d,%d" % (VIEWPORT["width"], VIEWPORT["height"]), "about:blank",
        ], os.path.join(tmp, "chromium.log"))
        portfile = os.path.join(profile, "DevToolsActivePort")

        def port():
            with open(portfile) as f:
                return int(f.readline().strip() or 0)
        dport = wait_for("chromium DevTools port", port, 60, proc=self.proc)

        def page_ws():
            targets = get_json("http://127.0.0.1:%d/json/list" % dport)
            return next((t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page"), None)
        url = wait_for("chromium page target", page_ws, 30, interval=0.2, proc=self.proc)
        self.ws = websocket.create_connection(url, timeout=None, suppress_origin=True)
        self.lock = threading.Lock()
        self.cv = threading.Condition()
        self.responses, self.next_id = {}, 0
        self.loaded = threading.Event()
        self.dialogs, self.errors = [], []
        threading.Thread(target=self._reader, daemon=True).start()
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=VIEWPORT["width"], height=VIEWPORT["height"],
                  deviceScaleFactor=1, mobile=False)

    def _send(self, method, params):
        with self.lock:
            self.next_id += 1
            i = self.next_id
            self.ws.send(json.dumps({"id": i, "method": method, "params": params}))
        return i

    def _reader(self):
        while True:
            try:
                msg = json.loads(self.ws.recv())
            except Exception:  # noqa: BLE001 - socket closed
                with self.cv:
                    self.responses[-1] = {"error": {"message": "DevTools connection closed"}}
                    self.cv.notify_all()
                return
            if "id" in msg:
                with self.cv:
                    self.responses[msg["id"]] = msg
                    self.cv.notify_all()
                continue
            m, p = msg.get("method"), msg.get("params", {})
            if m == "Page.javascriptDialogOpening":
                self.dialogs.append("%s: %s" % (p.get("type"), p.get("message")))
                self._send("Page.handleJavaScriptDialog", {"accept": False})
            elif m == "Runtime.exceptionThrown":
                self.errors.append(json.dumps(p.get("exceptionDetails", {}))[:300])
            elif m == "Page.loadEventFired":
                self.loaded.set()

    def call(self, method, timeout=30, **params):
        i = self._send(method, params)
        deadline = time.monotonic() + timeout
        with self.cv:
            while i not in self.responses and -1 not in self.responses:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Failed("DevTools %s: no answer within %d s" % (method, timeout))
                self.cv.wait(left)
            msg = self.responses.pop(i, None) or self.responses[-1]
        if "error" in msg:
            raise Failed("DevTools %s: %s" % (method, msg["error"].get("message")))
        return msg.get("result", {})

    def goto(self, url):
        self.loaded.clear()
        r = self.call("Page.navigate", url=url)
        if r.get("errorText"):
            raise Failed("navigate %s: %s" % (url, r["errorText"]))
        if not self.loaded.wait(30):
            raise Failed("navigate %s: no load event within 30 s" % url)

    def eval(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if r.get("exceptionDetails"):
            raise Failed("evaluate: %s" % json.dumps(r["exceptionDetails"])[:300])
        return r.get("result", {}).get("value")

    def screenshot(self, path):
        h = int(self.eval("Math.ceil(document.documentElement.scrollHeight)") or VIEWPORT["height"])
        r = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                      clip={"x": 0, "y": 0, "width": VIEWPORT["width"], "height": max(h, 200), "scale": 1})
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))

    def close(self):
        try:
            self._send("Browser.close", {})
        except Exception:  # noqa: BLE001
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001
            pass
        PROCS.stop(self.proc, grace=10)


def open_browser(kind, tmp):
    if kind in ("auto", "playwright"):
        try:
            return PlaywrightDriver(tmp)
        except Exception as e:  # noqa: BLE001
            if kind == "playwright":
                raise
            why = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            log("playwright unavailable (%s); driving chromium over the DevTools protocol" % why)
    return CDPDriver(tmp)


# ---- what the page shows --------------------------------------------------------------------
ROWS_JS = r"""(() => {
  const out = {};
  for (const tr of document.querySelectorAll('#breakers tbody tr[data-breaker]')) {
    const st = tr.querySelector('[data-state]');
    const badge = tr.querySelector('.badge.forced');
    const cds = [...tr.querySelectorAll('[data-countdown]')].map(e => e.getAttribute('data-countdown') + '=' + e.textContent);
    out[tr.getAttribute('data-breaker')] = {
      state: st ? st.getAttribute('data-state') : null,
      forced: badge ? badge.getAttribute('data-forced') : null,
      badge: badge ? badge.textContent : '',
      text: tr.textContent,
      countdowns: cds,
    };
  }
  return out;
})()"""

SAFETY_JS = r"""(() => ({
  xss: typeof window.__xss === 'undefined' ? null : String(window.__xss),
  scripts: document.querySelectorAll('#breakers script, #summary script').length,
  imgs: document.querySelectorAll('#breakers img').length,
  bold: document.querySelectorAll('#breakers b').length,
}))()"""


class Checks:
    def __init__(self):
        self.passed = self.failed = 0

    def result(self, ok, text):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        print("%s %s" % ("PASS" if ok else "FAIL", text), flush=True)
        return ok


def main(argv=None):
    ap = argparse.ArgumentParser(prog="scripts/browser-test")
    ap.add_argument("--mock", action="store_true")
    ap.add_argument("--screenshot")
    ap.add_argument("--driver", choices=["auto", "playwright", "cdp"], default=os.environ.get("BROWSER_TEST_DRIVER", "auto"))
    args = ap.parse_args(argv)
    shot = os.path.abspath(args.screenshot or os.path.join(ROOT, ".build", "dashboard-mock.png" if args.mock else "dashboard.png"))

    def on_signal(signum, _):
        raise SystemExit(128 + signum)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)

    tmp = tempfile.mkdtemp(prefix="breakwater-browser-test.")
    checks = Checks()
    browser = None
    try:
        if args.mock:
            backend = MockBackend(tmp)
        else:
            backend = RealBackend(tmp, os.environ["BREAKWATER_BIN"])
        backend.start()
        log("page %s (%s)" % (backend.page_url, backend.describe))
        browser = open_browser(args.driver, tmp)
        log("browser: %s via %s" % (CHROMIUM, browser.name))
        run_checks(browser, backend, checks, shot)
    except Failed as e:
        checks.result(False, str(e))
    finally:
        if browser is not None:
            try:
                browser.close()
            except Exception as e:  # noqa: BLE001
                log("closing the browser: %s" % e)
        PROCS.stop_all()
        if os.environ.get("BROWSER_TEST_KEEP"):
            log("logs kept in " + tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("browser-test: %d passed, %d failed" % (checks.passed, checks.failed), flush=True)
    return 1 if checks.failed or not checks.passed else 0


def run_checks(browser, backend, checks, shot):
    browser.goto(backend.page_url)
    api = backend.api()
    expected = {b["name"]: b["state"] for b in api["breakers"]}
    for name, state in backend.expected_states.items():
        if expected.get(name) != state:
            raise Failed("setup: the API shows %s as %r, expected %r" % (name, expected.get(name), state))

    # (1) every breaker row, with its state (the page may need a moment for its first fetch)
    def rows_match():
        rows = browser.eval(ROWS_JS)
        return rows if rows and {n: r["state"] for n, r in rows.items()} == expected else None
    try:
        rows = wait_for("rows", rows_match, 10)
        forced_ok = all(rows[n]["forced"] == f for n, f in backend.expected_forced.items())
        checks.result(forced_ok, "1. every breaker row present with its state: %s; forced badges: %s" % (
            ", ".join("%s=%s" % (json.dumps(n), expected[n]) for n in sorted(expected)),
            ", ".join("%s=%s" % (json.dumps(n), rows[n]["badge"] or "none") for n in sorted(backend.expected_forced))))
    except Failed:
        rows = browser.eval(ROWS_JS) or {}
        checks.result(False, "1. rows on the page %s != API %s" % (
            json.dumps({n: r["state"] for n, r in rows.items()}), json.dumps(expected)))
        rows = None

    # (2) hostile note (and, with the mock, a hostile name and actor) shown literally; nothing ran
    if rows is not None:
        row = rows.get(backend.note_breaker, {})
        literal = all(s in row.get("text", "") for s in backend.literals)
        safe = browser.eval(SAFETY_JS)
        ok = literal and safe["xss"] is None and safe["scripts"] == 0 and safe["imgs"] == 0 \
            and safe["bold"] == 0 and not browser.dialogs
        checks.result(ok, "2. note shown literally (textContent contains %s) and no script ran "
                      "(window.__xss %s, %d dialogs, %d script/%d img elements from data)" % (
                          " and ".join(json.dumps(s) for s in backend.literals),
                          "unset" if safe["xss"] is None else "= " + safe["xss"],
                          len(browser.dialogs), safe["scripts"], safe["imgs"]))

    # (3) a force-open made outside the page shows up live, over SSE, with no reload
    target = backend.target
    load_id = browser.eval("window.__loadId")
    events0 = browser.eval("window.__bw.events")
    conn = browser.eval("document.getElementById('conn').getAttribute('data-conn')")
    t_cmd = time.monotonic()
    how = backend.force_open(target, "maintenance", "5m")
    t_done = time.monotonic()

    def shown():
        r = (browser.eval(ROWS_JS) or {}).get(target)
        return r if r and r["state"] == "open" and r["forced"] == "open" and "maintenance" in r["text"] else None
    try:
        wait_for("forced-open row", shown, 10, interval=0.02)
        t_seen = time.monotonic()
        seen = t_seen - t_done
        same = browser.eval("window.__loadId") == load_id
        events = browser.eval("window.__bw.events") - events0
        checks.result(seen <= 2.0 and same and events > 0,
                      "3. %s: row %s data-state=open with a FORCED OPEN badge %.2f s after the command "
                      "returned (%.2f s after it started; limit 2 s), no reload (__loadId unchanged: %s), "
                      "%d SSE transition event(s), indicator was %r" % (
                          how, json.dumps(target), seen, t_seen - t_cmd,
                          same, events, conn))
    except Failed as e:
        checks.result(False, "3. %s: %s; row now %s" % (how, e, json.dumps((browser.eval(ROWS_JS) or {}).get(target))))

    # (4) the countdown text changes over time (computed from server time, ticking each second)
    def countdown():
        r = (browser.eval(ROWS_JS) or {}).get(target) or {}
        return r.get("countdowns") or None
    try:
        first = wait_for("countdown on %s" % target, countdown, 5)
        later = wait_for("countdown to change", lambda: (lambda c: c if c and c != first else None)(countdown()), 5)
        checks.result(True, "4. countdown on %s ticks: %s -> %s" % (json.dumps(target), first, later))
    except Failed as e:
        checks.result(False, "4. countdown on %s: %s" % (json.dumps(target), e))

    if backend.extra_check:
        backend.extra_check(browser, checks)

    # (5) screenshot (after a fresh render so the flash animation has faded)
    os.makedirs(os.path.dirname(shot), exist_ok=True)
    browser.eval("document.querySelectorAll('tr.changed').forEach(e => e.classList.remove('changed')), 0")
    browser.screenshot(shot)
    size = os.path.getsize(shot) if os.path.exists(shot) else 0
    checks.result(size > 1000, "5. screenshot saved: %s (%d bytes)" % (shot, size))
    if browser.errors:
        checks.result(False, "page errors: %s" % "; ".join(browser.errors[:3]))


# ---- backends ---------------------------------------------------------------------------------
class MockBackend:
    describe = "scripts/dashboard_mock.py, under the /bw/ prefix"

    def __init__(self, tmp):
        self.tmp = tmp
        self.note_breaker = '<img src=x onerror="window.__xss=1">'
        self.literals = ['<script>window.__xss=1;alert(1)</script> & "quotes"', self.note_breaker, "<b>mallory</b>@host"]
        self.target = "glassnode"
        self.expected_states = {"glassnode": "closed", "moralis": "open", "reddit": "half-open", self.note_breaker: "open"}
        self.expected_forced = {self.note_breaker: "open", "lunarcrush": "closed", "glassnode": None}

    def start(self):
        port_file = os.path.join(self.tmp, "mock.port")
        self.proc = start("dashboard_mock.py", [sys.executable, os.path.join(ROOT, "scripts", "dashboard_mock.py"),
                                                "--port", "0", "--port-file", port_file, "--prefix", "/bw"],
                          os.path.join(self.tmp, "mock.log"))

        def port():
            with open(port_file) as f:
                return int(f.read())
        self.base = "http://127.0.0.1:%d/bw/" % wait_for("mock server port", port, 30, proc=self.proc)
        wait_for("mock server answers", lambda: http(self.base + "api/breakers")[0] == 200, 30, proc=self.proc)
        self.page_url = self.base

    def api(self):
        return get_json(self.base + "api/breakers")

    def force_open(self, name, note, duration):
        secs = {"m": 60, "s": 1, "h": 3600}[duration[-1]] * int(duration[:-1])
        http(self.base + "mock/force-open?" + urllib.parse.urlencode({"name": name, "note": note, "for_s": secs, "actor": "browser-test"}), "POST")
        return "POST mock/force-open?name=%s&note=%s&for_s=%d" % (name, note, secs)

    def extra_check(self, browser, checks):
        # a plain trip (not forced): open, with the open-until countdown to half-open
        name = "coingecko"
        http(self.base + "mock/trip?name=" + name, "POST")
        t0 = time.monotonic()

        def shown():
            r = (browser.eval(ROWS_JS) or {}).get(name)
            return r if r and r["state"] == "open" and any(c.startswith("open-until=") for c in r["countdowns"]) else None
        try:
            r = wait_for("tripped row", shown, 10, interval=0.02)
            dt = time.monotonic() - t0
            checks.result(dt <= 2.0, "3b. POST mock/trip?name=%s: row data-state=open with open-until %s after %.2f s (limit 2 s)"
                          % (name, r["countdowns"], dt))
        except Failed as e:
            checks.result(False, "3b. POST mock/trip?name=%s: %s" % (name, e))


class RealBackend:
    NOTE = '<script>alert(1)</script> & "quotes" <img src=x onerror="window.__xss=1">'

    def __init__(self, tmp, binary):
        self.tmp, self.bin = tmp, binary
        self.note_breaker, self.target = "moralis", "glassnode"
        self.literals = ['<script>alert(1)</script>', '& "quotes"', '<img src=x onerror="window.__xss=1">']
        self.expected_states = {"moralis": "closed", "glassnode": "closed"}
        self.expected_forced = {"moralis": "closed", "glassnode": None}
        self.extra_check = None
        self.describe = "%s dashboard" % binary

    def cli(self, *argv):
        r = subprocess.run([self.bin] + list(argv), env=self.env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise Failed("breakwater %s: exit %d: %s" % (" ".join(argv), r.returncode, (r.stderr or r.stdout).strip()[-500:]))
        return r.stdout

    def start(self):
        if not os.access(self.bin, os.X_OK):
            raise Failed("BREAKWATER_BIN=%s is not an executable" % self.bin)
        from .redis_server import RedisServer  # python3-redis: not needed by --mock
        self.redis = RedisServer(os.path.join(self.tmp, "redis"), loglevel="warning").start(timeout=30, session=True)
        self.env = dict(os.environ, REDIS_URL=self.redis.url)
        self.env.pop("REDIS_PASSWORD", None)
        self.env.pop("REDIS_PASSWORD_FILE", None)
        self.cli("force-close", "moralis", "--note", self.NOTE)
        self.cli("reset", "glassnode")

        dport = free_port()
        self.dash = start("breakwater dashboard", [self.bin, "dashboard", "--listen", "127.0.0.1:%d" % dport],
                          os.path.join(self.tmp, "dashboard.log"), env=self.env)
        self.base = "http://127.0.0.1:%d/" % dport

        def ready():
            doc = self.api()
            return {b["name"] for b in doc["breakers"]} >= set(self.expected_states)
        wait_for("breakwater dashboard serves api/breakers", ready, 60, interval=0.1, proc=self.dash)
        self.page_url = self.base

    def api(self):
        return get_json(self.base + "api/breakers")

    def force_open(self, name, note, duration):
        self.cli("force-open", name, "--note", note, "--for", duration)
        return "breakwater force-open %s --note %s --for %s" % (name, note, duration)
