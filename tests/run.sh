#!/bin/sh
# The whole test suite on a fresh machine: install what the tests need, then run pytest.
# Arguments go to one pytest run (`sh tests/run.sh tests/unit -x`).
#
# Beyond the main job's Python 3.11 and Node.js 20 with npm, the tests need Debian packages:
# Chromium for the browser tests, Podman, runc and debootstrap for the built artifacts' tests,
# fuse3 for the power-cut tests. They are installed here when missing: as root, through sudo
# when there is one, otherwise this stops and prints the one line to run. The functions'
# Lambda runtime, Python 3.13, is not a Debian 12 package: pyenv's is found.
set -eu
cd "$(dirname "$0")/.."

# tool:package, one pair per tool the suite drives.
needs="chromium:chromium podman:podman runc:runc debootstrap:debootstrap fusermount3:fuse3"

missing=""
for pair in $needs; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
done
if [ -n "$missing" ]; then
    line="apt-get install -y$missing"
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "the tests need:$missing (Debian's package names); this machine has no apt-get:" \
             "install them with its package manager, then run this again" >&2
        exit 1
    elif [ "$(id -u)" = 0 ]; then
        sudo=""
    elif command -v sudo >/dev/null 2>&1; then
        sudo="sudo"
    else
        echo "the tests need Debian packages this machine lacks; as root, run:" >&2
        echo "    apt-get update && $line" >&2
        exit 1
    fi
    echo "==> installing what the tests need:$missing"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
fi

for tool in node npm; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "the tests need Node.js 20 and npm (the live viewer is built with them)" >&2
        exit 1
    }
done
if ! command -v python3.13 >/dev/null 2>&1 &&
    ! ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13.* >/dev/null 2>&1; then
    echo "the tests need Python 3.13 (the functions' Lambda runtime): install it, e.g. with" \
         "pyenv install 3.13" >&2
    exit 1
fi

# The same virtualenv as the main job's, with the test tools (the `dev` extra) added.
if [ ! -x .venv/bin/pytest ] || [ pyproject.toml -nt .venv/.installed-dev ]; then
    echo "==> installing into .venv (with the test tools)"
    python3 -m venv .venv
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -e '.[dev]'
    touch .venv/.installed .venv/.installed-dev
fi

if [ $# -gt 0 ]; then
    exec .venv/bin/pytest "$@"
fi
# The whole suite: the unit tests on every core (each is self-contained: moto in process, no
# fixed port), then the stack tests one at a time (they share the machine's ports and time).
# Both parts run; the exit status is the first failure's.
status=0
.venv/bin/pytest -n auto tests/unit || status=$?
.venv/bin/pytest --ignore=tests/unit || status=$?
exit $status
