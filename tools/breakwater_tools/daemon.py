"""`breakwater run` daemons with generated configs, and where the binaries are."""

import json
import os
import signal
import subprocess
import time

from . import ROOT
from .proc import PROCS, free_port, http, proc_stat, run, wait_until


def default_bin():
    """The debug build's directory (`swift build --show-bin-path`), without building."""
    try:
        out = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, capture_output=True, text=True,
                             timeout=120)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip().splitlines()[-1]
    except (OSError, subprocess.TimeoutExpired):
        pass
    return os.path.join(ROOT, ".build", "debug")


def config_text(iid, port, collectors, collector_extra=()):
    """A daemon config: collectors are {name, url, breaker: {...}, interval?, timeout?}."""
    lines = ["instance_id: %s" % iid, "http:", "  listen: 127.0.0.1:%d" % port, "collectors:"]
    for c in collectors:
        lines += ["  - name: %s" % c["name"], "    kind: http_json", "    base_url: %s" % c["url"],
                  "    interval_seconds: %s" % c.get("interval", 0.1), "    timeout_seconds: %s" % c.get("timeout", 1)]
        lines += ["    " + line for line in collector_extra] + ["    breaker:"]
        lines += ["      %s: %s" % kv for kv in c["breaker"].items()]
    return "\n".join(lines) + "\n"


def demo_config(iid, port, upstream_url, name=None):
    """deploy/config/demo.yaml with this instance id, listen port and base_url (and name)."""
    out = []
    with open(os.path.join(ROOT, "deploy", "config", "demo.yaml")) as f:
        for line in f:
            key = line.strip().split(":", 1)[0]
            indent = line[:len(line) - len(line.lstrip())]
            if line.startswith("instance_id:"):
                line = "instance_id: %s\n" % iid
            elif key == "listen":
                line = "%slisten: 127.0.0.1:%d\n" % (indent, port)
            elif key == "base_url":
                line = "%sbase_url: %s\n" % (indent, upstream_url)
            elif name and line.strip() == "- name: flaky":
                line = line.replace("flaky", name)
            out.append(line)
    return "".join(out)


class Daemon:
    """One `breakwater run` on a free port; `check-config` passes before it is ever started.
    text(port): the config to use instead of one generated from `collectors`."""

    def __init__(self, dir, breakwater, iid, collectors, redis_url, procs=PROCS, env=None, text=None,
                 collector_extra=()):
        self.dir, self.breakwater, self.iid, self.procs = dir, breakwater, iid, procs
        self.collectors = collectors
        self.port = free_port()
        self.cfg = os.path.join(dir, iid + ".yaml")
        self.log = os.path.join(dir, iid + ".log")
        self.env = dict(env or {}, REDIS_URL=redis_url)
        self.proc = None
        self.starts = 0
        with open(self.cfg, "w") as f:
            f.write(text(self.port) if text else config_text(iid, self.port, collectors, collector_extra))
        rc = run([breakwater, "check-config", "--config", self.cfg], env={"REDIS_URL": redis_url})  # the config alone
        if rc.returncode != 0:
            raise RuntimeError("check-config %s: %s" % (self.cfg, (rc.stdout + rc.stderr).strip()))

    def start(self, wait=True, timeout=30):
        self.starts += 1
        with open(self.log, "a") as f:
            f.write("==== start #%d at %.3f\n" % (self.starts, time.time()))
        self.proc = self.procs.spawn([self.breakwater, "run", "--config", self.cfg], self.log, env=self.env,
                                     cwd=self.dir, name=self.iid)
        if wait and not wait_until(self.healthy, timeout):
            raise RuntimeError("%s not healthy within %ds (alive=%s, log %s)" % (
                self.iid, timeout, self.alive(), self.log))
        return self

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def healthy(self):
        return http(self.url("/healthz"), timeout=2)[0] == 200

    def ready(self):
        return http(self.url("/readyz"), timeout=2)[0]

    def breakers(self, timeout=3):
        status, body = http(self.url("/breakers"), timeout=timeout)
        return {b["name"]: b for b in json.loads(body)} if status == 200 else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def rss(self):
        return proc_stat(self.proc.pid)[0] if self.alive() else None

    def log_text(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    @property
    def names(self):
        return [c["name"] for c in self.collectors]
