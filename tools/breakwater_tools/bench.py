"""scripts/bench — what a collector-fleet operator asks, measured in one run.

Starts its own redis-server on a free loopback port, its own flaky upstreams
(scripts/flaky_upstream.py), daemons (`breakwater run`), breakwater-node / breakwater-bench
processes and a pybreaker peer fleet (pybreaker_peer.py here, PyPI pybreaker 1.4.1 with
its Redis storage), all on the same Redis in the same run. Prints one markdown table to stdout
and writes it to bench-results.md (gitignored). Figures and ratios only: nothing here fails
on a timing; it exits non-zero only when a measurement could not be made.

  scripts/bench [--bin DIR] [--smoke] [--out FILE]

  --bin DIR   where breakwater, breakwater-node and breakwater-bench are
              (default .build/release, built with `swift build -c release` if missing)
  --smoke     tiny iterations (CI: keeps the script from rotting; the figures mean little)

Sections (see the issue for the questions they answer):
  1 outage cost, N = 1, 4, 8 daemons (smoke: 1, 2) vs N pybreaker processes
  2 propagation A trips -> B rejects (>= 300 trials), CLI force-open reaching 8 daemons
  3 library cost: admission ns/op, outcomes/s, Redis commands per call vs pybreaker+Redis
  4 footprint: idle daemon with 5 collectors (RSS, CPU), RSS after 1 M outcomes, Redis bytes/breaker
  5 limit: redis-benchmark -c 1 EVALSHA (breaker script) and PUBLISH, ratios to it
  6 TLS: a TLS-only redis-server next to the plain one: round trip, connect (handshake),
    admission and idle daemon RSS over TLS vs plain; redis-benchmark --tls as the limit

Processes are killed by the PIDs this script started, nothing else.
"""

import argparse
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import http.client as http_client

from . import ROOT
from .daemon import Daemon as BaseDaemon, config_text
from .proc import PROCS, free_port, http, install_signal_handlers, proc_stat, wait_until
from .redis_server import RedisServer
from .upstream import Flaky

VENV = os.path.join(ROOT, ".build", "bench-venv")
PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pybreaker_peer.py")
PY_DEPS = ["pybreaker==1.4.1", "redis==8.1.0"]


# ----------------------------------------------------------------------------- python deps

def venv_python():
    return os.path.join(VENV, "bin", "python")


def ensure_venv():
    """Re-executes this script under .build/bench-venv's python, with pybreaker and redis."""
    if os.environ.get("BREAKWATER_BENCH_VENV") == "1":
        return
    py = venv_python()
    check = [py, "-c", "import pybreaker, redis"]
    if not (os.path.exists(py) and subprocess.run(check, capture_output=True).returncode == 0):
        sys.stderr.write("bench: installing %s into %s\n" % (" ".join(PY_DEPS), VENV))
        if not os.path.exists(py):
            subprocess.run([sys.executable, "-m", "venv", VENV], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check"] + PY_DEPS, check=True)
    env = dict(os.environ, BREAKWATER_BENCH_VENV="1")
    os.execve(py, [py, os.path.abspath(sys.argv[0])] + sys.argv[1:], env)


# ----------------------------------------------------------------------------- processes

spawn = PROCS.spawn
stop = PROCS.stop
stop_all = PROCS.stop_all


def pct(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(len(values) * p))]


# ----------------------------------------------------------------------------- pieces

class Bench:
    def __init__(self, args):
        self.args = args
        self.smoke = args.smoke
        self.dir = tempfile.mkdtemp(prefix="breakwater-bench-")
        self.bin = args.bin
        self.breakwater = os.path.join(self.bin, "breakwater")
        self.node = os.path.join(self.bin, "breakwater-node")
        self.benchbin = os.path.join(self.bin, "breakwater-bench")
        self.rows = []          # (section, metric, breakwater, peer, ratio/target, met)
        self.notes = []
        self.redis_port = free_port()
        self.redis_url = "redis://127.0.0.1:%d" % self.redis_port
        self.schedule_key = None

    def log(self, name):
        return os.path.join(self.dir, name)

    def row(self, section, metric, ours, peer="", ratio="", met=""):
        self.rows.append((section, metric, ours, peer, ratio, met))
        sys.stderr.write("bench: %s | %s | %s | %s | %s | %s\n" % (section, metric, ours, peer, ratio, met))

    # redis ---------------------------------------------------------------
    def start_redis(self):
        self.redis = RedisServer(self.log("redis"), port=self.redis_port, loglevel="warning").start(timeout=15)
        self.r = self.redis.client()

    def commands_since_reset(self):
        total = 0
        for name, stats in self.r.info("commandstats").items():
            cmd = name[len("cmdstat_"):]
            if cmd.startswith("config") or cmd == "info":
                continue
            total += int(stats["calls"])
        return total

    # upstream ------------------------------------------------------------
    def start_upstream(self, tag, mode="healthy"):
        up = Flaky(self.log("upstream-%s.log" % tag), mode)
        return up.proc, up.base

    @staticmethod
    def upstream_stats(base):
        return json.loads(http(base + "/_control/stats")[1])

    @staticmethod
    def set_mode(base, mode):
        http(base + "/_control/mode", "POST", mode.encode())

    # daemons -------------------------------------------------------------
    def daemon_config(self, iid, port, collectors, schedule=True):
        path = self.log(iid + ".yaml")
        with open(path, "w") as f:
            f.write(config_text(iid, port, collectors, ["schedule: per_instance"] if schedule and self.schedule_key else []))
        return path

    def check_config(self, path):
        rc = subprocess.run([self.breakwater, "check-config", "--config", path], capture_output=True, text=True,
                            timeout=60, env=dict(os.environ, REDIS_URL=self.redis_url))
        return rc.returncode == 0, (rc.stdout + rc.stderr).strip()

    def detect_schedule(self):
        """`schedule: per_instance` if this build knows the key (fleet-coordinated collection
        would otherwise have one of N daemons poll per interval), else nothing."""
        self.schedule_key = True
        path = self.daemon_config("schedule-probe", free_port(), [
            {"name": "probe", "url": "http://127.0.0.1:9/status", "interval": 0.1, "breaker": BREAKER}])
        ok, _ = self.check_config(path)
        self.schedule_key = ok
        self.notes.append("daemon configs %s `schedule: per_instance` (%s by this build)" % (
            "set" if ok else "do not set", "accepted" if ok else "unknown"))

    def start_daemon(self, iid, collectors, redis_env=None):
        env = dict(redis_env or {"REDIS_URL": self.redis_url})
        return Daemon(self.dir, self.breakwater, iid, collectors, env.pop("REDIS_URL"), env=env,
                      collector_extra=["schedule: per_instance"] if self.schedule_key else []).start(timeout=60)


class Daemon(BaseDaemon):
    conn = None

    def state(self, breaker):
        """The daemon's local view of `breaker` from /metrics: 0 closed, 1 half-open, 2 open."""
        for _ in range(2):
            try:
                if self.conn is None:
                    self.conn = http_client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                self.conn.request("GET", "/metrics")
                body = self.conn.getresponse().read().decode()
                break
            except Exception:
                self.conn = None
        else:
            return None
        needle = 'breakwater_breaker_state{breaker="%s"}' % breaker
        for line in body.splitlines():
            if line.startswith(needle):
                return int(float(line.split()[-1]))
        return None


# Same thresholds for Breakwater and pybreaker: trip after 5 consecutive failures, open 2 s
# (no backoff, pybreaker has none), 1 probe per open window, 1 success closes.
THRESHOLD, OPEN_S, PROBES = 5, 2, 1
BREAKER = {"failure_threshold": THRESHOLD, "open_timeout_seconds": OPEN_S, "backoff_multiplier": 1,
           "max_open_timeout_seconds": OPEN_S, "half_open_max_calls": PROBES, "half_open_success_threshold": 1,
           "trip_quorum": 1, "on_store_failure": "local"}


def poll_fleet(daemons, name, predicate, timeout):
    """Polls every daemon round robin until predicate(state) held for each; returns the
    monotonic time each was first seen so (None if never) and the mean poll-cycle time."""
    seen = {d.iid: None for d in daemons}
    deadline = time.monotonic() + timeout
    cycles, started = 0, time.monotonic()
    while time.monotonic() < deadline and any(v is None for v in seen.values()):
        for d in daemons:
            if seen[d.iid] is None:
                st = d.state(name)
                if st is not None and predicate(st):
                    seen[d.iid] = time.monotonic()
        cycles += 1
    return seen, (time.monotonic() - started) / max(1, cycles)


# ----------------------------------------------------------------------------- 1 outage cost

def outage_breakwater(b, n, outage_s):
    name = "outage-bw-%d-%d" % (n, os.getpid())
    up, base = b.start_upstream("bw-%d" % n)
    daemons = [b.start_daemon("bw%d-%d" % (n, i), [{"name": name, "url": base + "/status", "interval": 0.1,
                                                      "breaker": BREAKER}]) for i in range(n)]
    # Every daemon polling (and its view closed) before the outage starts.
    wait_until(lambda: b.upstream_stats(base)["requests"] >= 5 * n, 30)
    wait_until(lambda: all(d.state(name) == 0 for d in daemons), 30)
    b.set_mode(base, "error500")
    t_out = time.monotonic()
    seen, cycle = poll_fleet(daemons, name, lambda s: s != 0, outage_s)
    all_reject = max(seen.values()) - t_out if all(seen.values()) else None
    remaining = t_out + outage_s - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)   # the outage lasts outage_s by design (not a wait for a condition)
    b.set_mode(base, "healthy")
    t_rec = time.monotonic()
    failed = b.upstream_stats(base)["by_mode"].get("error500", 0)
    closed, cycle2 = poll_fleet(daemons, name, lambda s: s == 0, 30)
    recovered = max(closed.values()) - t_rec if all(closed.values()) else None
    entries = b.r.xrange("cb_log:" + name)
    windows = sum(1 for _, f in entries if f.get("to") == "open")
    return {"requests": failed, "windows": windows, "all_reject": all_reject, "recovered": recovered,
            "cycle_ms": 1000 * max(cycle, cycle2), "daemons": daemons, "upstream": up, "name": name}


def outage_pybreaker(b, n, outage_s):
    ns = "outage-py-%d-%d" % (n, os.getpid())
    up, base = b.start_upstream("py-%d" % n)
    events = queue.Queue()
    workers = []
    for i in range(n):
        w = spawn([sys.executable, PEER, "fleet", "--redis-port",
                   str(b.redis_port), "--name", ns, "--url", base + "/status", "--interval", "0.1",
                   "--fail-max", str(THRESHOLD), "--reset-timeout", str(OPEN_S), "--success-threshold", "1"],
                  b.log("py%d-%d.log" % (n, i)), stdout=subprocess.PIPE, text=True)
        workers.append(w)
        threading.Thread(target=lambda w=w, i=i: [events.put((i, line.split())) for line in w.stdout],
                         daemon=True).start()
    wait_until(lambda: b.upstream_stats(base)["requests"] >= 5 * n, 30)
    # pybreaker writes <ns>:pybreaker:opened_at on every open (trip or failed trial): each new
    # value is one open window (the half-open state lasts one call, too short to poll).
    opened_key = "%s:pybreaker:opened_at" % ns
    b.set_mode(base, "error500")
    t_out = time.monotonic()
    first_reject, first_ok, windows, last = {}, {}, 0, None
    t_rec = None
    deadline = t_out + outage_s
    while True:
        now = time.monotonic()
        if t_rec is None and now >= deadline:
            b.set_mode(base, "healthy")
            t_rec = time.monotonic()
            failed = b.upstream_stats(base)["by_mode"].get("error500", 0)
        if t_rec is not None and (len(first_ok) == n or now > t_rec + 30):
            break
        if t_rec is None:   # count open windows (polled every <= 20 ms)
            opened = b.r.get(opened_key)
            if opened is not None and opened != last:
                windows += 1
            last = opened
        try:
            i, (kind, stamp) = events.get(timeout=0.02)
        except queue.Empty:
            continue
        t = int(stamp) / 1e9
        if kind == "rejected" and t > t_out and i not in first_reject:
            first_reject[i] = t
        if kind == "ok" and t_rec is not None and t > t_rec and i not in first_ok:
            first_ok[i] = t
    all_reject = max(first_reject.values()) - t_out if len(first_reject) == n else None
    recovered = max(first_ok.values()) - t_rec if len(first_ok) == n else None
    for w in workers:
        stop(w)
    stop(up)
    return {"requests": failed, "windows": windows, "all_reject": all_reject, "recovered": recovered}


def fmt_s(v):
    return "n/a" if v is None else "%.0f ms" % (v * 1000) if v < 10 else "%.1f s" % v


def section_outage(b):
    outage_s = 3 if b.smoke else 20
    fleet8 = None
    for n in ((1, 2) if b.smoke else (1, 4, 8)):
        bw = outage_breakwater(b, n, outage_s)
        py = outage_pybreaker(b, n, outage_s)
        floor = THRESHOLD + bw["windows"] * PROBES
        per = (bw["requests"] - THRESHOLD) / max(1, bw["windows"])
        py_per = (py["requests"] - THRESHOLD) / max(1, py["windows"])
        limit = floor + bw["windows"]
        b.row("1 outage %ds, N=%d" % (outage_s, n), "requests during outage (total)", "%d" % bw["requests"],
              "%d" % py["requests"], "policy floor %d (%d + %d windows x %d probe); target <= %d" % (
                  floor, THRESHOLD, bw["windows"], PROBES, limit), "yes" if bw["requests"] <= limit else "NO")
        b.row("1 outage %ds, N=%d" % (outage_s, n), "requests per open window (after the %d that trip)" % THRESHOLD,
              "%.1f (%d windows)" % (per, bw["windows"]), "%.1f (%d windows)" % (py_per, py["windows"]),
              "floor %d; target <= %d" % (PROBES, PROBES + 1), "yes" if per <= PROBES + 1 else "NO")
        b.row("1 outage %ds, N=%d" % (outage_s, n), "outage start -> every instance rejects",
              fmt_s(bw["all_reject"]), fmt_s(py["all_reject"]), "poll cycle %.1f ms" % bw["cycle_ms"], "")
        b.row("1 outage %ds, N=%d" % (outage_s, n), "recovery -> closed everywhere", fmt_s(bw["recovered"]),
              fmt_s(py["recovered"]), "includes the rest of the %d s open window" % OPEN_S, "")
        if n == max((1, 2) if b.smoke else (1, 4, 8)):
            fleet8 = bw
        else:
            for d in bw["daemons"]:
                stop(d.proc)
            stop(bw["upstream"])
    return fleet8


# ----------------------------------------------------------------------------- 2 propagation

def section_propagation(b, fleet, rtt_ms):
    # CLI force-open reaching every daemon of the largest outage fleet.
    daemons, bname = fleet["daemons"], fleet["name"]
    fo_trials = 3 if b.smoke else 20
    cli, commit, cycles = [], [], []
    for _ in range(fo_trials):
        wait_until(lambda: all(d.state(bname) == 0 for d in daemons), 15)
        t0 = time.monotonic()
        rc = subprocess.run([b.breakwater, "force-open", bname, "--note", "bench"], capture_output=True,
                            text=True, timeout=30, env=dict(os.environ, REDIS_URL=b.redis_url))
        if rc.returncode != 0:
            raise RuntimeError("force-open: %s" % rc.stderr)
        seen, cycle = poll_fleet(daemons, bname, lambda s: s == 2, 10)
        cycles.append(cycle * 1000)
        t_all = max(seen.values()) if all(seen.values()) else None
        wall_at_all = time.time() - (time.monotonic() - t_all) if t_all else None
        last = b.r.xrevrange("cb_log:" + bname, count=1)
        if t_all:
            cli.append((t_all - t0) * 1000)
            if last:
                commit.append(wall_at_all * 1000 - int(last[0][1]["at_ms"]))
        rc = subprocess.run([b.breakwater, "reset", bname, "--note", "bench"], capture_output=True, text=True,
                            timeout=30, env=dict(os.environ, REDIS_URL=b.redis_url))
    n = len(daemons)
    b.row("2 propagation", "CLI force-open -> all %d daemons reject (from CLI start, %d trials)" % (n, fo_trials),
          "p50 %.0f / max %.0f ms" % (pct(cli, 0.5), max(cli)), "", "target <= 50 ms (includes CLI process start)",
          "yes" if max(cli) <= 50 else "NO")
    b.row("2 propagation", "force-open committed in Redis -> all %d daemons reject" % n,
          "p50 %.1f / max %.1f ms" % (pct(commit, 0.5), max(commit)) if commit else "n/a", "",
          "target <= 50 ms (ms server clock; /metrics poll cycle over %d daemons %.1f ms)" % (n, pct(cycles, 0.5)), "yes" if commit and max(commit) <= 50 else "NO")
    for d in daemons:
        stop(d.proc)
    stop(fleet["upstream"])

    # A trips -> B rejects, two breakwater-node processes (the fleet above is stopped first).
    trials = 20 if b.smoke else 300
    name = "prop-%d" % os.getpid()
    env = {"REDIS_URL": b.redis_url}
    common = ["--name", name, "--threshold", "1", "--open-timeout-ms", "3600000"]
    follower = spawn([b.node, "follower", "--id", "bench-b"] + common, b.log("follower.log"), env=env,
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(l.split()) for l in follower.stdout], daemon=True).start()
    first = lines.get(timeout=30)
    if first[0] != "ready":
        raise RuntimeError("follower: %s" % first)
    b_state = first[1]
    tripper = spawn([b.node, "tripper", "--id", "bench-a"] + common, b.log("tripper.log"), env=env,
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(cmd):
        tripper.stdin.write(cmd + "\n")
        tripper.stdin.flush()
        return tripper.stdout.readline().split()

    latencies = []
    for trial in range(trials + 10):   # 10 warm-up trials are not counted
        if ask("reset") != ["ok"]:
            raise RuntimeError("tripper reset failed")
        deadline = time.monotonic() + 10
        while b_state != "closed":
            b_state = lines.get(timeout=max(0.01, deadline - time.monotonic()))[0]
        reply = ask("trip")
        if reply[0] != "t0":
            raise RuntimeError("tripper: %s" % reply)
        t0 = int(reply[1])
        while True:
            line = lines.get(timeout=10)
            b_state = line[0]
            if b_state == "open":
                break
        if trial >= 10:
            latencies.append((int(line[1]) - t0) / 1e6)
    for p in (tripper, follower):
        try:
            p.stdin.write("quit\n")
            p.stdin.flush()
        except Exception:
            pass
        stop(p)
    p50, p99, mx = pct(latencies, 0.5), pct(latencies, 0.99), max(latencies)
    b.row("2 propagation", "A records the tripping failure -> B (other process) rejects, %d trials" % trials,
          "p50 %.2f / p99 %.2f / max %.2f ms" % (p50, p99, mx), "",
          "p99 target <= 5 ms; p50 = %.1fx one EVALSHA+PUBLISH round trip" % (p50 / rtt_ms) if rtt_ms else "p99 target <= 5 ms",
          "yes" if p99 <= 5 else "NO")



# ----------------------------------------------------------------------------- 3 library cost

def section_library(b, limits):
    args = [b.benchbin, "library", "--url", b.redis_url]
    if b.smoke:
        args += ["--iterations", "20000", "--load-seconds", "0.3", "--breakers", "50"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError("breakwater-bench library: %s" % out.stderr[-2000:])
    fig = {}
    for line in out.stdout.splitlines():
        if line.startswith("FIG "):
            _, key, value = line.split()
            fig[key] = float(value)

    # Peer: pybreaker + Redis storage, closed path, one process.
    b.r.config_resetstat()
    seconds = 0.5 if b.smoke else 3
    rc = subprocess.run([sys.executable, PEER, "throughput",
                         "--redis-port", str(b.redis_port), "--name", "tp-%d" % os.getpid(), "--seconds", str(seconds)],
                        capture_output=True, text=True, timeout=120)
    py_calls = int(rc.stdout.split()[1])
    py_cmds = b.commands_since_reset()
    py_rate = py_calls / seconds
    for key in b.r.scan_iter("tp-%d:*" % os.getpid()):
        b.r.delete(key)

    s = "3 library"
    admit_rate = 1e9 / fig["shared_closed_ns"]
    b.row(s, "admission closed, shared (local view)", "%.1f ns/op" % fig["shared_closed_ns"],
          "%.0f calls/s (%.0f us/call)" % (py_rate, 1e6 / py_rate),
          "%.0fx pybreaker calls/s; targets <= 25 ns and >= 10,000x" % (admit_rate / py_rate),
          "<= 25 ns: %s; >= 10,000x: %s" % ("yes" if fig["shared_closed_ns"] <= 25 else "NO",
                                             "yes" if admit_rate / py_rate >= 10_000 else "NO"))
    b.row(s, "admission open, shared", "%.1f ns/op" % fig["shared_open_ns"], "", "", "")
    b.row(s, "admission half-open (probe held), shared", "%.1f ns/op" % fig["shared_halfopen_ns"], "",
          "includes 1 denied-probe script call per 100 ms", "")
    b.row(s, "admission closed / open / half-open, in-process (CircuitBreaker)",
          "%.1f / %.1f / %.1f ns/op" % (fig["inproc_closed_ns"], fig["inproc_open_ns"], fig["inproc_halfopen_ns"]),
          "", "", "")
    evalsha = limits.get("EVALSHA")
    b.row(s, "outcomes recorded per second per instance (8 tasks, counted by Redis)",
          "%.0f /s" % fig["shared_outcomes_per_s"], "%.0f /s" % py_rate,
          "%.0fx pybreaker; %.0fx redis-benchmark EVALSHA" % (fig["shared_outcomes_per_s"] / py_rate,
                                                             fig["shared_outcomes_per_s"] / evalsha) if evalsha else
          "%.0fx pybreaker" % (fig["shared_outcomes_per_s"] / py_rate), "")
    b.row(s, "Redis commands per protected call, closed path under load (INFO commandstats)",
          "%.5f (%d commands / %d calls)" % (fig["shared_commands_per_call"], fig["shared_redis_commands"], fig["shared_calls"]),
          "%.2f (%d / %d)" % (py_cmds / py_calls, py_cmds, py_calls), "target <= 0.01",
          "yes" if fig["shared_commands_per_call"] <= 0.01 else "NO")
    return fig


# ----------------------------------------------------------------------------- 4 footprint

def section_footprint_start(b):
    up, base = b.start_upstream("idle")
    collectors = [{"name": "idle-%d-%d" % (i, os.getpid()), "url": base + "/status", "interval": 1,
                   "breaker": BREAKER} for i in range(5)]
    d = b.start_daemon("idle", collectors)
    wait_until(lambda: b.upstream_stats(base)["requests"] >= 5, 30)
    rss0, cpu0 = proc_stat(d.proc.pid)
    return {"daemon": d, "upstream": up, "t0": time.monotonic(), "cpu0": cpu0, "rss0": rss0}


def section_footprint_finish(b, idle, fig):
    window = 3 if b.smoke else 60
    remaining = idle["t0"] + window - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)   # the measurement window itself
    rss, cpu = proc_stat(idle["daemon"].proc.pid)
    elapsed = time.monotonic() - idle["t0"]
    cpu_pct = 100 * (cpu - idle["cpu0"]) / elapsed
    stop(idle["daemon"].proc)
    stop(idle["upstream"])
    s = "4 footprint"
    b.row(s, "idle daemon, 5 http_json collectors (1 s interval), over %.0f s" % elapsed,
          "RSS %.1f MB, CPU %.2f %% of a core" % (rss, cpu_pct), "", "target <= 40 MB, < 1 %",
          "yes" if rss <= 40 and cpu_pct < 1 else "NO")
    outcomes = 10_000 if b.smoke else 1_000_000
    tasks = 4
    out = subprocess.run([b.node, "record", "--name", "rss-%d" % os.getpid(), "--id", "bench-rss", "--tasks", str(tasks),
                          "--calls", str(outcomes // tasks), "--outcome", "success", "--threshold", "10000", "--print-rss"],
                         capture_output=True, text=True, timeout=300, env=dict(os.environ, REDIS_URL=b.redis_url))
    rss_line = [l for l in out.stdout.splitlines() if l.startswith("rss_kb")]
    if rss_line:
        before, after = (int(x) / 1024 for x in rss_line[0].split()[1:])
        b.row(s, "RSS of a process after %d outcomes (breakwater-node, %d tasks)" % (outcomes, tasks),
              "%.1f MB (%.1f MB before the calls)" % (after, before), "", "", "")
    b.row(s, "Redis memory per breaker (used_memory delta over 1000 breakers, 1 outcome each: state hash, no ledger entry yet)",
          "%.0f B (state hash alone %.0f B)" % (fig["redis_bytes_per_breaker"], fig.get("redis_state_hash_bytes", -1)),
          "", "ledger capped at 1000 entries per breaker", "")


# ----------------------------------------------------------------------------- 5 limit

def redis_benchmark(b, args):
    n = 2000 if b.smoke else 50000
    rb = shutil.which("redis-benchmark")
    if not rb:
        return None
    out = subprocess.run([rb, "-h", "127.0.0.1", "-p", str(b.redis_port), "-c", "1", "-n", str(n), "-q"] + args,
                         capture_output=True, text=True, timeout=300)
    for line in out.stdout.replace("\r", "\n").splitlines():
        m = re.search(r"([0-9.]+) requests per second", line)
        if m:
            return float(m.group(1))
    return None


def section_limit(b):
    out = subprocess.run([b.breakwater, "schema", "--script", "breaker"], capture_output=True, text=True, timeout=60)
    if out.returncode == 0:
        script = out.stdout   # the script as loaded (prelude included)
    else:                     # a binary without the schema command
        with open(os.path.join(ROOT, "Sources", "SharedBreaker", "Lua", "breaker.lua")) as f:
            script = f.read()
    sha = b.r.script_load(script)
    name = "rb-%d" % os.getpid()
    evalsha = redis_benchmark(b, ["EVALSHA", sha, "2", "cb_state:" + name, "cb_log:" + name, "record", "rb-bench", name,
                                  "threshold=10000", "S1", "", "cb_events:" + name, "", "", "0"])
    payload = json.dumps({"name": name, "from": "closed", "to": "open", "version": 12, "by": "bench-instance",
                          "at_ms": 1764100000000, "reason": "failure_threshold", "opened_at_ms": 1764100000000,
                          "open_timeout_ms": 2000})
    publish = redis_benchmark(b, ["PUBLISH", "cb_events:" + name, payload])
    b.r.delete("cb_state:" + name, "cb_log:" + name)
    limits = {}
    if evalsha:
        limits["EVALSHA"] = evalsha
    if publish:
        limits["PUBLISH"] = publish
    b.row("5 limit", "redis-benchmark -c 1: EVALSHA breaker.lua (record S1) / PUBLISH event",
          "%s / %s ops/s" % ("%.0f" % evalsha if evalsha else "n/a", "%.0f" % publish if publish else "n/a"), "",
          "the floor for one sequential round trip", "")
    return limits


# ----------------------------------------------------------------------------- 6 TLS

def section_tls(b, fig):
    """The same client against a TLS-only redis-server (certificates from
    deploy/tls/make-test-certs) and the plain one, in this run."""
    tls_dir = b.log("tls")
    subprocess.run([os.path.join(ROOT, "deploy", "tls", "make-test-certs"), tls_dir], check=True, capture_output=True, timeout=60)
    tls = RedisServer(os.path.join(b.dir, "redis-tls"), tls_dir=tls_dir, loglevel="warning").start(timeout=15)
    port, proc = tls.port, tls.proc
    tls_env = {"REDIS_URL": "rediss://127.0.0.1:%d" % port, "REDIS_TLS_CA_FILE": os.path.join(tls_dir, "ca.crt")}
    ops = 2000 if b.smoke else 50000

    def client(env):
        out = subprocess.run([b.benchbin, "redis", "--url", env["REDIS_URL"], "--ops", str(ops)], capture_output=True, text=True,
                             timeout=600, env=dict(os.environ, **env))
        if out.returncode != 0:
            raise RuntimeError("breakwater-bench redis %s: %s" % (env["REDIS_URL"], out.stderr[-1000:]))
        figures = {}
        for line in out.stdout.splitlines():
            m = re.match(r"\s*(swift sequential GET|redis-benchmark -c 1 GET|swift connect\+PING)\s+([0-9.]+)", line)
            if m:
                figures[m.group(1)] = float(m.group(2))
        return figures

    plain = client({"REDIS_URL": b.redis_url})
    tls = client(tls_env)
    s = "6 TLS"
    get_plain, get_tls = plain.get("swift sequential GET"), tls.get("swift sequential GET")
    if get_plain and get_tls:
        b.row(s, "one round trip (sequential GET), TLS vs plain", "%.1f us (%.0f ops/s)" % (1e6 / get_tls, get_tls),
              "plain %.1f us (%.0f ops/s)" % (1e6 / get_plain, get_plain), "TLS costs %.1f us per round trip (%.2fx)" % (1e6 / get_tls - 1e6 / get_plain, get_plain / get_tls), "")
    rb_plain, rb_tls = plain.get("redis-benchmark -c 1 GET"), tls.get("redis-benchmark -c 1 GET")
    if rb_tls and get_tls:
        b.row(s, "redis-benchmark -c 1 --tls GET (the limit)", "%.0f ops/s" % rb_tls, "plain %s ops/s" % ("%.0f" % rb_plain if rb_plain else "n/a"),
              "Breakwater TLS at %.0f%% of redis-benchmark --tls" % (100 * get_tls / rb_tls), "")
    if plain.get("swift connect+PING") and tls.get("swift connect+PING"):
        b.row(s, "fresh connection + PING (TLS 1.3 handshake, EC P-256)", "%.2f ms" % tls["swift connect+PING"],
              "plain %.2f ms" % plain["swift connect+PING"], "handshake about %.2f ms" % (tls["swift connect+PING"] - plain["swift connect+PING"]), "")

    # Admission reads the local view: the link does not matter.
    args = [b.benchbin, "library", "--url", tls_env["REDIS_URL"]] + (["--iterations", "20000", "--load-seconds", "0.3", "--breakers", "50"] if b.smoke else ["--load-seconds", "1", "--breakers", "100"])
    out = subprocess.run(args, capture_output=True, text=True, timeout=300, env=dict(os.environ, **tls_env))
    tls_fig = {}
    for line in out.stdout.splitlines():
        if line.startswith("FIG "):
            _, key, value = line.split()
            tls_fig[key] = float(value)
    if "shared_closed_ns" in tls_fig:
        b.row(s, "admission closed, shared, over a TLS link", "%.1f ns/op" % tls_fig["shared_closed_ns"],
              "plain %.1f ns/op" % fig["shared_closed_ns"], "target <= 25 ns", "yes" if tls_fig["shared_closed_ns"] <= 25 else "NO")

    # Idle daemons side by side: RSS with TLS vs plain.
    up, base = b.start_upstream("tls-idle")
    daemons = {}
    for kind, env in (("plain", {"REDIS_URL": b.redis_url}), ("tls", tls_env)):
        collectors = [{"name": "tls-idle-%s-%d-%d" % (kind, i, os.getpid()), "url": base + "/status", "interval": 1, "breaker": BREAKER} for i in range(5)]
        daemons[kind] = b.start_daemon("idle-" + kind, collectors, redis_env=env)
    wait_until(lambda: b.upstream_stats(base)["requests"] >= 10, 30)
    before = {kind: proc_stat(d.proc.pid)[1] for kind, d in daemons.items()}
    t0 = time.monotonic()
    time.sleep(2 if b.smoke else 20)   # the measurement window
    elapsed = time.monotonic() - t0
    stats = {kind: proc_stat(d.proc.pid) for kind, d in daemons.items()}
    rss = {kind: value[0] for kind, value in stats.items()}
    cpu = {kind: 100 * (stats[kind][1] - before[kind]) / elapsed for kind in stats}
    for d in daemons.values():
        stop(d.proc)
    stop(up)
    stop(proc)
    b.row(s, "idle daemon, 5 collectors, side by side over %.0f s: TLS vs plain" % elapsed,
          "RSS %.1f MB, CPU %.2f %%" % (rss["tls"], cpu["tls"]), "plain: RSS %.1f MB, CPU %.2f %%" % (rss["plain"], cpu["plain"]),
          "TLS adds %.1f MB (libssl loaded on first use)" % (rss["tls"] - rss["plain"]), "")


# ----------------------------------------------------------------------------- main

def ensure_binaries(bin_dir):
    names = ("breakwater", "breakwater-node", "breakwater-bench")
    if all(os.path.exists(os.path.join(bin_dir, n)) for n in names):
        return
    if os.path.abspath(bin_dir) != os.path.join(ROOT, ".build", "release"):
        raise SystemExit("bench: %s lacks %s" % (bin_dir, ", ".join(names)))
    sys.stderr.write("bench: building release binaries (not part of the bench's own time)\n")
    subprocess.run(["swift", "build", "-c", "release"], cwd=ROOT, check=True)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n")[0])
    parser.add_argument("--bin", default=os.path.join(ROOT, ".build", "release"))
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench-results.md"))
    args = parser.parse_args(argv)
    ensure_binaries(args.bin)
    ensure_venv()
    install_signal_handlers()

    started = time.monotonic()
    b = Bench(args)
    load_before = os.getloadavg()
    try:
        b.start_redis()
        b.detect_schedule()
        limits = section_limit(b)
        rtt_ms = (1000 / limits["EVALSHA"] + 1000 / limits["PUBLISH"]) if len(limits) == 2 else None
        fig = section_library(b, limits)
        fleet = section_outage(b)
        idle = section_footprint_start(b)   # runs during the propagation section (its own CPU time is measured)
        section_propagation(b, fleet, rtt_ms)
        section_footprint_finish(b, idle, fig)
        section_tls(b, fig)
    except BaseException:
        stop_all()
        sys.stderr.write("bench: failed; logs kept in %s\n" % b.dir)
        raise
    finally:
        stop_all()
    wall = time.monotonic() - started
    load_after = os.getloadavg()

    lines = ["# Breakwater bench (%s%s)" % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), ", smoke" if b.smoke else ""), "",
             "Noisy machine: %d cores shared with other work; load average %.2f %.2f %.2f before, %.2f %.2f %.2f after. "
             "Ratios count more than absolute figures. Wall time %.0f s. Peer: pybreaker 1.4.1 + CircuitRedisStorage "
             "(redis-py), same Redis, same upstream script, same thresholds (trip after %d failures, open %d s, "
             "%d probe, 1 success closes)." % ((os.cpu_count() or 0,) + load_before + load_after + (wall, THRESHOLD, OPEN_S, PROBES)),
             ""]
    lines += ["- " + n for n in b.notes] + [""]
    lines += ["| section | metric | Breakwater | pybreaker + Redis | ratio / target | met |",
              "|---|---|---|---|---|---|"]
    for row in sorted(b.rows, key=lambda r: r[0][0]):   # by section number, run order within
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in row) + " |")
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    with open(args.out, "w") as f:
        f.write(text)
    shutil.rmtree(b.dir, ignore_errors=True)

