"""The peer in scripts/bench: PyPI pybreaker (1.4.1) with its Redis storage (PyPI redis).

Run by scripts/bench under its venv's python, never by hand in CI.

  pybreaker_peer.py fleet      --redis-port P --name NS --url URL --interval 0.1 \
                                --fail-max 5 --reset-timeout 2 --success-threshold 1
      One fleet member: calls URL through the breaker every --interval seconds (on a fixed
      schedule, like a collector), prints one line per call, flushed:
          ok|fail|rejected <time.monotonic_ns()>
      (CLOCK_MONOTONIC: comparable with the parent's stamps.) Runs until SIGTERM.

  pybreaker_peer.py throughput --redis-port P --name NS --seconds S
      Closed path: calls a no-op through the breaker for S seconds, prints "calls <n>".
"""

import argparse
import signal
import sys
import time
import urllib.error
import urllib.request

import pybreaker
import redis


def breaker(args):
    client = redis.Redis(host="127.0.0.1", port=args.redis_port)
    storage = pybreaker.CircuitRedisStorage(pybreaker.STATE_CLOSED, client, namespace=args.name)
    return pybreaker.CircuitBreaker(fail_max=args.fail_max, reset_timeout=args.reset_timeout,
                                    success_threshold=args.success_threshold, state_storage=storage,
                                    name=args.name)


def fetch(url):
    # urlopen raises HTTPError for any non-2xx answer: a failure for the breaker.
    with urllib.request.urlopen(url, timeout=1) as response:
        return response.read()


def fleet(args):
    cb = breaker(args)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    tick = time.monotonic()
    while not stop:
        try:
            cb.call(fetch, args.url)
            kind = "ok"
        except pybreaker.CircuitBreakerError:
            kind = "rejected"
        except Exception:
            kind = "fail"
        sys.stdout.write("%s %d\n" % (kind, time.monotonic_ns()))
        sys.stdout.flush()
        tick += args.interval
        delay = tick - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            tick = time.monotonic()


def throughput(args):
    cb = breaker(args)
    calls = 0
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        for _ in range(100):
            cb.call(lambda: None)
        calls += 100
    print("calls %d" % calls, flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("fleet", "throughput"))
    parser.add_argument("--redis-port", type=int, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--url")
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--fail-max", type=int, default=5)
    parser.add_argument("--reset-timeout", type=float, default=2)
    parser.add_argument("--success-threshold", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=2)
    args = parser.parse_args()
    fleet(args) if args.mode == "fleet" else throughput(args)


if __name__ == "__main__":
    main()
