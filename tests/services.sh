#!/usr/bin/env bash
# Services the tests need, installed and started from nothing (called by .ci/run):
#   a PostgreSQL server on 127.0.0.1:5432 with database recipe_sweeps, owned by user
#   recipe (password recipe), for the test where two sweep workers share one study; database
#   recipe_secrets owned by recipe_secret (password planted-secret-4b1d9), for the secrets test;
#   Chromium (/usr/bin/chromium), for the tests that open report.html in a real browser.
# Idempotent: a second run finds the server up and leaves it. Prints the URL to use:
#   SWEEP_TEST_POSTGRES=postgresql://recipe:recipe@127.0.0.1:5432/recipe_sweeps
set -euo pipefail

PORT="${PGPORT:-5432}"
DB=recipe_sweeps
USER_=recipe
URL="postgresql://$USER_:$USER_@127.0.0.1:$PORT/$DB"

as_postgres() {
    if [ "$(id -un)" = postgres ]; then "$@"; elif command -v runuser >/dev/null; then runuser -u postgres -- "$@"; else su postgres -c "$(printf '%q ' "$@")"; fi
}

# Chromium first: it needs nothing started, and a PostgreSQL problem below must not cost it.
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        echo "== installing chromium (the report.html browser tests)"
        export DEBIAN_FRONTEND=noninteractive
        { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
            || echo "tests/services.sh: chromium did not install; the browser tests will skip" >&2
    else
        echo "tests/services.sh: no chromium, and no apt-get as root to install it; the browser tests will skip" >&2
    fi
fi

if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    if ! command -v apt-get >/dev/null; then
        echo "tests/services.sh: no PostgreSQL and no apt-get to install it; the PostgreSQL sweep test will skip" >&2
        exit 0
    fi
    [ "$(id -u)" = 0 ] || { echo "tests/services.sh: installing PostgreSQL needs root (apt-get); the PostgreSQL sweep test will skip" >&2; exit 0; }
    echo "== installing postgresql"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
fi
BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
DATA=/var/lib/postgresql/recipe-tests
LOG=/var/lib/postgresql/recipe-tests.log

if ! as_postgres "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
    if [ ! -s "$DATA/PG_VERSION" ]; then
        mkdir -p "$DATA" && chown postgres:postgres "$DATA"
        pw="$(mktemp)" && echo postgres > "$pw" && chown postgres "$pw"
        as_postgres "$BIN/initdb" -D "$DATA" --auth-local=peer --auth-host=md5 --username=postgres --pwfile="$pw" >/dev/null
        rm -f "$pw"
    fi
    mkdir -p /var/run/postgresql && chown postgres:postgres /var/run/postgresql
    echo "== starting PostgreSQL on 127.0.0.1:$PORT"
    as_postgres "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -o "-c listen_addresses=127.0.0.1 -p $PORT -c max_connections=100" start >/dev/null \
        || { echo "tests/services.sh: PostgreSQL did not start; its log:" >&2; tail -20 "$LOG" >&2; exit 1; }
fi

# Over the local socket as the postgres user (peer auth): works for this cluster and for
# the one Debian's package may have started by itself on the same port.
psql_() { as_postgres psql -p "$PORT" -v ON_ERROR_STOP=1 -qtA "$@"; }
if [ "$(psql_ -c "SELECT 1 FROM pg_roles WHERE rolname='$USER_'")" != 1 ]; then
    psql_ -c "CREATE ROLE $USER_ LOGIN PASSWORD '$USER_'"
fi
if [ "$(psql_ -c "SELECT 1 FROM pg_database WHERE datname='$DB'")" != 1 ]; then
    psql_ -c "CREATE DATABASE $DB OWNER $USER_"
fi
# A second role whose password is a planted secret: the baked project's test_secrets.py runs a sweep
# on it (the URL read from the environment) and greps every file the sweep wrote for that password.
if [ "$(psql_ -c "SELECT 1 FROM pg_roles WHERE rolname='recipe_secret'")" != 1 ]; then
    psql_ -c "CREATE ROLE recipe_secret LOGIN PASSWORD 'planted-secret-4b1d9'"
fi
if [ "$(psql_ -c "SELECT 1 FROM pg_database WHERE datname='recipe_secrets'")" != 1 ]; then
    psql_ -c "CREATE DATABASE recipe_secrets OWNER recipe_secret"
fi
echo "== PostgreSQL ready: SWEEP_TEST_POSTGRES=$URL"
