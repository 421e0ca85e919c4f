#!/usr/bin/env bash
# Runs the benchmark against the Rust build of the server (secantusd-rs), which keeps the
# server's share of each round trip small so the client-side costs show. Installs it first if
# needed (scripts/install-rust-server.sh), starts it on a free loopback port with temporary
# storage, and stops it and deletes the storage afterwards. Extra arguments go to cargo bench.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
sh "$root/scripts/install-rust-server.sh"

storage=$(mktemp -d "${TMPDIR:-/tmp}/mongotic-bench-server.XXXXXX")
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$root/.mongotic/rust-server/bin/secantusd-rs" --host 127.0.0.1 --port "$port" --storage-path "$storage/data" \
    --log-level WARNING > "$storage/server.log" 2>&1 &
server=$!
cleanup() {
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    rm -rf "$storage"
}
trap cleanup EXIT

for _ in $(seq 1 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        break
    fi
    if ! kill -0 "$server" 2>/dev/null; then
        cat "$storage/server.log" >&2
        exit 1
    fi
    sleep 0.1
done

cd "$root"
MONGODB_URI="mongodb://127.0.0.1:$port/?directConnection=true" cargo bench -p mongotic --bench orm_vs_driver "$@"
