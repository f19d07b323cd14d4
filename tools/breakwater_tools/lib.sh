# Shell helpers of scripts/demo and scripts/compose-local (sourced; bash). Every process is
# started through `started PID NAME` and stopped by PID in reverse order on exit.
# Expects: $tmp (the run's temp dir), $tool_name (message prefix), $keep_tmp (1 keeps $tmp).
bwtools=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/bwtools
pids=()
names=()
started() { pids+=("$1"); names+=("$2"); }

# shellcheck disable=SC2317  # stop_pid and cleanup run from the EXIT trap
stop_pid() { # stop_pid PID NAME: SIGTERM, up to 15 s for the daemon's drain, then SIGKILL
    local pid=$1 name=$2 waited=0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 150 ]; do sleep 0.1; waited=$((waited + 1)); done
    if kill -0 "$pid" 2>/dev/null; then
        echo "$tool_name: $name (pid $pid) did not stop within 15 s; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317
cleanup() {
    local i
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do stop_pid "${pids[i]}" "${names[i]}"; done
    pids=()
    if [ "${keep_tmp:-0}" = 1 ]; then echo "$tool_name: logs kept in $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
interrupted=0
trap 'interrupted=1' INT TERM

# Redis, the upstream and the collectors get a session of their own (setsid), so a Ctrl-C in
# the terminal reaches only this script and `watch`; the script then stops them in order.
detach=()
command -v setsid >/dev/null 2>&1 && detach=(setsid)

# start_redis ARGS…: `bwtools redis "$tmp/redis" ARGS…`; sets redis_port.
start_redis() {
    local out
    out=$("$bwtools" redis "$tmp/redis" "$@") || { echo "$tool_name: redis-server did not start" >&2; exit 1; }
    redis_port=${out% *}
    started "${out#* }" redis-server
}

# start_upstream ARGS…: the flaky upstream (scripts/flaky_upstream.py ARGS…); sets upstream_port.
start_upstream() {
    local out
    out=$("$bwtools" upstream "$tmp/flaky.log" "$@") || { echo "$tool_name: the flaky upstream did not start" >&2; exit 1; }
    upstream_port=${out% *}
    started "${out#* }" flaky-upstream
}

# ensure_binary: $bin from BREAKWATER_BIN, or the release build (scripts/bootstrap when
# something is missing; an up-to-date build unless $build is 0).
ensure_binary() {
    bin=${BREAKWATER_BIN:-}
    if [ -z "$bin" ]; then
        bin=$root/.build/release/breakwater
        if ! command -v redis-server >/dev/null 2>&1 || ! command -v python3 >/dev/null 2>&1 \
            || ! dpkg-query -W -f='${Status}' libhiredis-dev 2>/dev/null | grep -q "install ok installed" \
            || ! python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import breakwater_tools.redis_server' "$root/tools" 2>/dev/null \
            || [ ! -x "$bin" ]; then
            echo "$tool_name: installing what is missing (scripts/bootstrap)"
            "$root/scripts/bootstrap"
        elif [ "${build:-1}" = 1 ]; then
            echo "$tool_name: bringing the release binary up to date (swift build -c release --product breakwater)"
            local log=${TMPDIR:-/tmp}/breakwater-$tool_name-build.log
            if ! swift build -c release --product breakwater >"$log" 2>&1; then
                tail -n 30 "$log" >&2
                echo "$tool_name: the build failed (full log: $log)" >&2
                exit 1
            fi
        fi
    fi
    [ -x "$bin" ] || { echo "$tool_name: $bin is not an executable" >&2; exit 1; }
    local tool
    for tool in redis-server redis-cli python3; do
        command -v "$tool" >/dev/null 2>&1 || { echo "$tool_name: $tool is missing; run scripts/bootstrap" >&2; exit 1; }
    done
}
