#!/usr/bin/env bash
# MCP server benchmark (issue 19): against one running `tetra mcp`, the round trip of
# `tools/list` (budget 20 ms) and of a read tool call (`ports_list`, `org_status`) against
# the same command run by the CLI as a whole process with --json (budget 1.5x), medians,
# printed as ratios in one run. The client is a minimal line-oriented JSON-RPC driver
# (python3 stdlib), so the figures are the server's, not an SDK's; the official SDK client
# (scripts/mcp-client.py, .build/mcp-venv) is timed too when it is installed.
#   bench/mcp-bench.sh                   # 200 round trips each, 100 CLI runs, 200 ports
#   RUNS=50 PORTS=2000 bench/mcp-bench.sh
# Uses a static release build in .build-bench (TETRA_BIN=PATH: that binary, no build).
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=".build-bench"
if [ -z "${TETRA_BIN:-}" ]; then
    swift build -c release -Xswiftc -static-executable --scratch-path "$scratch" --product tetra >/dev/null 2>&1 || {
        echo "mcp-bench: the release build failed (swift build -c release -Xswiftc -static-executable --scratch-path $scratch)" >&2
        exit 1
    }
fi
TETRA="${TETRA_BIN:-$(swift build -c release -Xswiftc -static-executable --scratch-path "$scratch" --show-bin-path)/tetra}"
export TETRA_DIR="$(mktemp -d /tmp/tetra-mcp-bench.XXXXXX)"
trap 'rm -rf "$TETRA_DIR"' EXIT
"$TETRA" init >/dev/null
# A registry of PORTS entries, and an org with a pushed dev environment.
python3 - "${PORTS:-200}" "$TETRA_DIR/config/ports.toml" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
text = open(path).read()
entries = "".join(f"svc-{i} = {20000 + i}\n" for i in range(n))
open(path, "w").write(text.replace("[ports]\n", "[ports]\n" + entries, 1))
PY
"$TETRA" org create acme >/dev/null
"$TETRA" org set environments.dev.target "\"$TETRA_DIR/targets/dev\"" --org acme >/dev/null
"$TETRA" ports allocate web --range development >/dev/null
"$TETRA" org push acme dev >/dev/null 2>&1

python3 - "$TETRA" "${RUNS:-200}" <<'PY'
import json, os, statistics, subprocess, sys, time
tetra, runs = sys.argv[1], int(sys.argv[2])

server = subprocess.Popen([tetra, "mcp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL)
next_id = 0
def rpc(method, params=None):
    global next_id
    next_id += 1
    msg = {"jsonrpc": "2.0", "id": next_id, "method": method}
    if params is not None:
        msg["params"] = params
    server.stdin.write((json.dumps(msg) + "\n").encode())
    server.stdin.flush()
    line = server.stdout.readline()
    reply = json.loads(line)
    assert reply.get("id") == next_id and "result" in reply, reply
    return reply["result"], len(line)

rpc("initialize", {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}})
server.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
server.stdin.flush()

def median_ms(fn, n):
    for _ in range(min(10, n)):
        fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000

listed, size = rpc("tools/list")
list_ms = median_ms(lambda: rpc("tools/list"), runs)
print(f"tools/list: {len(listed['tools'])} tools, {size // 1024} KiB: median {list_ms:.2f} ms (budget 20 ms: {list_ms / 20:.2f}x of it)")

cases = [("ports_list", {}, ["ports", "list", "--json"]),
         ("org_status", {"org": "acme", "env": "dev"}, ["org", "status", "acme", "dev", "--json"])]
worst = 0
for tool, args, argv in cases:
    result, _ = rpc("tools/call", {"name": tool, "arguments": args})
    assert not result["isError"], result
    call_ms = median_ms(lambda: rpc("tools/call", {"name": tool, "arguments": args}), runs)
    cli_ms = median_ms(lambda: subprocess.run([tetra] + argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True),
                       max(20, runs // 2))
    ratio = call_ms / cli_ms
    worst = max(worst, ratio)
    print(f"{tool}: tool call {call_ms:.2f} ms, CLI `tetra {' '.join(argv)}` {cli_ms:.2f} ms: ratio {ratio:.2f}x (budget 1.5x)")
server.stdin.close()
server.wait(timeout=10)
print(f"verdict: tools/list {'within' if list_ms < 20 else 'OVER'} 20 ms; read calls {'within' if worst <= 1.5 else 'OVER'} 1.5x the CLI")
PY

venv=.build/mcp-venv/bin/python
if [ -x "$venv" ] && "$venv" -c 'import mcp.client.stdio' 2>/dev/null; then
    echo '{"steps":[{"time_list":50},{"time_call":"ports_list","n":50}]}' \
        | "$venv" scripts/mcp-client.py "$TETRA" 2>/dev/null \
        | python3 -c '
import json, statistics, sys
d = json.load(sys.stdin)
lst, call = (statistics.median(s["seconds"]) * 1000 for s in d["steps"])
version = d["protocol_version"]
print(f"through the official Python SDK client (ClientSession, protocol {version}): list_tools {lst:.2f} ms, call_tool ports_list {call:.2f} ms (client overhead included)")'
fi
