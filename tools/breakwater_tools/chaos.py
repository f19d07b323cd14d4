"""Breakwater fault suite: real processes on loopback, bounded in time (scripts/chaos runs it).

  scripts/chaos [--quick] [--bin DIR] [--seed N] [--only 1,3] [--strict] [--keep]

Starts its own redis-server(s) on free ports (own temp dirs), its own upstreams
(scripts/flaky_upstream.py, abusive bodies included) and its own
`breakwater run` daemons with generated configs, then breaks things on purpose:

  1 kill -9 of random daemons during trips and recoveries (quick 10 cycles, full 50)
  2 Redis restart with AOF and the shipped ACL (deploy/redis/make-acl)
  3 Redis unreachable behind a blackholing loopback TCP proxy (quick 8 s, full 30 s)
  4 slow Redis: DEBUG SLEEP 2 and CLIENT PAUSE 2000
  5 load: 4 breakwater-node processes x 8 tasks (quick 100 k calls, full 1 M)
  6 bad input: names, garbage in Redis and on cb_events, abusive upstream bodies
  7 model check: breakwater-modelcheck, 3 instances x the real script vs a reference model
    (BreakerCore's BreakerMachine + leases), clock jumps, manual actions (quick 40 seeds, full 400)
  8 Sentinel failover: master + replica + 3 sentinels, 3 daemons on redis-sentinel://,
    SENTINEL FAILOVER mid-trip (quick 1, full 2): follow time <= 5 s, no crash, trip and recovery after
  9 state fuzzer: breakwater-modelcheck --fuzz-state, every owned key corrupted in every value class,
    every script op at and beyond the config's bounds, invariants and a 50 ms SLOWLOG bound after
    every step (quick 20 s, full 10 min of seeds)
 10 parser fuzzers: scripts/fuzz, libFuzzer on every parser of outside input (quick: the saved
    findings only, as CI runs 20 s per target itself; full: 2 min per target)

One line per scenario: `scenario | PASS/FAIL | figures | anomalies=N` (anomalies listed
below it), then a markdown table. Exit 0 only when every scenario has 0 anomalies.
Every random choice derives from --seed (printed), so a failing run can be replayed.
Every process it starts is killed by PID on exit, SIGINT and SIGTERM. The hash invariants take
the integer fields from `breakwater schema --json` (BREAKWATER_SCHEMA_JSON=FILE: a saved copy).
"""
import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from . import ROOT
from .daemon import Daemon as BaseDaemon, default_bin
from .proc import Procs, install_signal_handlers, wait_until
from .redis_server import RedisError, RedisServer, Sentinels, connect, transaction
from .schema import INTEGER_KINDS, load as load_schema
from .upstream import Flaky as BaseFlaky

MAKE_ACL = os.path.join(ROOT, "deploy", "redis", "make-acl")
ACL_TEMPLATE = os.path.join(ROOT, "deploy", "redis", "users.acl")
STATES = ("closed", "open", "half-open")
INT_FIELDS = ()    # the schema's count and milliseconds fields (main reads `breakwater schema --json`)
LEDGER_FIELDS = ("version", "from", "to", "reason", "by", "at_ms")


class ScenarioTimeout(Exception):
    pass


def on_alarm(signum, frame):
    raise ScenarioTimeout("scenario time budget exceeded")


def is_int(text):
    if text is None:
        return False
    t = text[1:] if text.startswith("-") else text
    return t.isdigit() and t.isascii() and len(t) <= 16


class Scenario:
    """Owns the processes, ports and files of one scenario."""

    def __init__(self, suite, key):
        self.suite = suite
        self.key = key
        self.dir = os.path.join(suite.workdir, "s%s" % key)
        os.makedirs(self.dir, exist_ok=True)
        self.procs = Procs()
        self.closers = []
        self.anomalies = []
        self.figures = []
        self.notes = []

    def bad(self, text):
        self.anomalies.append(text)

    def note(self, text):
        """An observation: printed; an anomaly only under --strict."""
        (self.anomalies if self.suite.strict else self.notes).append(text)

    def fig(self, text):
        self.figures.append(text)

    def spawn(self, args, log, env=None, append=True):
        return self.procs.spawn(args, log, env=env, append=append, cwd=self.dir)

    def close(self):
        for fn in reversed(self.closers):
            try:
                fn()
            except Exception:
                pass
        self.procs.stop_all(grace=5)


def run_logged(sc, args, log, budget, what):
    """Runs args (output into log) for at most budget seconds: (exit status, log lines), or
    None after reporting `what` as an anomaly."""
    proc = sc.spawn(args, log, append=False)
    try:
        rc = proc.wait(timeout=budget)
    except subprocess.TimeoutExpired:
        sc.procs.stop(proc)
        sc.bad("%s within %d s (log %s)" % (what, budget, log))
        return None
    with open(log, "rb") as f:
        return rc, f.read().decode("utf-8", "replace").splitlines()


def Redis(sc, name, **kw):
    return RedisServer(os.path.join(sc.dir, name), procs=sc.procs, **kw)


def Flaky(sc, mode="healthy", name="flaky"):
    return BaseFlaky(os.path.join(sc.dir, name + ".log"), mode, ["--hang-seconds", "5"], procs=sc.procs)


def Daemon(sc, iid, collectors, redis_url):
    return BaseDaemon(sc.dir, sc.suite.breakwater, iid, collectors, redis_url, procs=sc.procs)

# ----------------------------------------------------------------------------- invariants


def check_hash(name, h, ttl):
    """Anomalies of one cb_state hash (docs/protocol.md)."""
    bad = []
    if h.get("state") not in STATES:
        bad.append("%s: state=%r" % (name, h.get("state")))
    for field in INT_FIELDS:
        if field in h and h[field] != "" and not is_int(h[field]):
            bad.append("%s: %s=%r is not a plain integer" % (name, field, h[field][:40]))
    if "version" not in h or not is_int(h.get("version")) or int(h["version"]) < 0:
        bad.append("%s: version=%r" % (name, h.get("version")))
    if h.get("forced", "") not in ("", "open", "closed"):
        bad.append("%s: forced=%r" % (name, h.get("forced")))
    if h.get("state") == "open" and not (is_int(h.get("opened_at_ms")) and int(h["opened_at_ms"]) > 0):
        bad.append("%s: open with opened_at_ms=%r" % (name, h.get("opened_at_ms")))
    if ttl is None or not (0 <= ttl <= 86400):
        bad.append("%s: TTL=%r" % (name, ttl))
    return bad


def check_ledger(name, entries, version):
    """One entry per version 1..version, no gaps/duplicates, from = previous to."""
    bad = []
    for _, e in entries:
        missing = [f for f in LEDGER_FIELDS if f not in e]
        if missing:
            bad.append("%s ledger entry v%s lacks %s" % (name, e.get("version"), ",".join(missing)))
    versions = [int(e["version"]) if is_int(e.get("version")) else -1 for _, e in entries]
    first = versions[0] if versions else 1
    if first != 1 and len(entries) < 900:  # XADD MAXLEN ~1000 may trim the head only
        bad.append("%s ledger starts at v%d" % (name, first))
    expected = list(range(first, version + 1)) if versions else []
    if versions != expected:
        dups = sorted({v for v in versions if versions.count(v) > 1})
        gaps = sorted(set(expected) - set(versions))
        bad.append("%s ledger versions != %d..%d (len %d, gaps %s, dups %s, last %s)" % (
            name, first, version, len(versions), gaps[:8], dups[:8], versions[-3:]))
    if version > 0 and not versions:
        bad.append("%s: version %d but empty ledger" % (name, version))
    for (_, a), (_, b) in zip(entries, entries[1:]):
        if b.get("from") != a.get("to"):
            bad.append("%s ledger v%s from=%s but v%s to=%s" % (
                name, b.get("version"), b.get("from"), a.get("version"), a.get("to")))
            break
    return bad


def snapshot(r, names):
    """Atomic {name: (hash, ttl, ledger)} via MULTI/EXEC."""
    cmds = []
    for n in names:
        cmds += [("HGETALL", "cb_state:" + n), ("TTL", "cb_state:" + n), ("XRANGE", "cb_log:" + n, "-", "+")]
    reply = transaction(r, cmds)
    out = {}
    for i, n in enumerate(names):
        out[n] = (reply[3 * i], reply[3 * i + 1], reply[3 * i + 2])
    return out


def check_all(r, names):
    bad = []
    for n, (h, ttl, ledger) in snapshot(r, names).items():
        if not h:
            bad.append("%s: cb_state missing" % n)
            continue
        bad += check_hash(n, h, ttl)
        if is_int(h.get("version")):
            bad += check_ledger(n, ledger, int(h["version"]))
    return bad

def breaker_cfg(**over):
    cfg = {"failure_threshold": 3, "open_timeout_seconds": 0.5, "max_open_timeout_seconds": 1,
           "backoff_multiplier": 1.5, "half_open_max_calls": 2, "half_open_success_threshold": 2,
           "trip_quorum": 1, "on_store_failure": "local"}
    cfg.update(over)
    return cfg


def views_match(daemon, r, names):
    """True when the daemon's /breakers state+version equal Redis (stable across the read)."""
    before = snapshot_versions(r, names)
    view = daemon.breakers(timeout=2)
    after = snapshot_versions(r, names)
    if view is None or before != after:
        return False
    return all(n in view and view[n].get("state") == before[n][0] and view[n].get("version") == before[n][1]
               for n in names)


def snapshot_versions(r, names):
    reply = transaction(r, [("HMGET", "cb_state:" + n, "state", "version") for n in names])
    return {n: (v[0], int(v[1]) if is_int(v[1]) else None) for n, v in zip(names, reply)}

# ----------------------------------------------------------------------------- TCP proxy


class Proxy:
    """Loopback TCP proxy 127.0.0.1:port -> target. blackhole(): existing and new connections
    stay open but nothing is forwarded either way; drop(): closes every client connection;
    restore(): forwards again (connections opened during the blackhole are closed)."""

    def __init__(self, sc, target_port):
        self.target = target_port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.holed = False
        self.pairs = []   # (client, server or None)
        self.stopping = False
        threading.Thread(target=self.accept_loop, daemon=True).start()
        sc.closers.append(self.stop)

    def accept_loop(self):
        while not self.stopping:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                if self.holed:
                    self.pairs.append((client, None))   # accept, never answer
                    continue
            try:
                server = socket.create_connection(("127.0.0.1", self.target), timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.pairs.append((client, server))
            threading.Thread(target=self.pump, args=(client, server), daemon=True).start()
            threading.Thread(target=self.pump, args=(server, client), daemon=True).start()

    def pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if self.holed:
                    continue  # swallowed
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def blackhole(self):
        with self.lock:
            self.holed = True

    def drop(self):
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for pair in pairs:
            for sock in pair:
                if sock is not None:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    sock.close()

    def restore(self):
        self.drop()
        with self.lock:
            self.holed = False

    def stop(self):
        self.stopping = True
        self.drop()
        self.sock.close()

# ----------------------------------------------------------------------------- scenarios


def s1_kill9(sc, suite):
    rng = suite.rng
    cycles = 10 if suite.quick else 50
    r = Redis(sc, "redis")
    r.start()
    admin = r.client()
    up = Flaky(sc, mode="error500")
    names = ["ka", "kb"]
    col = {n: {"name": n, "url": up.url, "breaker": breaker_cfg()} for n in names}
    layout = [("k1", ["ka", "kb"]), ("k2", ["ka"]), ("k3", ["kb"])]
    daemons = [Daemon(sc, iid, [col[n] for n in ns], r.url) for iid, ns in layout]
    for d in daemons:
        d.start()
    mode = "error500"
    flips = 0
    adopt_ms = []
    restart_ms = []
    for i in range(cycles):
        if rng.random() < 0.5:
            mode = "healthy" if mode == "error500" else "error500"
            up.set_mode(mode)
            flips += 1
        time.sleep(rng.uniform(0.05, 1.0))  # a random moment (chaos timing, not readiness)
        victim = rng.choice(daemons)
        victim.kill9()
        t0 = time.monotonic()
        victim.start(timeout=30)
        restart_ms.append((time.monotonic() - t0) * 1000)
        t1 = time.monotonic()
        if wait_until(lambda: views_match(victim, admin, victim.names), 8, 0.02):
            adopt_ms.append((time.monotonic() - t1) * 1000)
        else:
            sc.bad("cycle %d: restarted %s never showed the stored state/version within 8 s (view %s, redis %s)" % (
                i, victim.iid, {n: (b.get("state"), b.get("version")) for n, b in (victim.breakers() or {}).items()},
                snapshot_versions(admin, victim.names)))
        for d in daemons:
            if not d.alive():
                sc.bad("cycle %d: %s died (exit %s)" % (i, d.iid, d.proc.returncode))
                d.start()
    sc.anomalies += check_all(admin, names)
    # Freeze every breaker (force-open), kill -9 every daemon, restart: each adopts the stored state.
    for n in names:
        rc = subprocess.run([suite.breakwater, "force-open", n, "--note", "chaos freeze"], capture_output=True,
                            text=True, timeout=30, env=dict(os.environ, REDIS_URL=r.url))
        if rc.returncode != 0:
            sc.bad("force-open %s exit %d: %s" % (n, rc.returncode, rc.stderr.strip()))
    for d in daemons:
        d.kill9()
    for d in daemons:
        d.start()
    for d in daemons:
        if not wait_until(lambda: views_match(d, admin, d.names), 8, 0.05):
            sc.bad("after the freeze %s view != redis" % d.iid)
        view = d.breakers() or {}
        for n in d.names:
            if view.get(n, {}).get("state") != "open":
                sc.bad("%s shows %s %s while forced open" % (d.iid, n, view.get(n, {}).get("state")))
    sc.anomalies += check_all(admin, names)
    versions = snapshot_versions(admin, names)
    sc.fig("cycles=%d flips=%d versions=%s restart_ms_max=%.0f adopt_ms_max=%.0f" % (
        cycles, flips, "/".join(str(versions[n][1]) for n in names),
        max(restart_ms or [0]), max(adopt_ms or [0])))


def s2_redis_restart(sc, suite):
    rng = suite.rng
    bw_pw = "bw-%016x" % rng.getrandbits(64)
    admin_pw = "adm-%016x" % rng.getrandbits(64)
    acl = os.path.join(sc.dir, "users.acl")
    rc = subprocess.run(["sh", MAKE_ACL, acl, ACL_TEMPLATE], capture_output=True, text=True, timeout=30,
                        env=dict(os.environ, BREAKWATER_REDIS_PASSWORD=bw_pw, REDIS_ADMIN_PASSWORD=admin_pw))
    if rc.returncode != 0:
        raise RuntimeError("make-acl: " + rc.stderr.strip())
    r = Redis(sc, "redis", auth=("admin", admin_pw), aof=True, aclfile=acl,
              extra=["--maxmemory-policy", "noeviction"])
    r.start()
    admin = r.client()
    url = "redis://breakwater:%s@127.0.0.1:%d" % (bw_pw, r.port)
    good = Flaky(sc, "healthy", "good")
    bad_up = Flaky(sc, "error500", "bad")
    cols = [{"name": "rc", "url": good.url, "breaker": breaker_cfg()},
            {"name": "rf", "url": good.url, "breaker": breaker_cfg()},
            {"name": "ro", "url": bad_up.url, "breaker": breaker_cfg(open_timeout_seconds=120,
                                                                      max_open_timeout_seconds=120)}]
    names = [c["name"] for c in cols]
    daemons = [Daemon(sc, "r%d" % i, cols, url) for i in (1, 2, 3)]
    for d in daemons:
        d.start()
    cli_env = dict(os.environ, REDIS_URL=url)
    rc = subprocess.run([suite.breakwater, "force-open", "rf", "--note", "chaos", "--actor", "chaos"],
                        capture_output=True, text=True, timeout=30, env=cli_env)
    if rc.returncode != 0:
        sc.bad("force-open as the breakwater user: exit %d %s" % (rc.returncode, rc.stderr.strip()))

    def settled():
        v = snapshot_versions(admin, names)
        h = admin.hgetall("cb_state:rc")
        return (v["ro"][0] == "open" and v["rf"][0] == "open" and v["rc"][0] == "closed"
                and int(h.get("total_successes", "0") or 0) > 0
                and all(views_match(d, admin, names) for d in daemons))
    if not wait_until(settled, 20, 0.1):
        sc.bad("breakers did not settle to rc closed / rf forced open / ro open: %s" % snapshot_versions(admin, names))
    before = snapshot(admin, names)
    admin.close()
    t_stop = time.monotonic()
    r.stop(signal.SIGTERM)
    # Keep Redis down until every daemon noticed (/readyz 503), so the reconnect is measured.
    noticed = wait_until(lambda: all(d.ready() == 503 for d in daemons), 15, 0.02)
    if not noticed:
        sc.bad("not every daemon reported /readyz 503 within 15 s of Redis stopping")
    down_s = time.monotonic() - t_stop
    r.start()
    t_back = time.monotonic()
    admin = r.client()
    after_raw = snapshot(admin, names)
    ready_s = {}
    for d in daemons:
        if wait_until(lambda: d.ready() == 200, 20, 0.02):
            ready_s[d.iid] = time.monotonic() - t_back
        else:
            sc.bad("%s /readyz not 200 within 20 s of Redis being back" % d.iid)
    worst = max(ready_s.values() or [0])
    if worst > 2.0:
        sc.bad("a daemon took %.2f s (> 2 s) to be ready again: %s" % (
            worst, {k: round(v, 2) for k, v in ready_s.items()}))
    monotone = {"total_successes", "total_failures", "total_calls", "time_in_open_ms", "last_failure_at_ms",
                "slow_calls"}
    exact = True
    for n in names:
        h0, ttl0, led0 = before[n]
        h1, ttl1, led1 = after_raw[n]
        diff = sorted(k for k in set(h0) | set(h1) if not k.startswith("updated_") and h0.get(k) != h1.get(k))
        if diff:
            exact = False
        for k in diff:
            if k in monotone and is_int(h0.get(k)) and is_int(h1.get(k)) and int(h1[k]) >= int(h0[k]):
                continue
            sc.bad("%s.%s before %r after restart %r" % (n, k, h0.get(k), h1.get(k)))
        if led1[:len(led0)] != led0:
            sc.bad("%s ledger changed across the restart (%d -> %d entries)" % (n, len(led0), len(led1)))
        if ttl1 is None or ttl1 <= 0:
            sc.bad("%s TTL after restart %r" % (n, ttl1))
    # A few seconds later: still the same states and versions, invariants hold, no ACL denials.
    time.sleep(0)  # (no settle sleep needed: the next checks poll)
    later = snapshot_versions(admin, names)
    for n in names:
        if later[n] != (before[n][0].get("state"), int(before[n][0].get("version", "-1"))):
            sc.bad("%s changed after the restart: %s -> %s" % (n, before[n][0].get("state"), later[n]))
    sc.anomalies += check_all(admin, names)
    acl_log = admin.execute_command("ACL", "LOG")
    if acl_log:
        sc.bad("ACL LOG has %d entries, e.g. %s" % (len(acl_log), list(acl_log[0])[:12]))
    with open(r.log, errors="replace") as f:
        if "NOPERM" in f.read():
            sc.bad("redis log mentions NOPERM (AOF replay refused under the ACL)")
    sc.fig("redis_down_s=%.2f ready_after_back_s=%s max=%.2f exact_hashes=%s" % (
        down_s, "/".join("%.2f" % ready_s.get(d.iid, -1) for d in daemons), worst, "yes" if exact else "counters-grew"))


def s3_outage(sc, suite):
    outage = 8 if suite.quick else 30
    r = Redis(sc, "redis")
    r.start()
    admin = r.client()
    proxy = Proxy(sc, r.port)
    purl = "redis://127.0.0.1:%d" % proxy.port
    up = Flaky(sc, "healthy")
    q1 = {"name": "q1", "url": up.url, "breaker": breaker_cfg(failure_threshold=3)}
    q2 = {"name": "q2", "url": up.url, "breaker": breaker_cfg(failure_threshold=3, trip_quorum=2)}
    d1 = Daemon(sc, "o1", [q1, q2], purl)
    d2 = Daemon(sc, "o2", [q1], purl)
    daemons = [d1, d2]
    for d in daemons:
        d.start()
    def successes(n):
        return int(admin.hgetall("cb_state:" + n).get("total_successes", "0") or 0)
    if not wait_until(lambda: successes("q1") > 0 and successes("q2") > 0, 15):
        sc.bad("q1/q2 never written before the outage")
    base = snapshot(admin, ["q1", "q2"])
    v1, v2 = int(base["q1"][0]["version"]), int(base["q2"][0]["version"])
    f2 = int(base["q2"][0].get("total_failures", "0") or 0)
    rss0 = {d.iid: d.rss() for d in daemons}
    up.set_mode("error500")
    proxy.blackhole()
    t0 = time.monotonic()
    seen_503 = {}
    stop_watch = threading.Event()

    def watch_ready(d):   # /readyz every 50 ms: when did each daemon notice?
        while not stop_watch.is_set() and d.iid not in seen_503:
            if d.ready() == 503:
                seen_503[d.iid] = time.monotonic() - t0
            time.sleep(0.05)
    watchers = [threading.Thread(target=watch_ready, args=(d,), daemon=True) for d in daemons]
    for w in watchers:
        w.start()
    half = False
    local_open = {d.iid: set() for d in daemons}
    rss_max = dict(rss0)
    slow_http = 0
    breakers_max = 0.0
    req0 = up.requests()
    while time.monotonic() - t0 < outage:
        if not half and time.monotonic() - t0 > outage / 2:
            proxy.drop()   # existing connections die too; reconnects land in the blackhole
            half = True
        for d in daemons:
            if not d.alive():
                sc.bad("%s died during the outage" % d.iid)
                raise RuntimeError("daemon died")
            ts = time.monotonic()
            view = d.breakers(timeout=6)
            took = time.monotonic() - ts
            breakers_max = max(breakers_max, took)
            if took > 3.5 or view is None:   # /breakers reads Redis with a 2 s timeout: > 3.5 s is a hang
                slow_http += 1
            for n, b in (view or {}).items():
                if (b.get("local") or {}).get("state") == "open":
                    local_open[d.iid].add(n)
            rss_max[d.iid] = max(rss_max[d.iid] or 0, d.rss() or 0)
        time.sleep(0.25)
    stop_watch.set()
    for d in daemons:
        if d.iid not in seen_503:
            sc.bad("%s /readyz never 503 during the outage" % d.iid)
        if set(d.names) - local_open[d.iid]:
            sc.bad("%s local breaker of %s never opened during the outage (on_store_failure local)" % (
                d.iid, sorted(set(d.names) - local_open[d.iid])))
    if slow_http:
        sc.bad("%d /breakers reads took > 3.5 s or failed during the outage" % slow_http)
    if breakers_max > 1.0:
        sc.note("/breakers took up to %.1f s per request while Redis was blackholed (it reads Redis inline)" % breakers_max)
    polled = (up.requests() or 0) - (req0 or 0)
    if polled < 3 * len(daemons):
        sc.bad("only %d upstream requests during the outage: decisions did not continue" % polled)
    growth = max((rss_max[k] or 0) - (rss0[k] or 0) for k in rss0)
    if growth > 64:
        sc.bad("RSS grew by %.1f MB during the outage" % growth)
    mid = snapshot(admin, ["q1", "q2"])
    if int(mid["q1"][0]["version"]) != v1 or int(mid["q2"][0]["version"]) != v2:
        sc.bad("stored versions changed while every daemon was cut off (q1 %d->%s)" % (v1, mid["q1"][0]["version"]))
    up.set_mode("healthy")
    proxy.restore()
    t1 = time.monotonic()
    back = {}
    for d in daemons:
        if wait_until(lambda: d.ready() == 200, 30, 0.02):
            back[d.iid] = time.monotonic() - t1
        else:
            sc.bad("%s /readyz not 200 within 30 s after the proxy forwards again" % d.iid)

    def reconciled():
        led = admin.xrange("cb_log:q1")
        return [e for _, e in led if is_int(e.get("version")) and int(e["version"]) > v1]
    new = wait_until(lambda: reconciled() or None, 10, 0.05) or []
    first = new[0] if new else {}
    nrec = sum(1 for e in new if e.get("reason") == "reconciled_after_outage")
    if first.get("reason") != "reconciled_after_outage" or first.get("to") != "open":
        sc.bad("q1 (quorum 1): first transition after the outage is %s, expected open by reconciled_after_outage" % (
            {k: first.get(k) for k in ("version", "from", "to", "reason", "by")} if first else "none"))
    if nrec > 1:
        sc.bad("q1: %d reconciled_after_outage entries (expected 1: compare-and-set)" % nrec)

    def q2_counted():
        h = admin.hgetall("cb_state:q2")
        return h if int(h.get("total_failures", "0") or 0) >= f2 + 3 else None
    h2 = wait_until(q2_counted, 10, 0.05)
    if not h2:
        h2 = admin.hgetall("cb_state:q2")
        sc.bad("q2 (quorum 2): total_failures %s -> %s: the outage's failures did not arrive as outcomes" % (
            f2, h2.get("total_failures")))
    led2 = admin.xrange("cb_log:q2")
    opened = [e for _, e in led2 if int(e.get("version", 0)) > v2 and e.get("to") == "open"]
    if opened:
        sc.bad("q2 (quorum 2) opened by one daemon alone: %s" % opened[0])
    sc.anomalies += check_all(admin, ["q1", "q2"])
    sc.fig("outage_s=%d upstream_calls_in_outage=%d readyz503_after_s=%s breakers_http_max_s=%.1f back_ready_s=%s "
           "rss_growth_max_mb=%.1f q2_failures=+%d" % (
        outage, polled, "/".join("%.1f" % seen_503.get(d.iid, -1) for d in daemons), breakers_max,
        "/".join("%.2f" % back.get(d.iid, -1) for d in daemons), growth,
        int(h2.get("total_failures", "0") or 0) - f2))


def s4_slow_redis(sc, suite):
    r = Redis(sc, "redis", extra=["--enable-debug-command", "local"])
    r.start()
    admin = r.client()
    abuse = Flaky(sc, name="abuse")
    d = Daemon(sc, "w1", [{"name": "sw", "url": abuse.base + "/ok", "interval": 0.1,
                           "breaker": breaker_cfg(failure_threshold=5)}], r.url)
    d.start()
    if not wait_until(lambda: int(admin.hgetall("cb_state:sw").get("total_successes", "0") or 0) > 0, 15):
        sc.bad("sw never recorded a success")

    def node_run(name, ms):
        start_at = int(time.time() * 1000) + 1500
        proc = sc.spawn([suite.node, "record", "--name", name, "--id", name + "-n", "--tasks", "4",
                         "--duration-ms", str(ms), "--pause-ms", "1", "--outcome", "success",
                         "--threshold", "5", "--start-at-ms", str(start_at)],
                        os.path.join(sc.dir, name + ".log"), env={"REDIS_URL": r.url}, append=False)
        return proc, start_at / 1000.0

    def node_admitted(proc, name):
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            sc.bad("breakwater-node %s did not exit within 30 s" % name)
            return None
        with open(os.path.join(sc.dir, name + ".log")) as f:
            for line in f:
                if line.startswith("admitted "):
                    return int(line.split()[1])
        sc.bad("breakwater-node %s printed no 'admitted' line (exit %s)" % (name, proc.returncode))
        return None

    def max_gap(t_from, t_to):
        ts = [e["t"] for e in abuse.log_entries("/ok") if t_from <= e["t"] <= t_to]
        return max((b - a for a, b in zip(ts, ts[1:])), default=None), len(ts)

    # Baseline: 3 s of admission and polling with Redis answering.
    p, start = node_run("base", 3000)
    t0 = time.monotonic() + (start - time.time())
    base_n = node_admitted(p, "base")
    base_gap, _ = max_gap(t0, t0 + 3)
    results = []
    for label, command in (("DEBUG SLEEP 2", ("DEBUG", "SLEEP", "2")), ("CLIENT PAUSE 2000", ("CLIENT", "PAUSE", "2000"))):
        name = "slow" + command[0].lower()
        p, start = node_run(name, 3000)
        wait_until(lambda: time.time() >= start + 0.5, 5, 0.01)   # 0.5 s into the node's window
        t_ev = time.monotonic()
        before = int(admin.hgetall("cb_state:sw").get("total_successes", "0") or 0)
        errors = []

        def slow():
            c = r.client(timeout=10)
            try:
                c.execute_command(*command)
            except Exception as e:
                errors.append(str(e))
            finally:
                c.close()
        th = threading.Thread(target=slow)
        th.start()
        th.join(15)
        if errors:
            sc.bad("%s failed: %s" % (label, errors[0]))
        n = node_admitted(p, name)
        gap, polls = max_gap(t_ev - 0.5, t_ev + 3.0)
        if not d.alive():
            sc.bad("daemon died during %s" % label)
        limit = max(0.2, 2 * (base_gap or 0.1))
        if gap is None or gap > limit:
            sc.note("%s: poll gap %.3f s on a closed breaker (limit %.2f = 2x interval or 2x baseline)" % (
                label, gap or -1, limit))
        if base_n and n is not None and n < 0.5 * base_n:
            sc.bad("%s: admissions fell to %d from %d in the same 3 s window" % (label, n, base_n))
        # Writes recover: the counters keep increasing, and every node outcome is counted.
        if not wait_until(lambda: int(admin.hgetall("cb_state:sw").get("total_successes", "0") or 0)
                          > before + 5, 10, 0.1):
            sc.bad("%s: sw total_successes stuck at %d after Redis answered again" % (label, before))
        h = admin.hgetall("cb_state:" + name)
        counted = int(h.get("total_successes", "0") or 0) + int(h.get("total_failures", "0") or 0)
        if n is not None and counted != n:
            sc.note("%s: node admitted %d outcomes, Redis counted %d (timed-out batches are dropped, not retried)" % (
                label, n, counted))
        results.append("%s: gap=%.3fs admitted=%s" % (command[0], gap or -1, n))
    sc.anomalies += check_all(admin, ["sw", "base", "slowdebug", "slowclient"])
    sc.fig("baseline gap=%.3fs admitted=%s; %s" % (base_gap or -1, base_n, "; ".join(results)))


def s5_load(sc, suite):
    r = Redis(sc, "redis")
    r.start()
    admin = r.client()
    tasks = 8
    duration_ms = 1500 if suite.quick else 15000
    outcomes = ["success", "success", "success", "failure"]
    suite.rng.shuffle(outcomes)
    stop = threading.Event()
    worst = {"attempts": 0, "leases": 0}

    def sampler():
        c = r.client()
        while not stop.is_set():
            try:
                raw, now = transaction(c, [("HGETALL", "cb_state:load"), ("TIME",)])
                h = raw
                now_ms = int(now[0]) * 1000 + int(now[1]) // 1000
                worst["attempts"] = max(worst["attempts"], int(h.get("half_open_attempts", "0") or 0))
                active = 0
                for lease in filter(None, (h.get("leases") or "").split(",")):
                    expiry = lease.rsplit(":", 1)[-1]
                    if is_int(expiry) and int(expiry) > now_ms:
                        active += 1
                worst["leases"] = max(worst["leases"], active)
            except Exception:
                pass
            time.sleep(0.005)
        c.close()
    th = threading.Thread(target=sampler, daemon=True)
    th.start()
    start_at = int(time.time() * 1000) + 2000
    procs = []
    for i, outcome in enumerate(outcomes):
        procs.append(sc.spawn([suite.node, "record", "--name", "load", "--id", "load-%d" % i, "--tasks", str(tasks),
                               "--duration-ms", str(duration_ms), "--pause-ms", "0", "--outcome", outcome, "--threshold", "20",
                               "--open-timeout-ms", "30", "--half-open-max", "3", "--start-at-ms", str(start_at)],
                              os.path.join(sc.dir, "load-%d.log" % i), env={"REDIS_URL": r.url}, append=False))
    admitted = 0
    wait_until(lambda: time.time() * 1000 >= start_at, 10, 0.01)
    t0 = time.monotonic()
    deadline = t0 + (60 if suite.quick else 240)
    for i, p in enumerate(procs):
        try:
            p.wait(timeout=max(1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            sc.bad("load-%d did not exit within the deadline (deadlock?)" % i)
            continue
        with open(os.path.join(sc.dir, "load-%d.log" % i)) as f:
            lines = [l for l in f if l.startswith("admitted ")]
        if p.returncode != 0 or not lines:
            sc.bad("load-%d exit %s without an admitted line" % (i, p.returncode))
        else:
            admitted += int(lines[-1].split()[1])
    wall = time.monotonic() - t0
    stop.set()
    th.join(2)
    h = admin.hgetall("cb_state:load")
    counted = int(h.get("total_successes", "0") or 0) + int(h.get("total_failures", "0") or 0)
    if counted != admitted:
        sc.bad("counters inexact: processes admitted %d outcomes, Redis total_successes+total_failures=%d (diff %+d)" % (
            admitted, counted, counted - admitted))
    if worst["leases"] > 3:
        sc.bad("%d probe leases active at once > half_open_max_calls 3" % worst["leases"])
    if worst["attempts"] > 3:
        sc.note("half_open_attempts reached %d > half_open_max_calls 3 in one half-open period (the cap is on "
                "concurrent leases; the documented cap: 'admits at most half_open_max_calls probes')" % worst["attempts"])
    sc.anomalies += check_all(admin, ["load"])
    sc.fig("timed=%dms admitted=%d counted=%d opens=%s wall=%.2fs outcomes/s=%.0f max_probe_attempts=%d max_active_leases=%d" % (
        duration_ms, admitted, counted, h.get("circuit_opens"), wall, admitted / max(wall, 1e-6), worst["attempts"], worst["leases"]))


def s6_bad_input(sc, suite):
    r = Redis(sc, "redis")
    r.start()
    admin = r.client()
    env = dict(os.environ, REDIS_URL=r.url)
    # 1. Names through the CLI: exit 2 with a clear message, never a crash or a hang.
    bad_names = ["a b", "ünïcødé", "n" * 200, "*", "a\nb", "", "-x", "a:b", "cb_state:x"]
    cli_ok = 0
    for name in bad_names:
        for sub in (["force-open", name], ["status", name], ["reset", name], ["history", name]):
            try:
                rc = subprocess.run([suite.breakwater] + sub, capture_output=True, text=True, timeout=15, env=env)
            except subprocess.TimeoutExpired:
                sc.bad("breakwater %s %r hung (> 15 s)" % (sub[0], name[:20]))
                continue
            msg = (rc.stderr + rc.stdout).strip()
            if rc.returncode != 2 or not msg or len(msg.splitlines()) > 20:
                sc.bad("breakwater %s %r: exit %d, message %r" % (sub[0], name[:20], rc.returncode, msg[:120]))
            else:
                cli_ok += 1
    if admin.execute_command("DBSIZE") != 0:
        sc.bad("rejected names still wrote keys: %s" % admin.execute_command("KEYS", "*")[:5])
    # 2. Garbage in Redis while daemons run.
    abuse = Flaky(sc, name="abuse")
    gnames = ["g_str", "g_banana", "g_big_version", "g_missing", "g_10mb", "g_events"]
    cols = [{"name": n, "url": abuse.base + "/ok", "interval": 0.2, "breaker": breaker_cfg()} for n in gnames]
    ds = [Daemon(sc, "b%d" % i, cols, r.url) for i in (1, 2)]
    for d in ds:
        d.start()
    if not wait_until(lambda: all(int(admin.hgetall("cb_state:" + n).get("total_successes", "0") or 0) > 0
                                  for n in gnames), 15):
        sc.bad("garbage breakers were never written")
    admin.execute_command("DEL", "cb_state:g_str")
    admin.execute_command("SET", "cb_state:g_str", "not a hash")
    admin.execute_command("HSET", "cb_state:g_banana", "state", "banana")
    admin.execute_command("HSET", "cb_state:g_big_version", "version", "1e20", "failure_count", "3.5", "open_timeout_ms", "inf")
    admin.execute_command("HDEL", "cb_state:g_missing", "version", "state", "opened_at_ms", "failure_count", "open_timeout_ms")
    admin.execute_command("HSET", "cb_state:g_10mb", "updated_by", b"z" * (10 * 1024 * 1024), "junk_field", b"\xff\x00" * 1000)
    for payload in (b'{"name":"g_events","version":', b"not json at all \xff\xfe", b'{"name":"g_events","from":1,"to":[],'
                    b'"version":"seven","by":null}', b"[]", b'{"name":"other","to":"open","version":99999999999999999999}',
                    b"x" * 100000):
        admin.execute_command("PUBLISH", "cb_events:g_events", payload)
    t_garbage = time.monotonic()

    def repaired():
        for n in gnames:
            if admin.type("cb_state:" + n) != "hash":
                return False
            h = admin.hgetall("cb_state:" + n)
            if check_hash(n, h, admin.ttl("cb_state:" + n)) or "version" not in h:
                return False
        return True
    if not wait_until(repaired, 15, 0.2):
        for n in gnames:
            t = admin.type("cb_state:" + n)
            h = admin.hgetall("cb_state:" + n) if t == "hash" else {}
            problems = check_hash(n, h, admin.ttl("cb_state:" + n)) if t == "hash" else ["type %s" % t]
            if problems:
                sc.bad("not repaired after 15 s: %s" % problems[:3])
    repair_s = time.monotonic() - t_garbage
    big = admin.execute_command("HSTRLEN", "cb_state:g_10mb", "updated_by")
    for d in ds:
        if not d.alive():
            sc.bad("%s died after the garbage (exit %s)" % (d.iid, d.proc.returncode))
        elif not d.healthy():
            sc.bad("%s /healthz not 200 after the garbage" % d.iid)
    logs = "".join(d.log_text() for d in ds)
    for n in ("g_str", "g_banana", "g_big_version"):   # missing fields are defaults, not repairs
        if "cb_state:" + n not in logs:
            sc.bad("no log line names cb_state:%s (repair not logged)" % n)
    if "malformed breaker event" not in logs and "cb_events:g_events" not in logs:
        sc.bad("garbage on cb_events:g_events not logged")
    rss_garbage = max(d.rss() or 0 for d in ds)
    for d in ds:
        sc.procs.stop(d.proc)
    # 3. Abusive upstreams: 50 MB bodies, invalid UTF-8, slowloris.
    apaths = {"u_big": "/_mode/big", "u_bigstream": "/_mode/bigstream", "u_badutf8": "/_mode/badutf8",
              "u_slowloris": "/_mode/slowloris"}
    cols = [{"name": n, "url": abuse.base + p, "interval": 0.2, "timeout": 1, "breaker": breaker_cfg()}
            for n, p in apaths.items()]
    d = Daemon(sc, "u1", cols, r.url)
    d.start()
    t0 = time.monotonic()
    rss_max = 0
    stalls = 0
    duration = 8 if suite.quick else 20
    while time.monotonic() - t0 < duration:
        if not d.alive():
            sc.bad("u1 died serving abusive upstreams (exit %s)" % d.proc.returncode)
            break
        rss_max = max(rss_max, d.rss() or 0)
        ts = time.monotonic()
        if not d.healthy() or time.monotonic() - ts > 1.5:
            stalls += 1
        time.sleep(0.2)
    if rss_max > 200:
        sc.bad("u1 RSS reached %.0f MB (> 200 MB)" % rss_max)
    if stalls:
        sc.bad("u1 /healthz failed or took > 1.5 s %d times" % stalls)
    counts = {}
    for n, p in apaths.items():
        h = admin.hgetall("cb_state:" + n)
        counts[n] = (int(h.get("total_failures", "0") or 0), int(h.get("total_successes", "0") or 0), h.get("state"))
        if counts[n][0] < 3 or counts[n][1] != 0:
            sc.bad("%s (%s): failures=%d successes=%d state=%s (expected classified as failures, tripped)" % (
                n, p, counts[n][0], counts[n][1], counts[n][2]))
    hits_before = len(abuse.log_entries(apaths["u_slowloris"]))
    if not wait_until(lambda: len(abuse.log_entries(apaths["u_slowloris"])) > hits_before, 10, 0.1):
        sc.bad("no new slowloris request within 10 s (collector hung?)")
    sc.anomalies += check_all(admin, gnames + list(apaths))
    sc.fig("cli_rejections=%d/%d repaired_in_s=%.1f 10mb_field_after=%s rss_garbage_mb=%.0f rss_abuse_max_mb=%.0f "
           "failures=%s" % (cli_ok, len(bad_names) * 4, repair_s, big, rss_garbage, rss_max,
                            "/".join(str(counts[n][0]) for n in apaths)))



def s7_model_check(sc, suite):
    """breakwater-modelcheck: 3 instances x the real script on one real redis-server vs a reference model."""
    seeds = 40 if suite.quick else 400
    steps = 150 if suite.quick else 250
    first = suite.rng.randrange(1, 1_000_000)
    last = first + seeds - 1
    r = Redis(sc, "redis")
    r.start()
    log = os.path.join(sc.dir, "modelcheck.log")
    args = [suite.modelcheck, "--seeds", "%d..%d" % (first, last), "--steps", str(steps), "--redis", r.url,
            "--parallel", "4"]
    t0 = time.monotonic()
    done = run_logged(sc, args, log, 100 if suite.quick else 520, "breakwater-modelcheck did not finish")
    if done is None:
        return
    rc, lines = done
    seconds = time.monotonic() - t0
    ok = [line for line in lines if ": ok " in line]
    diverged = [i for i, line in enumerate(lines) if ": DIVERGED " in line or ": ERROR " in line]
    for i in diverged:
        seed = lines[i].split(":")[0].split()[-1]
        detail = "\n".join(lines[i:i + 16])
        sc.bad("%s\n  replay: scripts/with-redis %s --seeds %s --steps %d --trace   (or scripts/chaos --only 7 --seed %d%s)" % (
            detail, suite.modelcheck, seed, steps, suite.seed, " --quick" if suite.quick else ""))
    if rc != 0 and not diverged:
        sc.bad("breakwater-modelcheck exit %s: %s" % (rc, " / ".join(lines[-5:])))
    if len(ok) + len(diverged) != seeds:
        sc.bad("%d seed lines for %d seeds (log %s)" % (len(ok) + len(diverged), seeds, log))

    def total(key):
        return sum(int(part.split("=")[1]) for line in ok for part in line.split() if part.startswith(key + "="))
    sc.fig("seeds=%d..%d (%d) steps=%d matched=%d transitions=%d opens=%d probes=%d manual=%d lapses=%d jumps=%d "
           "in %.0fs" % (first, last, seeds, steps, len(ok), total("version"), total("opens"), total("probes"),
                         total("manual"), total("lapses"), total("jumps"), seconds))


def role(port):
    c = connect(port, timeout=1)
    try:
        return c.execute_command("ROLE")[0]
    finally:
        c.close()


def calls_and_versions(port, names):
    """{name: (total_calls, version)} on one server (None for a missing key)."""
    c = connect(port, timeout=1)
    try:
        reply = transaction(c, [("HMGET", "cb_state:" + n, "total_calls", "version") for n in names])
    finally:
        c.close()
    return {n: tuple(int(x) if is_int(x) else 0 for x in v) for n, v in zip(names, reply)}


def ledger_has(r, name, after_version, to, reason=None):
    entries = r.xrange("cb_log:" + name)
    return any(int(e.get("version", "0")) > after_version and e.get("to") == to and
               (reason is None or e.get("reason") == reason) for _, e in entries)


def s8_sentinel_failover(sc, suite):
    """1 master + 1 replica + 3 sentinels, 3 daemons on redis-sentinel://, SENTINEL FAILOVER mid-trip."""
    rounds = 1 if suite.quick else 2
    servers = [Redis(sc, "redis-a"), None]
    servers[0].start()
    servers[1] = Redis(sc, "redis-b", replicaof=servers[0].port)
    servers[1].start()
    sentinels = Sentinels(sc.dir, servers[0].port, procs=sc.procs)
    if not wait_until(lambda: sentinels.settled(servers[0].port, servers[1].port), 60, 0.1):
        raise RuntimeError("sentinels did not settle within 60 s")
    up = Flaky(sc, mode="healthy")
    names = ["fa", "fb"]
    iids = ["f1", "f2", "f3"]
    # Each daemon also has a breaker only it writes ("own-<id>"): its counter on the new master
    # shows when that daemon follows the promotion.
    daemons = [Daemon(sc, iid, [{"name": n, "url": up.url, "breaker": breaker_cfg()} for n in names] +
                      [{"name": "own-" + iid, "url": up.url, "breaker": breaker_cfg(failure_threshold=1000)}],
                      sentinels.url) for iid in iids]
    for d in daemons:
        d.start()
    own = ["own-" + iid for iid in iids]
    everything = names + own
    master, replica = servers
    if not wait_until(lambda: all(v[0] > 0 for v in calls_and_versions(master.port, everything).values()), 20):
        raise RuntimeError("the daemons never wrote to the master through the sentinels")
    follow_ms, promote_ms, lost_calls, lost_versions = [], [], 0, 0
    observed = {"open": 0, "closed": 0}  # trips and recoveries seen in the ledger after a failover
    for rnd in range(rounds):
        admin = master.client()
        # Mid-run, mid-trip: the upstream fails and the first breaker has just opened.
        up.set_mode("error500")
        if not wait_until(lambda: any(admin.hget("cb_state:" + n, "state") == "open" for n in names), 20, 0.02):
            sc.bad("round %d: no breaker opened before the failover" % rnd)
        admin.close()
        t0 = time.monotonic()
        sentinels.cmd(rnd % 3, "SENTINEL", "FAILOVER", Sentinels.MASTER)
        old_last = calls_and_versions(master.port, everything)
        promoted_at = new_first = None
        demoted = False  # Sentinel turns the old master into a replica on its next INFO (up to ~10 s)
        followed = {}
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and not (promoted_at and demoted and len(followed) == len(iids)):
            try:
                if promoted_at is None and role(replica.port) == "master":
                    promoted_at = time.monotonic()
                    new_first = calls_and_versions(replica.port, everything)
                if not demoted:
                    if role(master.port) == "master":
                        old_last = calls_and_versions(master.port, everything)
                    elif promoted_at is not None:
                        demoted = True
                if promoted_at is not None:
                    now_new = calls_and_versions(replica.port, own)
                    t = time.monotonic()
                    for iid in iids:
                        if iid not in followed and now_new["own-" + iid][0] > new_first["own-" + iid][0]:
                            followed[iid] = (t - promoted_at) * 1000
            except (OSError, RedisError):
                pass
            time.sleep(0.02)
        if promoted_at is None:
            sc.bad("round %d: the replica was not promoted within 40 s" % rnd)
            return
        if not demoted:
            sc.note("round %d: the old master was not turned into a replica within 40 s" % rnd)
        promote_ms.append((promoted_at - t0) * 1000)
        # What replication lag lost: acknowledged by the old master (after the promotion, until
        # Sentinel demoted it), absent from the new one.
        lost_calls += sum(max(0, old_last[n][0] - new_first[n][0]) for n in everything)
        lost_versions += sum(max(0, old_last[n][1] - new_first[n][1]) for n in everything)
        for iid in iids:
            if iid not in followed:
                sc.bad("round %d: %s never wrote to the new master within 40 s" % (rnd, iid))
            elif followed[iid] > 5000:
                sc.bad("round %d: %s followed the promotion after %.0f ms (> 5 s)" % (rnd, iid, followed[iid]))
        follow_ms += list(followed.values())
        master, replica = replica, master
        r = master.client()
        # Breakers keep working on the new master: a recovery and a trip, then a recovery again.
        mark = {n: calls_and_versions(master.port, names)[n][1] for n in names}
        for mode, to in (("healthy", "closed"), ("error500", "open"), ("healthy", "closed")):
            up.set_mode(mode)
            if wait_until(lambda: all(ledger_has(r, n, mark[n], to) for n in names), 30, 0.05):
                observed[to] += len(names)
            else:
                sc.bad("round %d: after the failover not every breaker went %s within 30 s (%s)" % (
                    rnd, to, snapshot_versions(r, names)))
            mark = {n: calls_and_versions(master.port, names)[n][1] for n in names}
        sc.anomalies += check_all(r, everything)
        for d in daemons:
            if not d.alive():
                sc.bad("round %d: %s died (exit %s)" % (rnd, d.iid, d.proc.returncode))
            elif not wait_until(lambda: views_match(d, r, names), 15, 0.05):
                sc.bad("round %d: %s view != new master after 15 s (%s)" % (rnd, d.iid, {
                    n: (b.get("state"), b.get("version")) for n, b in (d.breakers() or {}).items()}))
        r.close()
        if rnd + 1 < rounds and not wait_until(lambda: sentinels.settled(master.port, replica.port), 60, 0.1):
            sc.bad("round %d: sentinels did not settle on the new topology within 60 s" % rnd)
            return
    crashes = sum(1 for d in daemons if not d.alive() or "Fatal error" in d.log_text())
    if crashes:
        sc.bad("%d daemon(s) crashed" % crashes)
    sc.fig("failovers=%d promote_ms_max=%.0f follow_ms_max=%.0f (limit 5000) crashes=%d after failover: "
           "trips=%d recoveries=%d; lag_lost: outcomes=%d versions=%d" % (
               rounds, max(promote_ms or [0]), max(follow_ms or [0]), crashes, observed["open"], observed["closed"],
               lost_calls, lost_versions))

def s9_state_fuzz(sc, suite):
    """breakwater-modelcheck --fuzz-state on its own redis-server for a bounded time."""
    seconds = 20 if suite.quick else 600
    first = suite.rng.randrange(1, 1_000_000)
    r = Redis(sc, "redis")
    r.start()
    log = os.path.join(sc.dir, "fuzz-state.log")
    # A quiet machine is assumed for the 50 ms bound; CI (--quick, a shared busy machine) uses 500 ms.
    slow_ms = "500" if suite.quick else "50"
    args = [suite.modelcheck, "--fuzz-state", "--seeds", "%d..%d" % (first, first + 1_000_000), "--steps", "300",
            "--seconds", str(seconds), "--slow-ms", slow_ms, "--redis", r.url]
    done = run_logged(sc, args, log, seconds + 120, "the state fuzzer did not stop")
    if done is None:
        return
    rc, lines = done
    for i, line in enumerate(lines):
        if ": VIOLATION " in line or ": ERROR " in line:
            sc.bad("\n".join(lines[i:i + 16]))
    summary = [line for line in lines if line.startswith("fuzz-state: ")]
    if rc != 0 and not sc.anomalies:
        sc.bad("breakwater-modelcheck --fuzz-state exit %s: %s" % (rc, " / ".join(lines[-5:])))
    sc.fig("%s first_seed=%d slow_ms=%s" % (summary[-1][len("fuzz-state: "):] if summary else "no summary", first, slow_ms))


def s10_parser_fuzz(sc, suite):
    """scripts/fuzz: the saved findings (quick), or every target for 2 minutes (full)."""
    log = os.path.join(sc.dir, "fuzz.log")
    args = [os.path.join(ROOT, "scripts", "fuzz")] + (["--crashes"] if suite.quick else ["--seconds", "120"])
    done = run_logged(sc, args, log, 400 if suite.quick else 1500, "scripts/fuzz did not finish")
    if done is None:
        return
    rc, lines = done
    results = [line for line in lines if line.startswith("fuzz ") and ":" in line]
    for line in results:
        if "FAIL" in line:
            sc.bad(line)
    if rc != 0 and not sc.anomalies:
        sc.bad("scripts/fuzz exit %s: %s" % (rc, " / ".join(lines[-5:])))
    sc.fig("%d result lines, %s" % (len(results), "saved findings" if suite.quick else "120 s per target"))


SCENARIOS = [
    ("1", "kill -9 random daemons", s1_kill9, 120, 480),
    ("2", "Redis restart (AOF + shipped ACL)", s2_redis_restart, 60, 120),
    ("3", "Redis unreachable (blackhole proxy)", s3_outage, 70, 150),
    ("4", "slow Redis (DEBUG SLEEP, CLIENT PAUSE)", s4_slow_redis, 60, 90),
    ("5", "load 4 procs x 8 tasks", s5_load, 80, 300),
    ("6", "bad input", s6_bad_input, 90, 150),
    ("7", "model check (3 instances vs reference model)", s7_model_check, 120, 560),
    ("8", "Sentinel failover", s8_sentinel_failover, 120, 240),
    ("9", "state fuzzer (every owned key, every value class)", s9_state_fuzz, 150, 730),
    ("10", "parser fuzzers (libFuzzer)", s10_parser_fuzz, 420, 1560),
]
SKIPPED = []

# ----------------------------------------------------------------------------- main
class Suite:
    pass


def main(argv=None):
    ap = argparse.ArgumentParser(prog="scripts/chaos", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--quick", action="store_true", help="short bounded subset for CI (< 3 min)")
    ap.add_argument("--bin", help="directory with breakwater, breakwater-node and breakwater-modelcheck (default: swift build --show-bin-path)")
    ap.add_argument("--seed", type=int, help="random seed (printed; replays a run)")
    ap.add_argument("--only", help="comma-separated scenario numbers, e.g. 1,3")
    ap.add_argument("--strict", action="store_true",
                    help="count observations (poll gaps and dropped outcomes under slow Redis, slow /breakers "
                         "during an outage) as anomalies")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs) even when everything passes")
    args = ap.parse_args(argv)

    install_signal_handlers()
    signal.signal(signal.SIGALRM, on_alarm)

    suite = Suite()
    suite.quick = args.quick
    suite.strict = args.strict
    suite.seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "big") % 1_000_000
    suite.rng = random.Random(suite.seed)
    bindir = args.bin or default_bin()
    suite.breakwater = os.path.join(bindir, "breakwater")
    suite.node = os.path.join(bindir, "breakwater-node")
    suite.modelcheck = os.path.join(bindir, "breakwater-modelcheck")
    for exe in (suite.breakwater, suite.node, suite.modelcheck):
        if not os.access(exe, os.X_OK):
            print("chaos: %s is missing (build first, or pass --bin DIR)" % exe, file=sys.stderr)
            return 2
    global INT_FIELDS
    try:
        INT_FIELDS = tuple(load_schema(suite.breakwater).names(*INTEGER_KINDS))
    except (RuntimeError, ValueError, KeyError) as e:
        print("chaos: the stored schema: %s" % e, file=sys.stderr)
        return 2
    if not shutil.which("redis-server"):
        print("chaos: redis-server not found", file=sys.stderr)
        return 2
    suite.workdir = tempfile.mkdtemp(prefix="breakwater-chaos-")
    only = set(args.only.split(",")) if args.only else None
    mode = "quick" if args.quick else "full"
    print("chaos: %s run, seed %d (replay: scripts/chaos%s --seed %d), bin %s, logs %s" % (
        mode, suite.seed, " --quick" if args.quick else "", suite.seed, bindir, suite.workdir), flush=True)
    rows = []
    started = time.monotonic()
    for key, title, fn, quick_budget, full_budget in SCENARIOS:
        if only and key not in only:
            continue
        # Each scenario gets its own sub-seed, so --only replays a scenario identically.
        suite.rng = random.Random("%d/%s" % (suite.seed, key))
        sc = Scenario(suite, key)
        t0 = time.monotonic()
        signal.alarm(quick_budget if args.quick else full_budget)
        try:
            fn(sc, suite)
        except ScenarioTimeout as e:
            sc.bad(str(e))
        except Exception as e:
            sc.bad("%s: %s" % (type(e).__name__, e))
        finally:
            signal.alarm(0)
            sc.close()
        seconds = time.monotonic() - t0
        result = "PASS" if not sc.anomalies else "FAIL"
        figures = "; ".join(sc.figures) or "-"
        line = "%s %s | %s | %s (%.0fs) | anomalies=%d" % (key, title, result, figures, seconds, len(sc.anomalies))
        print(line, flush=True)
        for a in sc.anomalies:
            print("    - " + a.replace("\n", "\\n"), flush=True)
        for a in sc.notes:
            print("    ~ note: " + a.replace("\n", "\\n"), flush=True)
        rows.append((key + " " + title, result, figures + " (%.0fs)" % seconds, len(sc.anomalies)))
    for key, title in SKIPPED:
        if not only or key in only:
            rows.append((key + " " + title, "SKIP", "not in this script", 0))
    total = sum(r[3] for r in rows)
    print()
    print("| scenario | result | figures | anomalies |")
    print("|---|---|---|---|")
    for name, result, figures, n in rows:
        print("| %s | %s | %s | %d |" % (name, result, figures.replace("|", "/"), n))
    print()
    print("chaos: %s, %d anomalies, %.0f s, seed %d" % ("PASS" if total == 0 else "FAIL", total,
                                                      time.monotonic() - started, suite.seed))
    if total == 0 and not args.keep:
        shutil.rmtree(suite.workdir, ignore_errors=True)
    else:
        print("chaos: logs kept in %s" % suite.workdir)
    return 0 if total == 0 else 1

