"""The commands of tools/bwtools."""

import os
import shutil
import subprocess
import sys
import tempfile

from . import redis_server, schema
from .daemon import Daemon, demo_config
from .proc import PROCS, Failed, free_port, http, install_signal_handlers, wait_until
from .upstream import Flaky


def detach_upstream(argv):
    if not argv:
        raise SystemExit("usage: bwtools upstream LOG [flaky_upstream.py args...]")
    procs = type(PROCS)()
    up = Flaky(argv[0], args=argv[1:], procs=procs)
    procs.procs.clear()  # left running: the caller stops it by PID
    print(up.port, up.proc.pid, flush=True)
    return 0


def with_redis(argv):
    """scripts/with-redis: runs argv with REDIS_URL, starting a throwaway server if it is unset."""
    if not argv:
        raise SystemExit("usage: bwtools with-redis CMD...")
    install_signal_handlers()
    env = dict(os.environ)
    tmp = None
    if not env.get("REDIS_URL"):
        if not shutil.which("redis-server"):
            print("redis-server is not installed: run scripts/bootstrap (or apt-get install -y redis-server)", file=sys.stderr)
            return 2
        tmp = tempfile.mkdtemp(prefix="breakwater-redis-")
        server = redis_server.RedisServer(tmp, loglevel="warning")
        try:
            server.start()
        except Failed as e:
            print("throwaway redis-server did not start: %s" % e, file=sys.stderr)
            return 1
        env["REDIS_URL"] = server.url
        print("scripts/with-redis: throwaway redis-server on %s (pid %d)" % (server.url, server.proc.pid), flush=True)
    try:
        return subprocess.call(argv, env=env)
    finally:
        PROCS.stop_all()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def live_metrics(argv):
    """The live half of the monitoring check: a throwaway Redis, a flaky upstream failing for
    6 s and deploy/config/demo.yaml's daemon (breaker "cimon"); once its breaker has tripped
    and closed again (<= 60 s), runs argv with BREAKWATER_METRICS_URL; its status is ours."""
    if len(argv) < 2:
        raise SystemExit("usage: bwtools live-metrics BREAKWATER CMD...")
    install_signal_handlers()
    tmp = tempfile.mkdtemp(prefix="breakwater-monitoring-")
    server = redis_server.RedisServer(os.path.join(tmp, "redis"), loglevel="warning").start()
    up = Flaky(os.path.join(tmp, "flaky.log"), args=["--fail-for", "6"])
    d = Daemon(tmp, argv[0], "ci-monitoring", [{"name": "cimon"}], server.url,
               text=lambda port: demo_config("ci-monitoring", port, up.url, name="cimon")).start()
    metrics = d.url("/metrics")
    if not wait_until(lambda: 'to="closed"' in http(metrics)[1].decode(errors="replace"), 60, 0.5):
        print("live-metrics: the breaker did not trip and close within 60 s", file=sys.stderr)
    status = subprocess.call(argv[1:], env=dict(os.environ, BREAKWATER_METRICS_URL=metrics))
    if status != 0:
        with open(d.log, errors="replace") as f:
            sys.stderr.write("".join(f.readlines()[-30:]))
    PROCS.stop_all()
    shutil.rmtree(tmp, ignore_errors=True)
    return status


def wait_http(argv):
    if not argv:
        raise SystemExit("usage: bwtools wait-http URL [TEXT] [SECONDS]")
    url, text = argv[0], argv[1] if len(argv) > 1 else ""
    seconds = float(argv[2]) if len(argv) > 2 else 30

    def ok():
        status, body = http(url, timeout=2)
        return status == 200 and text in body.decode(errors="replace")
    try:
        wait_until(ok, seconds, 0.1, what="GET %s%s" % (url, " containing %r" % text if text else ""))
    except Failed as e:
        print(e, file=sys.stderr)
        return 1
    return 0


COMMANDS = {
    "free-port": lambda argv: print(free_port()) or 0,
    "redis": redis_server.main,
    "upstream": detach_upstream,
    "with-redis": with_redis,
    "live-metrics": live_metrics,
    "fields": schema.main,
    "demo-config": lambda argv: print(demo_config(argv[0], int(argv[1]), argv[2], *argv[3:4]), end="") or 0,
    "wait-http": wait_http,
}


def main(argv, doc):
    if not argv or argv[0] not in COMMANDS:
        print(doc, file=sys.stderr if argv and argv[0] not in ("-h", "--help") else sys.stdout)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    return COMMANDS[argv[0]](argv[1:])
