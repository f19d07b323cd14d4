"""The Python half of scripts/check-monitoring (static checks, PromQL of the dashboard as
recording rules for promtool, self-test against the fixture, live expositions). Run as
`python3 monitoring.py static|selftest|live ...`; its exit status is its number of failed checks."""
import json, re, sys, urllib.request, yaml

PREFIX = "check-monitoring:"
failures = 0

def ok(msg):
    print(f"{PREFIX} ok: {msg}", flush=True)

def fail(msg):
    global failures
    failures += 1
    print(f"{PREFIX} FAIL: {msg}", file=sys.stderr, flush=True)

def load_contract(path):
    contract = {}
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, kind, labels = line.split()[:3]
        contract[name] = (kind, [] if labels == "-" else labels.split(","))
    return contract

STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
NAME = re.compile(r"(?<![A-Za-z0-9_:])breakwater_[A-Za-z0-9_]*")

def names_in(expr, contract):
    """Metric names in a PromQL expression (string literals and comments removed),
    histogram/summary series mapped to their base name."""
    expr = STRING.sub('""', expr)
    expr = re.sub(r"#[^\n]*", "", expr)
    found = set()
    for name in NAME.findall(expr):
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and name[: -len(suffix)] in contract:
                name = name[: -len(suffix)]
        found.add(name)
    return found

GRAFANA_VARS = [
    (re.compile(r"\$__rate_interval|\$\{__rate_interval\}"), "1m"),
    (re.compile(r"\$__interval|\$\{__interval\}"), "1m"),
    (re.compile(r"\$__range|\$\{__range\}"), "1h"),
    (re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(:[a-z]+)?\}|\$[A-Za-z_][A-Za-z0-9_]*"), ".*"),
]

def as_promql(expr):
    for pattern, value in GRAFANA_VARS:
        expr = pattern.sub(value, expr)
    return expr

def dashboard_queries(path):
    """(where, expr) for every PromQL query of the dashboard: panel targets (rows' nested
    panels too), annotation queries, and the selectors of label_values() variables."""
    text = open(path, encoding="utf-8").read()
    try:
        board = json.loads(text)
    except json.JSONDecodeError as error:
        fail(f"{path}: not valid JSON: {error}")
        return None, []
    ok(f"{path} is valid JSON (title {board.get('title')!r}, uid {board.get('uid')!r})")
    problems = []
    if not isinstance(board.get("schemaVersion"), int):
        problems.append("no integer schemaVersion")
    variables = (board.get("templating") or {}).get("list") or []
    ds_vars = [v["name"] for v in variables if v.get("type") == "datasource" and v.get("query") == "prometheus"]
    inputs = [i["name"] for i in board.get("__inputs") or [] if i.get("pluginId") == "prometheus"]
    ds_names = set(ds_vars) | set(inputs)
    if not ds_names:
        problems.append("no Prometheus data source variable (templating type datasource) or __inputs entry")
    allowed_uids = {f"${{{n}}}" for n in ds_names} | {f"${n}" for n in ds_names}

    def check_ds(where, ds):
        if ds is None:
            return
        uid = ds.get("uid") if isinstance(ds, dict) else ds
        if uid not in allowed_uids:
            problems.append(f"{where}: data source {uid!r} is hard-coded (use one of {sorted(allowed_uids)})")

    queries = []
    panels = []
    def walk(items):
        for p in items or []:
            panels.append(p)
            walk(p.get("panels"))
    walk(board.get("panels"))
    if not panels:
        problems.append("no panels")
    ids = [p.get("id") for p in panels]
    if len(ids) != len(set(ids)):
        problems.append(f"duplicate panel ids: {sorted(i for i in set(ids) if ids.count(i) > 1)}")
    count = 0
    for p in panels:
        where = f"panel {p.get('id')} {p.get('title')!r}"
        if p.get("type") == "row":
            continue
        count += 1
        if "gridPos" not in p:
            problems.append(f"{where}: no gridPos")
        check_ds(where, p.get("datasource"))
        targets = p.get("targets") or []
        if not targets:
            problems.append(f"{where}: no targets")
        refs = [t.get("refId") for t in targets]
        if len(refs) != len(set(refs)) or None in refs:
            problems.append(f"{where}: refIds missing or not unique: {refs}")
        for t in targets:
            check_ds(f"{where} target {t.get('refId')}", t.get("datasource"))
            expr = t.get("expr")
            if not isinstance(expr, str) or not expr.strip():
                problems.append(f"{where} target {t.get('refId')}: no PromQL expr")
                continue
            queries.append((f"{where} target {t.get('refId')}", expr))
    for a in (board.get("annotations") or {}).get("list") or []:
        if a.get("expr"):
            check_ds(f"annotation {a.get('name')!r}", a.get("datasource"))
            queries.append((f"annotation {a.get('name')!r}", a["expr"]))
    for v in variables:
        if v.get("type") != "query":
            continue
        check_ds(f"variable {v.get('name')}", v.get("datasource"))
        query = v.get("query")
        query = query.get("query") if isinstance(query, dict) else query
        match = re.fullmatch(r"\s*label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*", query or "", re.S)
        if match:
            queries.append((f"variable {v.get('name')}", match.group(1)))
        elif query and query.strip().startswith(("query_result(", "metrics(")):
            inner = re.fullmatch(r"\s*\w+\((.*)\)\s*", query, re.S).group(1)
            queries.append((f"variable {v.get('name')}", inner))
        else:
            problems.append(f"variable {v.get('name')}: unsupported query {query!r}")
    if problems:
        for problem in problems:
            fail(f"{path}: {problem}")
    else:
        ok(f"{path}: {count} panels, each with queries; data source from variable {sorted(ds_names)}; schemaVersion {board.get('schemaVersion')}")
    return board, queries

def alert_queries(path):
    rules = yaml.safe_load(open(path, encoding="utf-8"))
    queries, problems, alerts = [], [], 0
    for group in rules.get("groups") or []:
        for rule in group.get("rules") or []:
            name = rule.get("alert") or rule.get("record")
            queries.append((f"rule {name}", rule.get("expr", "")))
            if "alert" in rule:
                alerts += 1
                if "for" not in rule:
                    problems.append(f"alert {name}: no `for:`")
                if (rule.get("labels") or {}).get("severity") not in ("critical", "warning", "info"):
                    problems.append(f"alert {name}: severity label must be critical, warning or info")
                annotations = rule.get("annotations") or {}
                for key in ("summary", "description"):
                    if not annotations.get(key):
                        problems.append(f"alert {name}: no {key} annotation")
    for problem in problems:
        fail(f"{path}: {problem}")
    if not problems:
        ok(f"{path}: {alerts} alerts, each with for, a severity label, summary and description")
    return queries

def used_names(contract, dashboard, alerts):
    board, dash_queries = dashboard_queries(dashboard)
    rules_queries = alert_queries(alerts)
    used = {}
    for source, queries in (("dashboard", dash_queries), ("alerts", rules_queries)):
        for where, expr in queries:
            names = names_in(expr, contract)
            if not names and source == "dashboard" and not where.startswith("variable"):
                fail(f"{dashboard}: {where} names no breakwater_ metric: {expr!r}")
            for name in names:
                used.setdefault(name, set()).add(source)
    unknown = sorted(n for n in used if n not in contract)
    for name in unknown:
        fail(f"{name} (used by {', '.join(sorted(used[name]))}) is not in the exporter contract {CONTRACT}")
    in_both = sorted(n for n in used if used[n] == {"dashboard", "alerts"})
    ok(f"{len(used)} metric names used ({len([n for n in used if 'alerts' in used[n]])} by alerts, "
       f"{len([n for n in used if 'dashboard' in used[n]])} by the dashboard), "
       f"{'all' if not unknown else len(used) - len(unknown)} in {CONTRACT}")
    unused = sorted(set(contract) - set(used))
    if unused:
        print(f"{PREFIX} note: contract metrics neither alerted on nor graphed: {' '.join(unused)}")
    return dash_queries, used

def write_dashboard_rules(queries, out):
    rules = [{"record": f"dashboard:query_{i}", "expr": as_promql(expr)} for i, (_, expr) in enumerate(queries)]
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}, f, indent=1)
    with open(out + ".where", "w", encoding="utf-8") as f:
        for i, (where, expr) in enumerate(queries):
            f.write(f"dashboard:query_{i}\t{where}\t{as_promql(expr)}\n")

SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(\{(.*)\})?\s+\S+")
LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"')

def parse_exposition(text):
    """{name: type} from # TYPE lines and {series name: set of label names} from samples."""
    types, series = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            parts = line.split()
            if len(parts) >= 4:
                types[parts[2]] = parts[3]
            continue
        if not line.strip() or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        if match:
            labels = {m.group(1) for m in LABEL.finditer(match.group(3) or "")}
            series.setdefault(match.group(1), set()).update(labels)
    return types, series

def check_exposition(sources, used, contract, label="live"):
    """sources: [(url, text)]. Checks every used name against the union. Returns failures."""
    before = failures
    types, series = {}, {}
    for url, text in sources:
        t, s = parse_exposition(text)
        for name, kind in t.items():
            types.setdefault(name, set()).add(kind)
        for name, labels in s.items():
            series.setdefault(name, set()).update(labels)
    for name in sorted(used):
        kind, labels = contract.get(name, (None, []))
        sample_names = [n for n in (name, name + "_bucket", name + "_sum", name + "_count") if n in series]
        if name not in types and not sample_names:
            hint = ""
            if kind == "counter":
                hint = " (a counter is exported from its first use: exercise the daemon first)"
            fail(f"{label}: {name} (used by {', '.join(sorted(used[name]))}) is not in the exposition{hint}")
            continue
        found_types = types.get(name, set())
        if kind and found_types and found_types != {kind}:
            fail(f"{label}: {name} is exported as {'/'.join(sorted(found_types))}, the contract says {kind}")
            continue
        if kind == "histogram" and name + "_bucket" not in series and name in types:
            fail(f"{label}: {name} has a TYPE line but no _bucket samples")
            continue
        seen_labels = set().union(*(series[n] for n in sample_names)) if sample_names else set()
        missing = [l for l in labels if l not in seen_labels] if sample_names else []
        if missing:
            fail(f"{label}: {name} has no sample with label(s) {', '.join(missing)} (contract: {', '.join(labels)})")
            continue
        how = f"# TYPE {'/'.join(sorted(found_types))}" if found_types else "samples only"
        ok(f"{label}: {name} ({how}{', labels ' + ','.join(sorted(seen_labels)) if seen_labels else ''})")
    return failures - before

def fetch(url):
    last = None
    for attempt in range(3):
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.read().decode("utf-8", "replace")
        except Exception as error:  # noqa: BLE001 - report whatever went wrong
            last = error
            import time
            time.sleep(1)
    raise RuntimeError(f"{url}: {last}")

mode, CONTRACT, dashboard, alerts = sys.argv[1:5]
contract = load_contract(CONTRACT)
if mode == "static":
    queries, used = used_names(contract, dashboard, alerts)
    write_dashboard_rules(queries, sys.argv[5])
    with open(sys.argv[6], "w", encoding="utf-8") as f:
        json.dump({n: sorted(s) for n, s in used.items()}, f)
elif mode == "selftest":
    # Names outside the contract already failed above; the self-test is about the checker.
    used = {n: set(s) for n, s in json.load(open(sys.argv[5])).items() if n in contract}
    fixture = open(sys.argv[6], encoding="utf-8").read()
    global_failures = failures
    # Quietly: the fixture must pass, and the fixture without one used metric must fail.
    import io, contextlib
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        bad_full = check_exposition([("fixture", fixture)], used, contract, "fixture")
        victim = sorted(used)[len(used) // 2]
        cut = "\n".join(l for l in fixture.splitlines() if not re.match(rf"^(# (TYPE|HELP) )?{victim}(_bucket|_sum|_count)?[ {{]", l))
        bad_cut = check_exposition([("fixture-cut", cut)], used, contract, "fixture")
        split = fixture.splitlines()
        half = len(split) // 2
        bad_union = check_exposition([("a", "\n".join(split[:half])), ("b", "\n".join(split[half:]))], used, contract, "fixture")
    failures = global_failures
    if bad_full:
        print(quiet.getvalue(), file=sys.stderr)
        fail(f"live checker self-test: {sys.argv[6]} should pass but {bad_full} check(s) failed")
    else:
        ok(f"live checker self-test: {sys.argv[6]} has all {len(used)} names")
    if bad_cut == 1:
        ok(f"live checker self-test: the fixture without {victim} fails on exactly that name")
    else:
        fail(f"live checker self-test: removing {victim} from the fixture gave {bad_cut} failures, expected 1")
    if bad_union:
        fail("live checker self-test: the fixture split over two URLs should pass (union of names)")
    else:
        ok("live checker self-test: names split over two expositions pass as a union")
elif mode == "live":
    used = {n: set(s) for n, s in json.load(open(sys.argv[5])).items()}
    sources = []
    for url in sys.argv[6:]:
        try:
            text = fetch(url)
        except Exception as error:  # noqa: BLE001
            fail(f"live: cannot fetch {error}")
            continue
        types, series = parse_exposition(text)
        ours = sorted(n for n in set(types) | set(series) if n.startswith("breakwater_"))
        ok(f"live: fetched {url} ({len(text)} bytes, {len(ours)} breakwater_ names)")
        sources.append((url, text))
    if sources:
        check_exposition(sources, used, contract)
sys.exit(min(failures, 100))
