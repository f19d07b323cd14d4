"""Free ports, processes started and stopped by PID, polling with deadlines, small HTTP."""

import atexit
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request


class Failed(Exception):
    """A check or a start-up that did not happen in time."""


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(fn, timeout, interval=0.05, what=None, proc=None):
    """Polls fn() until it returns a truthy value (returned). At the deadline: None, or, with
    `what`, raises Failed naming it and the last error. Gives up early when `proc` exited."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = fn()
            if value:
                return value
        except Exception as e:  # keep polling; the last error goes into the message
            last = e
        exited = proc is not None and proc.poll() is not None
        if exited or time.monotonic() >= deadline:
            if what is None:
                return None
            why = "not within %.0f s" % timeout
            if exited:
                why = "%s exited with %s\n%s" % (getattr(proc, "name", "its process"), proc.returncode,
                                                 tail(getattr(proc, "log", "")))
            raise Failed("%s: %s%s" % (what, why, " (last error: %s)" % last if last else ""))
        time.sleep(interval)


def http(url, method="GET", data=None, timeout=3.0, headers=None):
    """(status, body bytes), or (None, error text) when there is no HTTP answer; never raises."""
    if method == "POST" and data is None:
        data = b""
    req = urllib.request.Request(url, method=method, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        try:
            return e.code, e.read()
        except Exception:
            return e.code, b""
    except Exception as e:  # refused, reset, timeout
        return None, str(e)


def proc_stat(pid):
    """(RSS in MB, CPU seconds) of a live process, from /proc; (None, None) once it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            rss = next((int(l.split()[1]) / 1024.0 for l in f if l.startswith("VmRSS:")), None)
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return rss, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None, None


def tail(path, n=30):
    try:
        with open(path, "rb") as f:
            return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-n:])
    except OSError:
        return ""


class Procs:
    """Every process a script starts: stopped by PID (SIGTERM, then SIGKILL) at exit, on
    SIGINT/SIGTERM (see `install_signal_handlers`), or one at a time."""

    def __init__(self):
        self.lock = threading.Lock()
        self.procs = []
        atexit.register(self.stop_all)

    def spawn(self, args, log, env=None, append=True, cwd=None, session=False, name=None,
              stdin=subprocess.DEVNULL, stdout=None, text=False):
        """Starts args with stdout+stderr into the file `log` (stdout=PIPE: stderr only);
        env adds to os.environ (None removes). session: a session of its own (stopped as a process group)."""
        with open(log, "ab" if append else "wb") as out:
            proc = subprocess.Popen(args, stdin=stdin, stdout=out if stdout is None else stdout,
                                    stderr=subprocess.STDOUT if stdout is None else out,
                                    env=merged_env(env), cwd=cwd, start_new_session=session,
                                    text=text, bufsize=1 if text else -1)
        proc.name, proc.log, proc.session = name or os.path.basename(args[0]), log, session
        with self.lock:
            self.procs.append(proc)
        return proc

    @staticmethod
    def signal(proc, sig):
        try:
            if getattr(proc, "session", False):
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
        except ProcessLookupError:
            pass

    def stop(self, proc, grace=5.0):
        """SIGTERM, SIGKILL after `grace` seconds; reaps it. Returns the exit status (None if stuck)."""
        if proc.poll() is None:
            self.signal(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.signal(proc, signal.SIGKILL)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
        with self.lock:
            if proc in self.procs:
                self.procs.remove(proc)
        return proc.poll()

    def stop_all(self, grace=4.0):
        with self.lock:
            procs = list(reversed(self.procs))
        for proc in procs:
            if proc.poll() is None:
                self.signal(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in procs:
            try:
                proc.wait(timeout=max(0.05, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            self.stop(proc, grace=0.1)


PROCS = Procs()


def exact_env(env):
    """The additions that turn os.environ into exactly `env` (None: removed), for spawn and run."""
    return dict({k: None for k in os.environ if k not in env}, **env)


def merged_env(env):
    """os.environ plus env; a None value removes that variable."""
    out = dict(os.environ)
    for k, v in (env or {}).items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out


def install_signal_handlers():
    """SIGINT/SIGTERM end the script through SystemExit, so atexit stops every process."""
    def on_signal(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def run(args, env=None, timeout=60, **kw):
    """subprocess.run with captured text output; env adds to os.environ."""
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                          env=merged_env(env), **kw)
