#!/usr/bin/env bash
# The project's two entry points on a fresh machine (see README.md):
#   ./dev.sh demo   set up the virtual environment and run `petition demo`
#   ./dev.sh test   set up the virtual environment and run ruff, mypy and the whole test suite
#   ./dev.sh screenshots   run the browser tests and write their screenshots to docs/screenshots/
# Both are idempotent: a second run reuses .venv and only installs what changed.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
VENV=.venv

setup() {
    local extras=$1
    if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "dev.sh: Python 3.11 or newer is required (found: $("$PYTHON" --version 2>&1))" >&2
        exit 1
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
            # Debian and Ubuntu ship venv support separately.
            rm -rf "$VENV"
            if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
                apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
                "$PYTHON" -m venv "$VENV"
            else
                echo "dev.sh: cannot create a virtual environment; install python3-venv" >&2
                exit 1
            fi
        fi
    fi
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet --editable ".$extras"
}

# tests/ui drives Debian's chromium through Playwright (never a downloaded browser); a Chinese
# font makes the Chinese pages, and the screenshots the tests write, readable.
browser() {
    local missing=""
    command -v chromium >/dev/null || missing="chromium"
    fc-list :lang=zh 2>/dev/null | grep -q . || missing="$missing fonts-wqy-microhei"
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        # shellcheck disable=SC2086  # one package name per word
        apt-get update -qq && apt-get install -y -qq $missing >/dev/null
    elif ! command -v chromium >/dev/null; then
        echo "dev.sh: the browser tests need Debian's chromium: apt-get install chromium" >&2
        exit 1
    else
        echo "dev.sh: no Chinese font; screenshots will show boxes (fonts-wqy-microhei)" >&2
    fi
}

# tests/interop checks our signed notes with Go's reference implementation, built offline from
# Debian's packaged sources (golang.org/x/mod in /usr/share/gocode), never from a module proxy.
golang() {
    local missing=""
    command -v go >/dev/null || missing="golang-go"
    [ -d /usr/share/gocode/src/golang.org/x/mod/sumdb/note ] || missing="$missing golang-golang-x-mod-dev"
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        # shellcheck disable=SC2086  # one package name per word
        apt-get update -qq && apt-get install -y -qq $missing >/dev/null
    else
        echo "dev.sh: the interop tests need Go: apt-get install golang-go golang-golang-x-mod-dev" >&2
        exit 1
    fi
}

# The PostgreSQL back end's tests run throwaway clusters on free ports from Debian's server
# binaries (tests/support/pg_cluster.py); dev.sh only installs them, the tests start the servers.
postgres() {
    local bindir
    bindir=$(pg_config --bindir 2>/dev/null) && [ -x "$bindir/initdb" ] && return 0
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
        # The package's post-install creates a system cluster on 5432 and may start it. The
        # tests never use it; stop it rather than leave an idle server running.
        local clusters version name status
        clusters=$(pg_lsclusters --no-header 2>/dev/null || true)
        while read -r version name _ status _; do
            case "$status" in
                online*) pg_ctlcluster "$version" "$name" stop || true ;;
            esac
        done <<<"$clusters"
    else
        echo "dev.sh: the PostgreSQL tests need Debian's server: apt-get install postgresql" >&2
        exit 1
    fi
}

case "${1:-}" in
    demo)
        setup ""
        shift
        exec "$VENV/bin/petition" demo "$@"
        ;;
    test)
        setup "[test]"
        browser
        golang
        postgres
        shift
        echo "== ruff"
        "$VENV/bin/ruff" check .
        "$VENV/bin/ruff" format --check .
        echo "== mypy"
        "$VENV/bin/mypy"
        echo "== pytest"
        # Two processes by default (CI has two cores): most tests wait on real servers, so two
        # interleave well. Tests go to whichever process is free (--dist load: 9.6 min here,
        # against 11 with whole files per process, whose big files made a long tail).
        # PETITION_TEST_WORKERS=1 runs everything in this one process.
        workers=${PETITION_TEST_WORKERS:-2}
        if [ "$workers" = 1 ]; then
            exec "$VENV/bin/pytest" -p no:xdist "$@"
        fi
        exec "$VENV/bin/pytest" --numprocesses "$workers" --dist load "$@"
        ;;
    screenshots)
        # The only command that writes into the checkout: `test` leaves it clean and checks so
        # (tests/support/clean_checkout.py). Then `git diff --stat docs/screenshots` shows them.
        setup "[test]"
        browser
        shift
        exec "$VENV/bin/pytest" -p no:xdist --update-screenshots tests/ui "$@"
        ;;
    *)
        echo "usage: ./dev.sh demo | ./dev.sh test [pytest arguments] | ./dev.sh screenshots" >&2
        exit 2
        ;;
esac
