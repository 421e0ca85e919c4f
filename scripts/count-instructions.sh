#!/usr/bin/env bash
# Counts the client's instructions per workload, mongotic against the raw driver, with
# callgrind: unlike CPU time, the counts repeat exactly whatever else the machine does. Runs the
# benchmark's profile mode (MONGOTIC_BENCH_PROFILE=1) under valgrind once per workload and
# prints, per run, the instructions of each side (the inclusive count of the bench's
# `orm_side` and `raw_side`, which wrap one side's work each) and their ratio.
#
#   scripts/count-instructions.sh                      # every workload, 3 runs per side
#   scripts/count-instructions.sh "add_all" "untracked" # only workloads whose name contains these
#
# MONGODB_URI selects the server as for the benchmark (the server's own work is not counted:
# it is another process). MONGOTIC_BENCH_RUNS sets the runs per side (default 3). Needs
# valgrind; the callgrind files are left in ${TMPDIR:-/tmp}/mongotic-callgrind for
# `callgrind_annotate`.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
runs=${MONGOTIC_BENCH_RUNS:-3}
out=${TMPDIR:-/tmp}/mongotic-callgrind
mkdir -p "$out"

if [ "$#" -eq 0 ]; then
    set -- "add_all" "tracked entities" "untracked" "change 1 field" "get by id" "project 2" "upsert 10,000" "tenant-scoped"
fi

cd "$root"
bench=$(cargo bench -p mongotic --bench orm_vs_driver --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json, sys
for line in sys.stdin:
    message = json.loads(line)
    if message.get("reason") == "compiler-artifact" and message["target"]["name"] == "orm_vs_driver" and message.get("executable"):
        print(message["executable"])')

printf '| workload | mongotic instructions per run | driver instructions per run | ratio |\n|---|---:|---:|---:|\n'
for filter in "$@"; do
    file="$out/$(echo "$filter" | tr -c 'a-zA-Z0-9\n' '_').out"
    name=$(MONGOTIC_BENCH_PROFILE=1 MONGOTIC_BENCH_RUNS="$runs" MONGOTIC_BENCH_ONLY="$filter" \
        valgrind --tool=callgrind --callgrind-out-file="$file" "$bench" --bench 2>/dev/null |
        sed -n 's/^profiled: \(.*\) (.*$/\1/p' | head -n 1)
    callgrind_annotate --inclusive=yes "$file" 2>/dev/null | python3 -c '
import re, sys
runs, name = int(sys.argv[1]), sys.argv[2]
counts = {}
for line in sys.stdin:
    match = re.match(r"\s*([\d,]+) \([^)]*\)\s+\S*orm_vs_driver::(orm_side|raw_side) ", line)
    if match and match.group(2) not in counts:
        counts[match.group(2)] = int(match.group(1).replace(",", "")) // runs
orm, raw = counts.get("orm_side", 0), counts.get("raw_side", 0)
print(f"| {name} | {orm:,} | {raw:,} | {orm / max(raw, 1):.2f}x |")
' "$runs" "${name:-$filter}"
done
