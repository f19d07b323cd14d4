"""A stand-in for the daemon's dashboard routes, for developing and testing the page.

Serves Sources/BreakwaterDaemon/Dashboard/dashboard.html at "/" and the same API the Swift
server serves, from an in-memory fleet of breakers:

  GET  /                       the page
  GET  /api/breakers           {"now_ms", "instance", "breakers": [...]}
  GET  /events                 Server-Sent Events: ": connected", "event: transition", keep-alives
  POST /mock/trip?name=X       open X (created if missing) and push a transition event
  POST /mock/force-open?name=X[&note=TEXT][&actor=A][&for_s=SECONDS]
  POST /mock/force-close?name=X[&note=TEXT][&actor=A][&for_s=SECONDS]
  POST /mock/reset?name=X      closed, override cleared
  POST /mock/calls?name=X&ok=N&failed=M   add call outcomes (health score)

Open breakers go half-open when their timeout passes and forced overrides lapse at their
expiry, each with an event, as the real script does on the next call. With --prefix /bw every
route is also served under /bw/ (to check that the page only uses relative URLs).
DASHBOARD_MOCK_PAGE=/path/to/page.html serves another page (e.g. a deliberately broken one).

    python3 scripts/dashboard_mock.py --port 9480            # then open http://127.0.0.1:9480/
    python3 scripts/dashboard_mock.py --port 0 --port-file /tmp/p   # a free port, written to a file
"""
import argparse
import json
import os
import queue
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import ROOT

PAGE = os.environ.get("DASHBOARD_MOCK_PAGE") or os.path.join(ROOT, "Sources", "BreakwaterDaemon", "Dashboard", "dashboard.html")
INSTANCE = "mock-1"
KEEPALIVE_S = 15.0


def now_ms():
    return int(time.time() * 1000)


class Fleet:
    """The breakers, their ledgers and the SSE subscribers, behind one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.breakers = {}
        self.subscribers = set()

    # -- helpers (lock held) ------------------------------------------------------------------
    def _new(self, name, mode="enforce"):
        t = now_ms()
        b = {
            "name": name, "state": "closed", "version": 0, "forced": None, "forced_until_ms": 0,
            "forced_note": "", "forced_actor": "", "mode": mode, "opened_at_ms": 0,
            "open_timeout_ms": 300000, "open_until_ms": 0, "failed_recoveries": 0,
            "health_score": None, "total_successes": 0, "total_failures": 0, "circuit_opens": 0,
            "successful_recoveries": 0, "time_in_open_ms": 0, "last_failure_at_ms": 0,
            "last_transition_at_ms": 0, "ttl_seconds": 86400, "recent": [],
            "_closed_open_ms": 0, "_created": t,
        }
        self.breakers[name] = b
        return b

    def _get(self, name):
        return self.breakers.get(name) or self._new(name)

    def _transition(self, b, to, reason, by=INSTANCE, actor="", note="", at=None):
        at = at or now_ms()
        frm = b["state"]
        if frm == "open" and b["opened_at_ms"]:
            b["_closed_open_ms"] += max(0, at - b["opened_at_ms"])
        b["version"] += 1
        b["state"] = to
        b["last_transition_at_ms"] = at
        if to == "open":
            b["opened_at_ms"] = at
            b["circuit_opens"] += 1
        if frm == "half-open" and to == "closed":
            b["successful_recoveries"] += 1
            b["failed_recoveries"] = 0
        if frm == "half-open" and to == "open":
            b["failed_recoveries"] += 1
            b["open_timeout_ms"] = min(3600000, int(b["open_timeout_ms"] * 1.5))
        entry = {"version": b["version"], "from": frm, "to": to, "reason": reason, "by": by,
                 "at_ms": at, "actor": actor, "note": note}
        b["recent"].insert(0, entry)
        del b["recent"][20:]
        event = dict(entry, name=b["name"])
        for q in list(self.subscribers):
            q.put("event: transition\ndata: %s\n\n" % json.dumps(event))

    def _view(self, b, t):
        v = {k: val for k, val in b.items() if not k.startswith("_")}
        v["recent"] = b["recent"][:5]
        tio = b["_closed_open_ms"]
        if b["state"] == "open" and b["opened_at_ms"]:
            tio += max(0, t - b["opened_at_ms"])
        v["time_in_open_ms"] = b["_closed_open_ms"]
        v["time_in_open_ms_now"] = tio
        if b["state"] == "open" and b["forced"] != "open":
            v["open_until_ms"] = b["opened_at_ms"] + b["open_timeout_ms"]
        else:
            v["open_until_ms"] = 0
        calls = b["total_successes"] + b["total_failures"]
        v["health_score"] = round(b["total_successes"] / calls, 4) if calls else None
        return v

    # -- operations ---------------------------------------------------------------------------
    def snapshot(self):
        with self.lock:
            t = now_ms()
            return {"now_ms": t, "instance": INSTANCE,
                    "breakers": [self._view(b, t) for b in sorted(self.breakers.values(), key=lambda b: b["name"])]}

    def trip(self, name):
        with self.lock:
            b = self._get(name)
            t = now_ms()
            b["total_failures"] += 5
            b["last_failure_at_ms"] = t
            if b["state"] != "open":
                self._transition(b, "open", "failure_threshold", at=t)
            return self._view(b, t)

    def force(self, name, to, note="", actor="", for_s=0):
        with self.lock:
            b = self._get(name)
            t = now_ms()
            b["forced"] = to
            b["forced_note"] = note
            b["forced_actor"] = actor or "mock@localhost"
            b["forced_until_ms"] = t + int(float(for_s) * 1000) if for_s else 0
            self._transition(b, to, "forced_" + to, actor=b["forced_actor"], note=note, at=t)
            return self._view(b, t)

    def reset(self, name):
        with self.lock:
            b = self._get(name)
            b.update(forced=None, forced_until_ms=0, forced_note="", forced_actor="", failed_recoveries=0)
            self._transition(b, "closed", "reset", actor="mock@localhost")
            return self._view(b, now_ms())

    def calls(self, name, ok, failed):
        with self.lock:
            b = self._get(name)
            b["total_successes"] += ok
            b["total_failures"] += failed
            if failed:
                b["last_failure_at_ms"] = now_ms()
            return self._view(b, now_ms())

    def advance(self):
        """Timeouts and lapsing overrides, as the real script applies them on the next call."""
        with self.lock:
            t = now_ms()
            for b in self.breakers.values():
                if b["forced"] and b["forced_until_ms"] and t >= b["forced_until_ms"]:
                    lapsed = b["forced"]
                    b.update(forced=None, forced_until_ms=0, forced_note="", forced_actor="")
                    self._transition(b, "half-open" if lapsed == "open" else "closed", "override_expired", at=t)
                elif (b["state"] == "open" and not b["forced"]
                      and t >= b["opened_at_ms"] + b["open_timeout_ms"]):
                    self._transition(b, "half-open", "open_timeout_elapsed", at=t)

    def seed(self):
        """A fleet that shows every feature of the page."""
        t = now_ms()
        with self.lock:
            g = self._new("glassnode")
            g.update(total_successes=930, total_failures=70, last_failure_at_ms=t - 3600_000)
            self._transition(g, "open", "failure_threshold", at=t - 7200_000)
            self._transition(g, "half-open", "open_timeout_elapsed", at=t - 6900_000)
            self._transition(g, "closed", "probes_succeeded", at=t - 6890_000)

            m = self._new("moralis")
            m.update(total_successes=410, total_failures=190, last_failure_at_ms=t - 4_000)
            self._transition(m, "open", "failure_threshold", at=t - 1000_000)
            self._transition(m, "half-open", "open_timeout_elapsed", at=t - 700_000)
            self._transition(m, "open", "probe_failed", at=t - 60_000)
            m["open_timeout_ms"] = 450000

            r = self._new("reddit")
            r.update(total_successes=120, total_failures=30, last_failure_at_ms=t - 20_000)
            self._transition(r, "open", "failure_rate", at=t - 400_000)
            self._transition(r, "half-open", "open_timeout_elapsed", at=t - 5_000)

            x = self._new("twitter", mode="shadow")
            x.update(total_successes=50, total_failures=1, last_failure_at_ms=t - 86400_000 * 2)

            lc = self._new("lunarcrush")
            lc.update(forced="closed", forced_note="vendor confirmed the 500s are cosmetic; ticket #4411",
                      forced_actor="alice@ops-1", forced_until_ms=t + 1800_000)
            self._transition(lc, "closed", "forced_closed", actor="alice@ops-1",
                             note=lc["forced_note"], at=t - 120_000)

            # Hostile strings: every one must show up as text, none may run.
            h = self._new('<img src=x onerror="window.__xss=1">')
            h.update(forced="open", forced_note='<script>window.__xss=1;alert(1)</script> & "quotes"',
                     forced_actor='<b>mallory</b>@host', forced_until_ms=0)
            self._transition(h, "open", "forced_open", actor=h["forced_actor"], note=h["forced_note"],
                             at=t - 30_000)

            self._new("coingecko")  # never called: no health score yet


FLEET = Fleet()
PREFIX = ""


class Handler(BaseHTTPRequestHandler):
    server_version = "breakwater-dashboard-mock"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet unless asked
        if os.environ.get("DASHBOARD_MOCK_VERBOSE"):
            sys.stderr.write("mock: " + fmt % args + "\n")

    def _route(self):
        parsed = urllib.parse.urlsplit(self.path)
        path = parsed.path
        if PREFIX and (path == PREFIX or path.startswith(PREFIX + "/")):
            path = path[len(PREFIX):] or "/"
        return path, urllib.parse.parse_qs(parsed.query)

    def _send(self, status, ctype, body):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status, obj):
        self._send(status, "application/json", json.dumps(obj))

    def do_GET(self):
        path, _ = self._route()
        if PREFIX and path == urllib.parse.urlsplit(self.path).path == PREFIX:
            # like most proxies: /bw -> /bw/ so the page's relative URLs resolve under the prefix
            self.send_response(301)
            self.send_header("Location", PREFIX + "/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path == "/":
            with open(PAGE, "rb") as f:
                self._send(200, "text/html; charset=utf-8", f.read())
        elif path == "/api/breakers":
            self._json(200, FLEET.snapshot())
        elif path == "/events":
            self._events()
        elif path == "/healthz":
            self._send(200, "text/plain", "ok")
        else:
            self._send(404, "text/plain", "not found\n")

    def do_POST(self):
        path, q = self._route()
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        name = (q.get("name") or [""])[0]
        if not path.startswith("/mock/") or not name:
            self._json(400, {"error": "POST /mock/{trip,force-open,force-close,reset,calls}?name=X"})
            return
        arg = lambda k, d="": (q.get(k) or [d])[0]
        op = path[len("/mock/"):]
        if op == "trip":
            self._json(200, FLEET.trip(name))
        elif op in ("force-open", "force-close"):
            self._json(200, FLEET.force(name, op.split("-")[1], note=arg("note"), actor=arg("actor"),
                                        for_s=float(arg("for_s", "0") or 0)))
        elif op == "reset":
            self._json(200, FLEET.reset(name))
        elif op == "calls":
            self._json(200, FLEET.calls(name, int(arg("ok", "0")), int(arg("failed", "0"))))
        else:
            self._json(404, {"error": "unknown mock operation " + op})

    def _events(self):
        q = queue.Queue()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        with FLEET.lock:
            FLEET.subscribers.add(q)
        try:
            self.wfile.write(b": connected\n\n")
            self.wfile.flush()
            while not self.server.stopping:
                try:
                    chunk = q.get(timeout=KEEPALIVE_S)
                except queue.Empty:
                    chunk = ": keep-alive\n\n"
                self.wfile.write(chunk.encode())
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass
        finally:
            with FLEET.lock:
                FLEET.subscribers.discard(q)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    stopping = False


def main(argv=None):
    global PREFIX
    ap = argparse.ArgumentParser(prog="dashboard_mock.py", description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9480, help="0 picks a free port")
    ap.add_argument("--port-file", help="write the bound port here once listening")
    ap.add_argument("--prefix", default="", help="also serve every route under this path, e.g. /bw")
    ap.add_argument("--empty", action="store_true", help="start with no breakers")
    args = ap.parse_args(argv)
    PREFIX = args.prefix.rstrip("/")
    if PREFIX and not PREFIX.startswith("/"):
        PREFIX = "/" + PREFIX
    if not args.empty:
        FLEET.seed()

    srv = Server((args.host, args.port), Handler)
    port = srv.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(port))
        os.replace(tmp, args.port_file)
    print("dashboard mock on http://%s:%d%s/" % (args.host, port, PREFIX), flush=True)

    stop = threading.Event()

    def advance():
        while not stop.wait(0.5):
            FLEET.advance()

    threading.Thread(target=advance, daemon=True).start()

    def on_term(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        srv.stopping = True
        srv.server_close()

