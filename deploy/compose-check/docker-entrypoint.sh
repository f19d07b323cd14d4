#!/bin/sh
# What the official redis image's entrypoint does, for the redis:7 stand-in image that
# scripts/compose-check builds: runs as root, so `sh make-acl …` in docker-compose.yml can
# write /data/users.acl, then `exec docker-entrypoint.sh redis-server …` chowns /data to the
# redis user and drops privileges (setpriv from util-linux instead of gosu).
set -e

# `docker run redis:7 --appendonly yes` / `redis:7 my.conf`: options go to redis-server.
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
    set -- redis-server "$@"
fi

if [ "$1" = 'redis-server' ] && [ "$(id -u)" = '0' ]; then
    find . \! -user redis -exec chown redis '{}' +
    exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

um="$(umask)"
if [ "$um" = '0022' ]; then
    umask 0077
fi

# Without a config file setting it, the official image runs with protected mode off (the
# container network is the boundary; docker-compose.yml's ACL file turns the default user off).
if [ "$1" = 'redis-server' ]; then
    config=
    protected=1
    if [ -f "${2:-}" ]; then
        config=$2
        if grep -q '^protected-mode' "$config"; then protected=; fi
    fi
    if [ -n "$protected" ]; then
        shift
        if [ -n "$config" ]; then shift; fi
        set -- --protected-mode no "$@"
        if [ -n "$config" ]; then set -- "$config" "$@"; fi
        set -- redis-server "$@"
    fi
fi

exec "$@"
