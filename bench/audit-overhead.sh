#!/usr/bin/env bash
# Decision throughput with the file audit on vs off, measured side by side (alternating runs),
# on demand; never a test. Forward-auth decisions with one cached RS256 token (allowed).
# The sidecar gets one core, wrk the other, so the audit writer competes with the requests.
# Usage: bench/audit-overhead.sh [BINARY] [ROUNDS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-.build/release/mcp-authz}")
rounds=${2:-5}
seconds=${3:-8}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)"; exit 1; }
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

python3 - "$work" <<'PY'
import pathlib, sys
sys.path.insert(0, "scripts")
from checklib import mint, one_server_policy
folder = pathlib.Path(sys.argv[1])
token = mint(folder, "https://todos.test.example/mcp", {"reader": {"sub": "user-reader", "scope": "read:todos", "exp_in": 86400}})["reader"]
(folder / "policy.yaml").write_text(one_server_policy(folder, "{ path_prefix: /mcp }", "https://todos.test.example/mcp",
    "      - name: todo tools\n        when: { scopes: [read:todos] }\n        allow: { tools: [get_todo] }\n"))
(folder / "auth.lua").write_text(f'''wrk.method = "GET"
wrk.path = "/auth"
wrk.headers["X-Original-Method"] = "POST"
wrk.headers["X-Original-URI"] = "/mcp"
wrk.headers["Authorization"] = "Bearer {token}"
wrk.headers["MCP-Protocol-Version"] = "2026-07-28"
wrk.headers["Mcp-Method"] = "tools/call"
wrk.headers["Mcp-Name"] = "get_todo"
''')
PY

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
run() {  # $1: audit destination; prints requests/s
    rm -f "$work/audit.jsonl"
    taskset -c 0 "$bin" serve --policies "$work/policy.yaml" --listen "127.0.0.1:$port" --audit "$1" \
        --watch-interval 0 --log-level error >/dev/null 2>&1 &
    local pid=$!
    for _ in $(seq 100); do curl -s "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.05; done
    taskset -c 1 wrk -t1 -c32 -d2s -s "$work/auth.lua" "http://127.0.0.1:$port" >/dev/null   # warm-up
    taskset -c 1 wrk -t1 -c32 -d"${seconds}s" -s "$work/auth.lua" "http://127.0.0.1:$port" | awk '/Requests\/sec/ {print $2}'
    kill -TERM $pid; wait $pid 2>/dev/null || true
}

on=(); off=()
for round in $(seq "$rounds"); do
    off+=("$(run none)")
    on+=("$(run "$work/audit.jsonl")")
    echo "round $round: audit off ${off[-1]}/s, audit on ${on[-1]}/s"
done
python3 - "${off[*]}" "${on[*]}" <<'PY'
import statistics, sys
off = [float(x) for x in sys.argv[1].split()]
on = [float(x) for x in sys.argv[2].split()]
ratios = [b / a for a, b in zip(off, on)]
print(f"median audit off {statistics.median(off):.0f}/s, on {statistics.median(on):.0f}/s; "
      f"ratio on/off per round {', '.join(f'{r:.2f}' for r in ratios)}; median ratio {statistics.median(ratios):.2f}")
PY
