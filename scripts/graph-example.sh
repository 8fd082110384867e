#!/usr/bin/env bash
# The README's example picture, drawn by the command itself: `depwait graph` over five of
# tests/graph's scenarios, as DOT, rendered by Graphviz into docs/graph.svg. tests/graph.rs
# checks the picture still shows what the command draws.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/graph-tools.sh
cargo build --quiet
files=()
for scenario in cycle-three statefulset-self-wait selector-typo precheck-args fan-in; do
    files+=(-f "tests/graph/$scenario.yaml")
done
mkdir -p docs
./target/debug/depwait graph "${files[@]}" --output dot | dot -Tsvg > docs/graph.svg || [ "${PIPESTATUS[0]}" = 1 ]
echo "wrote docs/graph.svg"
