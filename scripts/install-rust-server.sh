#!/usr/bin/env sh
# Installs the Rust build of the SecantusDB server (secantusd-rs) into .mongotic/rust-server
# (git-ignored), for benchmarking: the Python test server makes server time dominate, this one
# does not. Needs cmake (installed from apt when missing and possible) and takes about six
# minutes the first time; later runs return at once.
set -eu

VERSION="0.5.3-beta.196"
root=$(cd "$(dirname "$0")/.." && pwd)
prefix="$root/.mongotic/rust-server"

if [ -x "$prefix/bin/secantusd-rs" ] && [ "$(cat "$prefix/VERSION" 2>/dev/null)" = "$VERSION" ]; then
    exit 0
fi

if ! command -v cmake >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "mongotic: installing cmake from apt" >&2
        apt-get install -y -q cmake >&2
    else
        echo "mongotic: cmake is required to build secantusd-rs; install it (apt-get install cmake)" >&2
        exit 1
    fi
fi

echo "mongotic: building secantus-mdb $VERSION into $prefix (about six minutes)" >&2
mkdir -p "$prefix"
cargo install secantus-mdb --version "$VERSION" --locked --ignore-rust-version --root "$prefix"
echo "$VERSION" > "$prefix/VERSION"
