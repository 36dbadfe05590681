#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests (the `sql` kind). Source this file, then:
#
#   postgres_start   # installs the server binaries from Debian when missing, initdb's a fresh cluster
#                    # in a temporary directory, starts it on 127.0.0.1 on a free port (its unix socket
#                    # in that directory too), creates the database weir_test and exports
#                    # WEIR_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:PORT/weir_test
#   postgres_stop    # stops that server by its PID and removes the directory (safe to call twice)
#
# As root the server runs as the `postgres` user (runuser, else su). Run alone
# (`bash scripts/postgres.sh -- CMD ARGS...`) it starts a server, runs CMD with the URL set, and stops it.

WEIR_PG_DIR=""
WEIR_PG_PID=""

_pg_log() { echo "postgres: $*" >&2; }

# The directory of the newest installed server binaries, or nothing.
_pg_bin() {
    local initdb
    initdb=$(ls -1d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)
    [ -n "$initdb" ] && dirname "$initdb"
}

_pg_install() {
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo="sudo -n"
        else
            _pg_log "no server binaries and neither root nor sudo: cannot install postgresql"
            return 1
        fi
    fi
    _pg_log "installing postgresql from Debian (apt-get)"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2
}

# Runs a command as the user the server runs as.
_pg_as() {
    if [ "$(id -u)" != 0 ]; then
        "$@"
    elif command -v runuser >/dev/null 2>&1; then
        runuser -u postgres -- "$@"
    else
        su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
    fi
}

# A TCP port on 127.0.0.1 that nothing listens on now.
_pg_free_port() {
    local port
    for _ in $(seq 1 50); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

postgres_start() {
    local bin port
    bin=$(_pg_bin)
    if [ -z "$bin" ]; then
        _pg_install || return 1
        bin=$(_pg_bin)
        [ -n "$bin" ] || { _pg_log "postgresql installed but no initdb found"; return 1; }
    fi
    if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin postgres || return 1
    fi
    WEIR_PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/weir-pg.XXXXXX") || return 1
    chmod 755 "$WEIR_PG_DIR"
    [ "$(id -u)" = 0 ] && chown postgres: "$WEIR_PG_DIR"
    if ! _pg_as "$bin/initdb" -D "$WEIR_PG_DIR/data" -U postgres --auth=trust -E UTF8 \
        >"$WEIR_PG_DIR/initdb.log" 2>&1; then
        _pg_log "initdb failed:"; cat "$WEIR_PG_DIR/initdb.log" >&2
        return 1
    fi
    for _ in 1 2 3 4 5; do
        port=$(_pg_free_port) || break
        if _pg_as "$bin/pg_ctl" start -w -t 60 -D "$WEIR_PG_DIR/data" -l "$WEIR_PG_DIR/server.log" \
            -o "-h 127.0.0.1 -p $port -k $WEIR_PG_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
            >/dev/null 2>&1; then
            WEIR_PG_PID=$(head -n 1 "$WEIR_PG_DIR/data/postmaster.pid")
            break
        fi
    done
    if [ -z "$WEIR_PG_PID" ]; then
        _pg_log "the server did not start:"; cat "$WEIR_PG_DIR/server.log" >&2 2>/dev/null
        return 1
    fi
    if ! _pg_as "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres weir_test; then
        _pg_log "createdb failed"
        return 1
    fi
    export WEIR_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/weir_test"
    _pg_log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (pid $WEIR_PG_PID)"
}

postgres_stop() {
    if [ -n "$WEIR_PG_PID" ] && kill -0 "$WEIR_PG_PID" 2>/dev/null; then
        kill -INT "$WEIR_PG_PID" 2>/dev/null # fast shutdown
        for _ in $(seq 1 100); do
            kill -0 "$WEIR_PG_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$WEIR_PG_PID" 2>/dev/null && kill -KILL "$WEIR_PG_PID" 2>/dev/null
    fi
    WEIR_PG_PID=""
    if [ -n "$WEIR_PG_DIR" ] && [ -d "$WEIR_PG_DIR" ]; then
        rm -rf "$WEIR_PG_DIR"
    fi
    WEIR_PG_DIR=""
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    [ "${1:-}" = "--" ] && shift
    trap postgres_stop EXIT
    postgres_start
    if [ $# -gt 0 ]; then
        "$@"
    else
        echo "WEIR_TEST_POSTGRES_URL=$WEIR_TEST_POSTGRES_URL"
    fi
fi
