#!/usr/bin/env bash
# The checkers tests/graph.rs reads depwait graph's drawings back with: Graphviz's `dot`
# (Debian's graphviz) and Mermaid's own parser (mermaid + jsdom from the npm registry, pinned,
# into DEPWAIT_GRAPH_TOOLS, default ~/.cache/depwait/graph-tools). Each is installed only if
# missing, so a warm machine returns at once.
set -euo pipefail
tools=${DEPWAIT_GRAPH_TOOLS:-$HOME/.cache/depwait/graph-tools}
mermaid=11.17.2
jsdom=26

if ! command -v dot >/dev/null; then
    if [ "$(id -u)" != 0 ]; then
        echo "graph-tools: Graphviz's dot is missing: apt-get install graphviz (as root)" >&2
        exit 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends graphviz >/dev/null ||
        { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends graphviz >/dev/null; }
fi

if ! command -v node >/dev/null; then
    echo "graph-tools: Node.js is missing (node and npm run Mermaid's parser)" >&2
    exit 1
fi
if [ ! -f "$tools/node_modules/mermaid/package.json" ] ||
    ! grep -q "\"version\": \"$mermaid\"" "$tools/node_modules/mermaid/package.json"; then
    mkdir -p "$tools"
    # A lock, in case two test binaries ask at once.
    exec 9>"$tools/.lock"
    flock 9
    if [ ! -f "$tools/node_modules/mermaid/package.json" ]; then
        (cd "$tools" && npm install --no-audit --no-fund --silent "mermaid@$mermaid" "jsdom@$jsdom" >/dev/null)
    fi
fi
