# apt_install PKG…: apt-get install as root, non-interactive, without recommends and without
# starting services (a policy-rc.d for the duration: Debian's prometheus or redis-server would
# start theirs); the output is shown only on failure. Returns 1 when not root or no apt-get.
# Sourced (bash) by the scripts that install what they miss.
apt_install() {
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || return 1
    local log status=0 policy=""
    log=$(mktemp)
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\n# no service starts during this apt-get install\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        policy=yes
    fi
    export DEBIAN_FRONTEND=noninteractive
    { [ -n "${apt_updated:-}" ] || apt-get update -qq; } >"$log" 2>&1 && apt_updated=1 \
        && apt-get install -y -qq --no-install-recommends "$@" >>"$log" 2>&1 || status=$?
    [ -z "$policy" ] || rm -f /usr/sbin/policy-rc.d
    [ "$status" = 0 ] || cat "$log" >&2
    rm -f "$log"
    return "$status"
}

# missing_packages PKG…: the ones dpkg does not list as installed, one a line.
missing_packages() {
    local p
    for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || echo "$p"; done
}
