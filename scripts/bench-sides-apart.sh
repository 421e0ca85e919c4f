#!/usr/bin/env bash
# Runs the benchmark once per side, each side in a process of its own
# (MONGOTIC_BENCH_SIDE=orm, then raw), and prints each side's breakdown: user and system CPU,
# minor page faults, allocations, bytes allocated and the process's peak resident memory.
# Apart, neither side pays for the allocator and page state the other leaves behind, and the
# peak resident memory is the side's own.
#
#   scripts/bench-sides-apart.sh                          # every workload, 11 runs per side
#   MONGOTIC_BENCH_RUNS=21 MONGOTIC_BENCH_ONLY="read 10,000 (" scripts/bench-sides-apart.sh
#
# MONGODB_URI, MONGOTIC_BENCH_RUNS and MONGOTIC_BENCH_ONLY work as for the benchmark.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo bench -p mongotic --bench orm_vs_driver --no-run 2>/dev/null
for side in orm raw; do
    echo "## $side side, in a process of its own"
    MONGOTIC_BENCH_SIDE="$side" cargo bench -p mongotic --bench orm_vs_driver 2>/dev/null |
        sed -n '/^| workload | side |/,/^peak resident memory/p'
done
