#!/usr/bin/env bash
# Start-up benchmark (issue: foundation): median wall time of `tetra --version` and of
# `tetra __complete ports ""` against `git --version` on the same machine, as ratios.
# Target: at most 3x git. Uses a release build. Needs hyperfine (apt-get install hyperfine)
# or falls back to a python timing loop.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release -Xswiftc -static-executable --product tetra >/dev/null 2>&1
TETRA="${TETRA_BIN:-$(swift build -c release -Xswiftc -static-executable --show-bin-path)/tetra}"
export TETRA_DIR="$(mktemp -d)"
trap 'rm -rf "$TETRA_DIR"' EXIT
"$TETRA" init >/dev/null

python3 - "$TETRA" <<'PY'
import json, os, shutil, statistics, subprocess, sys, tempfile, time
tetra = sys.argv[1]
cases = {
    "git --version": ["git", "--version"],
    "tetra --version": [tetra, "--version"],
    'tetra __complete ports ""': [tetra, "__complete", "ports", ""],
}
def median_ms(argv, runs=300, warmup=20):
    if shutil.which("hyperfine"):
        out = tempfile.mktemp(suffix=".json")
        subprocess.run(["hyperfine", "-N", "--warmup", str(warmup), "--runs", str(runs), "--export-json", out,
                        "--style", "none", " ".join(a if a else '""' for a in argv)],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        data = json.load(open(out)); os.unlink(out)
        return data["results"][0]["median"] * 1000
    times = []
    for i in range(runs + warmup):
        t = time.perf_counter(); subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if i >= warmup: times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000
res = {name: median_ms(argv) for name, argv in cases.items()}
base = res["git --version"]
print(f"{'command':32} {'median':>10} {'ratio vs git':>13}")
for name, ms in res.items():
    print(f"{name:32} {ms:8.2f}ms {ms / base:12.2f}x")
print("target: at most 3.00x git --version")
PY
