#!/usr/bin/env sh
# Installs the pinned SecantusDB test server into the project-local virtual environment
# .mongotic/venv (git-ignored). The test support code runs this on first use, so a fresh clone
# needs nothing but cargo and python3; running it by hand is harmless.
set -eu

SECANTUS_VERSION="0.7.0b3"
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.mongotic/venv"
python=${MONGOTIC_PYTHON:-python3}

installed() {
    [ -x "$venv/bin/secantusd-py" ] && "$venv/bin/python" -c \
        "import importlib.metadata as m, sys; sys.exit(m.version('SecantusDB') != '$SECANTUS_VERSION')" 2>/dev/null
}

if installed; then
    exit 0
fi

echo "mongotic: installing SecantusDB $SECANTUS_VERSION into $venv" >&2
mkdir -p "$root/.mongotic"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "SecantusDB==$SECANTUS_VERSION"
"$venv/bin/secantusd-py" --help >/dev/null
echo "mongotic: test server installed" >&2
