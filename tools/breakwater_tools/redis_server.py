"""redis-server for the scripts: plain, AOF + ACL, TLS, a replica, three Sentinels; clients
through python3-redis. Every server runs in a directory of its own and is stopped by PID."""

import os
import signal
import sys

try:
    import redis
except ImportError:  # Debian's python3-redis, under a python3 that is not Debian's (pyenv, venv)
    sys.path.append("/usr/lib/python3/dist-packages")
    import redis

from .proc import PROCS, Failed, free_port, wait_until

ResponseError = redis.ResponseError
RedisError = redis.RedisError


def connect(port, user=None, password=None, timeout=10.0, tls_ca=None):
    """A client of 127.0.0.1:port; replies are text (invalid UTF-8 replaced)."""
    kw = {"ssl": True, "ssl_ca_certs": tls_ca, "ssl_cert_reqs": "required"} if tls_ca else {}
    return redis.Redis(host="127.0.0.1", port=port, username=user, password=password, socket_timeout=timeout,
                       socket_connect_timeout=timeout, decode_responses=True, encoding_errors="replace", **kw)


class RedisServer:
    """One redis-server on a free loopback port.

    aof: appendonly yes (everysec, RDB preamble); aclfile + auth=(user, password): the ACL
    file and the admin credentials the scripts use; tls_dir (ca.crt, redis.crt, redis.key as
    deploy/tls/make-test-certs writes them): TLS only, no plaintext port; replicaof: a port."""

    def __init__(self, dir, port=None, aof=False, aclfile=None, auth=None, tls_dir=None, replicaof=None,
                 extra=(), loglevel="notice", procs=PROCS):
        self.dir = dir
        os.makedirs(dir, exist_ok=True)
        self.port = port or free_port()
        self.auth = auth
        self.tls_ca = os.path.join(tls_dir, "ca.crt") if tls_dir else None
        self.log = os.path.join(dir, "redis.log")
        self.procs = procs
        self.proc = None
        args = ["--bind", "127.0.0.1", "--dir", dir, "--logfile", self.log, "--loglevel", loglevel,
                "--daemonize", "no", "--save", ""]
        args += ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", os.path.join(tls_dir, "redis.crt"),
                 "--tls-key-file", os.path.join(tls_dir, "redis.key"), "--tls-ca-cert-file", self.tls_ca,
                 "--tls-auth-clients", "no"] if tls_dir else ["--port", str(self.port)]
        args += ["--appendonly", "yes", "--appendfsync", "everysec", "--aof-use-rdb-preamble", "yes"] if aof \
            else ["--appendonly", "no"]
        if aclfile:
            args += ["--aclfile", aclfile]
        if replicaof:
            args += ["--replicaof", "127.0.0.1", str(replicaof)]
        self.args = ["redis-server"] + args + list(extra)

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % ("rediss" if self.tls_ca else "redis", self.port)

    def client(self, timeout=10.0):
        user, password = self.auth or (None, None)
        return connect(self.port, user, password, timeout, self.tls_ca)

    def ping(self):
        c = self.client(timeout=1)
        try:
            return c.ping()
        finally:
            c.close()

    def start(self, timeout=20, session=False):
        self.proc = self.procs.spawn(self.args, os.path.join(self.dir, "stdout.log"), session=session,
                                     name="redis-server:%d" % self.port)
        wait_until(self.ping, timeout, what="redis-server on %d answers PING (log %s)" % (self.port, self.log),
                   proc=self.proc)
        return self

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Stops it with `sig` (SIGTERM: a clean shutdown, AOF flushed) and reaps it."""
        if sig == signal.SIGTERM:
            self.procs.stop(self.proc, grace=timeout)
        else:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=timeout)


class Sentinels:
    """Three `redis-server --sentinel` on free loopback ports monitoring `mymaster` (quorum 2,
    down-after 1000 ms, failover-timeout 5000 ms), as Tests/Support/SentinelCluster.swift does."""

    MASTER = "mymaster"

    def __init__(self, dir, master_port, procs=PROCS):
        self.ports = []
        for i in range(3):
            port = free_port()
            d = os.path.join(dir, "sentinel-%d" % i)
            os.makedirs(d, exist_ok=True)
            conf = os.path.join(d, "sentinel.conf")  # sentinels rewrite it: it lives in the temp dir
            with open(conf, "w") as f:
                f.write("port %d\nbind 127.0.0.1\ndaemonize no\ndir %s\nsentinel monitor %s 127.0.0.1 %d 2\n"
                        "sentinel down-after-milliseconds %s 1000\nsentinel failover-timeout %s 5000\n"
                        "sentinel parallel-syncs %s 1\n" % (port, d, self.MASTER, master_port, self.MASTER,
                                                            self.MASTER, self.MASTER))
            procs.spawn(["redis-server", conf, "--sentinel"], os.path.join(d, "sentinel.log"))
            self.ports.append(port)
        for i, port in enumerate(self.ports):
            wait_until(lambda: self.cmd(i, "PING"), 20, what="sentinel %d on %d answers PING" % (i, port))

    def cmd(self, i, *args):
        c = connect(self.ports[i], timeout=3)
        try:
            return c.execute_command(*args)
        finally:
            c.close()

    @property
    def url(self):
        return "redis-sentinel://%s#%s" % (",".join("127.0.0.1:%d" % p for p in self.ports), self.MASTER)

    def settled(self, master_port, replica_port):
        """Every sentinel reports master_port, knows the replica (link ok) and the 2 other sentinels."""
        for i in range(3):
            reply = self.cmd(i, "SENTINEL", "get-master-addr-by-name", self.MASTER)
            if not reply or int(reply[1]) != master_port:
                return False
            replicas = [pairs(e) for e in self.cmd(i, "SENTINEL", "replicas", self.MASTER)]
            if not any(rp.get("port") == str(replica_port) and rp.get("flags") == "slave"
                       and rp.get("master-link-status") == "ok" for rp in replicas):
                return False
            if len(self.cmd(i, "SENTINEL", "sentinels", self.MASTER)) < 2:
                return False
        return True


def pairs(flat):
    """[k1, v1, k2, v2, ...] -> {k1: v1, ...}"""
    return {flat[i]: flat[i + 1] for i in range(0, len(flat or []), 2)}


def main(argv):
    """`bwtools redis DIR [--aof] [--aclfile FILE --user NAME --password-env VAR] [-- REDIS ARGS]`:
    a throwaway server in its own session, left running; prints `PORT PID` once it answers PING
    (as NAME, with the password in $VAR, when given). Stop it with `kill PID`."""
    import argparse
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser(prog="bwtools redis", description=main.__doc__)
    ap.add_argument("dir")
    ap.add_argument("--aof", action="store_true")
    ap.add_argument("--aclfile")
    ap.add_argument("--user")
    ap.add_argument("--password-env")
    args = ap.parse_args(argv)
    auth = (args.user, os.environ.get(args.password_env or "", "")) if args.user else None
    server = RedisServer(args.dir, aof=args.aof, aclfile=args.aclfile, auth=auth, extra=extra, loglevel="warning")
    try:
        server.start(session=True)
    except Failed as e:
        with open(server.log, errors="replace") as f:
            print("redis-server did not start: %s\n%s" % (e, f.read()[-2000:]), file=sys.stderr)
        return 1
    server.procs.procs.remove(server.proc)  # left running: the caller stops it by PID
    print(server.port, server.proc.pid, flush=True)
    return 0

def transaction(client, commands):
    """Runs commands in MULTI/EXEC (an atomic snapshot); returns their replies."""
    pipe = client.pipeline(transaction=True)
    for command in commands:
        pipe.execute_command(*command)
    return pipe.execute()
