"""scripts/compose-check's reading of breaker dumps ("name.field=value" lines, one per stored
field, from its `dump`) and of the replicas' /breakers views (standard library only):

  compose_breakers.py every KIND NAME...     exit 0 when every NAME in the dump on stdin is
                                             present (KIND exists), open with a failed recovery
                                             (open_failed_recovery) or closed after a recovery
                                             (closed_recovered)
  compose_breakers.py summary FIELD...       one line: name state vVERSION FIELD=value ...
  compose_breakers.py agree DUMP VIEW [STATE]  exit 0 when the /breakers JSON in VIEW shows the
                                             stored state and version (and STATE, if given)
  compose_breakers.py diagnose CONTAINER     the breakers not closed in the /breakers JSON on stdin
"""
import json
import sys


def parse(lines):
    h = {}
    for line in lines:
        key, _, value = line.rstrip("\n").partition("=")
        name, _, field = key.partition(".")
        h.setdefault(name, {})[field] = value
    return h


def num(b, field):
    try:
        return int(b.get(field, "0"))
    except ValueError:
        return 0


def every(kind, names):
    h = parse(sys.stdin)
    for n in names:
        b = h.get(n)
        if not b:
            return 1
        if kind == "open_failed_recovery" and not (b.get("state") == "open" and num(b, "failed_recoveries") >= 1):
            return 1
        if kind == "closed_recovered" and not (b.get("state") == "closed" and num(b, "successful_recoveries") >= 1):
            return 1
    return 0


def summary(fields):
    h = parse(sys.stdin)
    print("; ".join(n + " " + b.get("state", "?") + " v" + b.get("version", "?") +
                    "".join(" %s=%s" % (f, b.get(f, "-")) for f in fields) for n, b in h.items()))
    return 0


def agree(dump, view, want=""):
    with open(dump) as f:
        h = parse(f)
    with open(view) as f:
        for b in json.load(f):
            stored = h.get(b["name"], {})
            if str(b["state"]) != stored.get("state") or str(b["version"]) != stored.get("version"):
                return 1
            if want and stored.get("state") != want:
                return 1
    return 0


def diagnose(container):
    for b in json.load(sys.stdin):
        local = b["local"]
        if b["state"] == "closed" and local["state"] == "closed":
            continue
        print("    %s %s: shared %s v%s; local %s half_open_in_flight=%s half_open_attempts=%s rejected=%s" % (
            container, b["name"], b["state"], b["version"], local["state"], local.get("half_open_in_flight"),
            local.get("half_open_attempts"), local.get("statistics", {}).get("rejected_calls")))
    return 0


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    sys.exit({"every": lambda: every(args[0], args[1:]), "summary": lambda: summary(args),
              "agree": lambda: agree(*args), "diagnose": lambda: diagnose(args[0])}[command]())
