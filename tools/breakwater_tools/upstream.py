"""The flaky upstream of Breakwater's tests, demo, chaos suite, benchmarks and compose check
(standard library only; scripts/flaky_upstream.py runs it).

Answers every source's documented paths with a plausible body of the documented shape,
or fails in a chosen way. Binds 127.0.0.1 only.

Usage:
  flaky_upstream.py --port 0                     # prints "LISTENING <port>" (flushed) on stdout
  flaky_upstream.py --port 8099 --mode error500
  flaky_upstream.py --port 0 --fail-for 20       # error500 for 20 s after start, then healthy
  flaky_upstream.py --port 0 --fail-for 20 --fail-mode timeout
  flaky_upstream.py --port 0 --schedule "error500:5,healthy:10"   # cycle by request count
  flaky_upstream.py --port 0 --tweets-per-page 5  # Twitter pages overlap: the 5 newest tweets,
                                                  # newer than since_id; one new tweet per request

Modes:
  healthy    200 with a documented-shape body for the path (see body_for)
  error500   500 with a small JSON error body
  timeout    holds the request without answering for --hang-seconds (default 30), then 504
  ratelimit  429 with "Retry-After: <--retry-after>" (default 2)
  garbage    200 with a body that is not JSON
  notfound   404 with a small JSON error body
  redirect   302 with "Location: <--redirect-to>"
  big        200 with a 50 MB JSON body (Content-Length)
  bigstream  200 with a 50 MB JSON body, no Content-Length, then the connection closes
  badutf8    200 with a JSON body that is not valid UTF-8
  slowloris  200 status line, then header bytes one per 0.3 s (60 s)

A path /_mode/<mode>/... is served in that mode whatever the current one (and counted): one
upstream gives each collector its own behaviour.

Control endpoints (never counted as requests, never affected by the mode):
  POST /_control/mode    body: one of the modes; sets the mode from now on (clears schedule/fail-for)
  GET  /_control/mode    {"mode": "<current>"}
  GET  /_control/stats   {"requests": n, "by_mode": {...}, "mode": "<current>"}
  GET  /_control/log     {"now": t, "requests": [{"t": seconds, "path": ..., "query": ..., "auth": ..., "status": n}]}
                         (t: time.monotonic() when the request arrived; the last 20000 requests)
  POST /_control/reset   zeroes the counters

The server exits on SIGTERM or SIGINT.
"""

import argparse
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, unquote

from . import ROOT
from .proc import PROCS, http, wait_until

MODES = ("healthy", "error500", "timeout", "ratelimit", "garbage", "notfound", "redirect", "big", "bigstream",
         "badutf8", "slowloris")
BIG = 50 * 1024 * 1024


class State:
    """Mode selection and request counters, shared by all handler threads."""

    def __init__(self, mode, fail_for, fail_mode, schedule, retry_after, hang_seconds):
        self.lock = threading.Lock()
        self.mode = mode
        self.fail_until = time.monotonic() + fail_for if fail_for > 0 else None
        self.fail_mode = fail_mode
        self.schedule = schedule  # list of (mode, count)
        self.retry_after = retry_after
        self.hang_seconds = hang_seconds
        self.requests = 0
        self.by_mode = {}
        self.log = []  # (arrival monotonic time, path, query, authorization, status)

    def next_mode(self):
        """Counts one upstream request and returns the mode to serve it with."""
        with self.lock:
            index = self.requests
            self.requests += 1
            if self.fail_until is not None and time.monotonic() < self.fail_until:
                mode = self.fail_mode
            elif self.schedule:
                total = sum(count for _, count in self.schedule)
                position = index % total
                mode = self.schedule[-1][0]
                for candidate, count in self.schedule:
                    if position < count:
                        mode = candidate
                        break
                    position -= count
            else:
                mode = self.mode
            self.by_mode[mode] = self.by_mode.get(mode, 0) + 1
            return mode

    def current_mode(self):
        with self.lock:
            if self.fail_until is not None and time.monotonic() < self.fail_until:
                return self.fail_mode
            return self.mode

    def set_mode(self, mode):
        with self.lock:
            self.mode = mode
            self.fail_until = None
            self.schedule = []

    def note(self, entry):
        with self.lock:
            self.log.append(entry)
            if len(self.log) > 20000:
                del self.log[:1000]

    def request_log(self):
        with self.lock:
            return [{"t": t, "path": p, "query": q, "auth": a, "status": st} for (t, p, q, a, st) in self.log]

    def stats(self):
        with self.lock:
            return {"requests": self.requests, "by_mode": dict(self.by_mode)}

    def reset(self):
        with self.lock:
            self.requests = 0
            self.by_mode = {}


def body_for(path, counter, query="", tweets_per_page=1):
    """A healthy body of the documented shape for each source's path."""
    now = int(time.time())
    if path.endswith("/price"):
        parts = path.split("/")
        address = unquote(parts[-2]) if len(parts) >= 2 else "0x0"
        return {
            "tokenName": "Wrapped Ether",
            "tokenSymbol": "WETH",
            "tokenLogo": None,
            "tokenDecimals": "18",
            "nativePrice": {"value": "1000000000000000000", "decimals": 18, "name": "Ether",
                            "symbol": "ETH", "address": "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"},
            "usdPrice": 3000.0 + counter / 100.0,
            "usdPriceFormatted": "%.2f" % (3000.0 + counter / 100.0),
            "exchangeName": "Uniswap v3",
            "exchangeAddress": "0x1f98431c8ad98523631ae4a59f267346ea31f984",
            "tokenAddress": address,
            "toBlock": str(19000000 + counter),
            "possibleSpam": False,
            "verifiedContract": True,
        }
    if "/v1/metrics/" in path:
        day = now - now % 86400
        return [{"t": day - 86400 * i, "v": 60000.0 + i} for i in range(3, -1, -1)]
    if path.endswith("/2/tweets/search/recent"):
        newest = 1700000000000000000 + counter
        since = 0
        for part in query.split("&"):
            name, _, value = part.partition("=")
            if name == "since_id" and value.isdigit():
                since = int(value)
        ids = [i for i in range(newest, newest - max(1, tweets_per_page), -1) if i > since]
        if not ids:
            return {"meta": {"result_count": 0}}
        return {
            "data": [{
                "id": str(i),
                "text": "bitcoin is up today #%d" % (i - 1700000000000000000),
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now)),
                "author_id": "2244994945",
                "public_metrics": {"retweet_count": 1, "reply_count": 0, "like_count": 3, "quote_count": 0},
            } for i in ids],
            "meta": {"newest_id": str(ids[0]), "oldest_id": str(ids[-1]), "result_count": len(ids)},
        }
    if path.endswith("/new.json"):
        parts = path.split("/")
        subreddit = parts[-2] if len(parts) >= 2 else "all"
        post_id = "x%06d" % counter
        return {
            "kind": "Listing",
            "data": {
                "after": "t3_" + post_id, "before": None, "dist": 1,
                "children": [{"kind": "t3", "data": {
                    "id": post_id, "name": "t3_" + post_id, "title": "Daily discussion %d" % counter,
                    "author": "automoderator", "subreddit": subreddit, "created_utc": float(now),
                    "score": 10, "num_comments": 2, "upvote_ratio": 0.9, "over_18": False,
                    "permalink": "/r/%s/comments/%s/daily/" % (subreddit, post_id),
                    "url": "https://www.reddit.com/r/%s/comments/%s/daily/" % (subreddit, post_id),
                    "selftext": "",
                }}],
            },
        }
    if path.endswith("/public/coins/list/v2"):
        return {
            "config": {"generated": now},
            "data": [
                {"id": 1, "symbol": "BTC", "name": "Bitcoin", "price": 60000.5, "volume_24h": 2.5e10,
                 "percent_change_24h": 1.2, "market_cap": 1.2e12, "galaxy_score": 71, "alt_rank": 12,
                 "sentiment": 81, "last_updated_price": now},
                {"id": 2, "symbol": "ETH", "name": "Ethereum", "price": 3000.25, "volume_24h": 1.1e10,
                 "percent_change_24h": -0.4, "market_cap": 3.6e11, "galaxy_score": 65, "alt_rank": 30,
                 "sentiment": 77, "last_updated_price": now},
            ],
        }
    if path.startswith("/public/topic/") or "/public/topic/" in path:
        topic = unquote(path.rstrip("/").split("/")[-2])
        return {
            "config": {"topic": topic, "generated": now},
            "data": {"topic": topic, "title": topic.title(), "topic_rank": 1, "interactions_24h": 123456,
                     "num_contributors": 789, "num_posts": 1011, "trend": "up",
                     "types_count": {"tweet": 900, "reddit-post": 100}, "related_topics": ["crypto"]},
        }
    return {"ok": True, "value": counter}


class Handler(BaseHTTPRequestHandler):
    server_version = "flaky-upstream/1.0"
    protocol_version = "HTTP/1.1"

    def handle(self):
        try:
            super().handle()
        except OSError:
            pass  # the client went away mid-answer (big bodies, slowloris, hangs)

    def log_message(self, format, *args):  # keep stdout for the LISTENING line only
        if self.server.verbose:
            sys.stderr.write("%s %s\n" % (self.address_string(), format % args))

    def send_json(self, status, payload, extra_headers=None):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def do_POST(self):
        path = urlsplit(self.path).path
        state = self.server.state
        if path == "/_control/mode":
            mode = self.read_body().decode("utf-8", "replace").strip()
            if mode not in MODES:
                self.send_json(400, {"error": "unknown mode", "modes": list(MODES)})
                return
            state.set_mode(mode)
            self.send_json(200, {"mode": mode})
        elif path == "/_control/reset":
            state.reset()
            self.send_json(200, {"requests": 0})
        else:
            self.read_body()
            self.serve_upstream(path)

    def do_GET(self):
        path = urlsplit(self.path).path
        state = self.server.state
        if path == "/_control/stats":
            stats = state.stats()
            stats["mode"] = state.current_mode()
            self.send_json(200, stats)
        elif path == "/_control/mode":
            self.send_json(200, {"mode": state.current_mode()})
        elif path == "/_control/log":
            self.send_json(200, {"now": time.monotonic(), "requests": state.request_log()})
        else:
            self.serve_upstream(path)

    def serve_upstream(self, path):
        state = self.server.state
        arrived = time.monotonic()
        mode = state.next_mode()
        if path.startswith("/_mode/") and path.split("/")[2] in MODES:
            mode = path.split("/")[2]
        counter = state.stats()["requests"]
        query = urlsplit(self.path).query
        status = {"error500": 500, "notfound": 404, "ratelimit": 429, "timeout": 504, "redirect": 302}.get(mode, 200)
        credential = self.headers.get("Authorization") or self.headers.get("X-API-Key") or self.headers.get("x-api-key", "")
        state.note((arrived, path, query, credential, status))
        if mode == "healthy":
            self.send_json(200, body_for(path, counter, query, self.server.tweets_per_page))
        elif mode == "error500":
            self.send_json(500, {"error": "internal server error"})
        elif mode == "notfound":
            self.send_json(404, {"message": "not found"})
        elif mode == "ratelimit":
            self.send_json(429, {"message": "too many requests"},
                           {"Retry-After": str(state.retry_after)})
        elif mode == "redirect":
            self.send_json(302, {"moved": self.server.redirect_to}, {"Location": self.server.redirect_to})
        elif mode == "garbage":
            body = b"<html><body>502 Bad Gateway \x00\xff not json"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif mode in ("big", "bigstream"):
            big = self.server.big_body()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header(*(("Content-Length", str(len(big))) if mode == "big" else ("Connection", "close")))
            self.end_headers()
            self.close_connection = mode == "bigstream"
            view = memoryview(big)
            for i in range(0, len(view), 1 << 20):
                self.wfile.write(view[i:i + (1 << 20)])
        elif mode == "badutf8":
            body = b'{"v":"\xff\xfe\xc3\x28 \xed\xa0\x80"}'
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        elif mode == "slowloris":
            self.close_connection = True
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            for i in range(200):
                if self.server.stopping.is_set():
                    return
                self.wfile.write(b"X" if i % 10 else b"\r\nX-Slow: ")
                self.wfile.flush()
                time.sleep(0.3)
        elif mode == "timeout":
            deadline = time.monotonic() + state.hang_seconds
            while time.monotonic() < deadline and not self.server.stopping.is_set():
                time.sleep(0.05)
            try:
                self.send_json(504, {"error": "upstream timed out"})
            except OSError:
                pass  # the client gave up first


def parse_schedule(text):
    schedule = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        mode, _, count = part.partition(":")
        if mode not in MODES or not count.isdigit() or int(count) < 1:
            raise argparse.ArgumentTypeError("bad schedule entry %r (want mode:count)" % part)
        schedule.append((mode, int(count)))
    return schedule


def main(argv=None, server_class=ThreadingHTTPServer):
    parser = argparse.ArgumentParser(prog="flaky_upstream.py", description="Flaky loopback upstream for Breakwater tests.",
                                     epilog=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = pick one)")
    parser.add_argument("--mode", choices=MODES, default="healthy", help="initial mode")
    parser.add_argument("--fail-for", type=float, default=0.0, metavar="SECONDS",
                        help="serve --fail-mode for this many seconds after start, then the normal mode")
    parser.add_argument("--fail-mode", choices=MODES, default="error500", help="mode used during --fail-for")
    parser.add_argument("--schedule", type=parse_schedule, default=[],
                        help='cycle modes by request count, e.g. "error500:5,healthy:10"')
    parser.add_argument("--retry-after", default="2", help="the Retry-After header text in ratelimit mode (any text)")
    parser.add_argument("--redirect-to", default="http://127.0.0.1:9/", help="the Location of redirect mode")
    parser.add_argument("--hang-seconds", type=float, default=30.0, help="how long timeout mode holds a request")
    parser.add_argument("--tweets-per-page", type=int, default=1,
                        help="Twitter pages return this many newest tweets (newer than since_id)")
    parser.add_argument("--verbose", action="store_true", help="log requests to stderr")
    args = parser.parse_args(argv)

    server = server_class(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.state = State(args.mode, args.fail_for, args.fail_mode, args.schedule,
                         args.retry_after, args.hang_seconds)
    server.verbose = args.verbose
    server.tweets_per_page = args.tweets_per_page
    server.redirect_to = args.redirect_to
    server.stopping = threading.Event()
    big = []
    server.big_body = lambda: big[0] if big else big.append(b'{"v":"' + b"a" * (BIG - 8) + b'"}') or big[0]

    def stop(signum, frame):
        server.stopping.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # A parent such as Foundation's Process may spawn us with these signals blocked.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})

    print("LISTENING %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
    return 0



class Flaky:
    """The flaky upstream as a process of this script, on a free port (read from its
    LISTENING line), with the control endpoints as methods."""

    def __init__(self, log, mode="healthy", args=(), procs=None):
        self.log = log
        argv = [sys.executable, os.path.join(ROOT, "scripts", "flaky_upstream.py"), "--port", "0", "--mode", mode]
        self.proc = (procs or PROCS).spawn(argv + list(args), log, append=False, name="flaky upstream")

        def listening():
            with open(log, errors="replace") as f:
                return next((int(l.split()[1]) for l in f if l.startswith("LISTENING ")), None)
        self.port = wait_until(listening, 15, what="flaky upstream (log %s)" % log, proc=self.proc)

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def url(self):
        return self.base + "/status"

    def set_mode(self, mode):
        status, body = http(self.base + "/_control/mode", "POST", mode.encode(), timeout=3)
        if status != 200:
            raise RuntimeError("flaky upstream: setting mode %s: %s %r" % (mode, status, body[:200]))

    def stats(self):
        status, body = http(self.base + "/_control/stats", timeout=3)
        return json.loads(body) if status == 200 else None

    def requests(self):
        stats = self.stats()
        return stats["requests"] if stats else None

    def log_entries(self, path=None):
        """The request log ({"t": monotonic seconds, "path", ...}), optionally of one path only."""
        status, body = http(self.base + "/_control/log", timeout=10)
        entries = json.loads(body)["requests"] if status == 200 else []
        return [e for e in entries if path is None or e["path"] == path]
