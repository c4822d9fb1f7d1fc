#!/usr/bin/env bash
# TOML engine benchmark: whole-process `tetra config decode FILE` against Python's tomllib
# on a generated ~1.6 MB file (bench/toml/gen.py: 20,000 [ports] entries with comments and
# 5,000 [services.sN] tables with strings, inline tables, arrays, booleans and floats).
#
#   bench/toml-bench.sh [RUNS]          (default 20)
#
#   TETRA_BIN   tetra binary (default .build/release/tetra; build with `swift build -c release`)
#   TETRA_ARGS  arguments before the file (default "config decode")
#   PYTHON      python 3.11+ (default python3)
#   NO_HYPERFINE=1  time with a loop of RUNS runs (median) even if hyperfine is installed
#
# Prints the medians, "speed ratio (python/tetra): Nx" and "peak memory / file size: Nx"
# (also net of the binary's baseline, measured with `tetra --version`).
# Targets: speed ratio >= 15x, peak memory < 10x the file size.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TETRA_BIN="${TETRA_BIN:-$ROOT/.build/release/tetra}"
TETRA_ARGS="${TETRA_ARGS:-config decode}"
PYTHON="${PYTHON:-python3}"
RUNS="${1:-20}"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
FILE="$WORK/bench.toml"
"$PYTHON" "$ROOT/bench/toml/gen.py" "$FILE"
SIZE=$(wc -c < "$FILE" | tr -d ' ')

cat > "$WORK/load.py" <<'PY'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    tomllib.load(f)
PY

if [ ! -x "$TETRA_BIN" ]; then
    echo "error: $TETRA_BIN not found; build it with: swift build -c release (or set TETRA_BIN)" >&2
    exit 1
fi
# shellcheck disable=SC2086
if ! "$TETRA_BIN" $TETRA_ARGS "$FILE" > "$WORK/out.json" 2> "$WORK/err.txt"; then
    echo "error: '$TETRA_BIN $TETRA_ARGS FILE' failed:" >&2
    head -5 "$WORK/err.txt" >&2
    exit 1
fi
"$PYTHON" "$WORK/load.py" "$FILE"

TETRA_CMD="$TETRA_BIN $TETRA_ARGS $FILE"
PY_CMD="$PYTHON $WORK/load.py $FILE"

# Median wall time in milliseconds of a command, without hyperfine.
median_ms() {
    "$PYTHON" - "$RUNS" "$@" <<'PY'
import subprocess, sys, time, statistics
runs = int(sys.argv[1]); cmd = sys.argv[2:]
subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)  # warm-up
times = []
for _ in range(runs):
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
    times.append((time.perf_counter() - t) * 1000)
print(f"{statistics.median(times):.2f} {min(times):.2f}")
PY
}

if [ -z "${NO_HYPERFINE:-}" ] && command -v hyperfine > /dev/null 2>&1; then
    hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$WORK/h.json" \
        --command-name tetra "$TETRA_CMD" --command-name tomllib "$PY_CMD" > "$WORK/hyperfine.txt"
    read -r TETRA_MS PY_MS TETRA_MIN PY_MIN < <("$PYTHON" -c '
import json, sys
r = json.load(open(sys.argv[1]))["results"]
print("%.2f %.2f %.2f %.2f" % (r[0]["median"] * 1000, r[1]["median"] * 1000, r[0]["min"] * 1000, r[1]["min"] * 1000))' "$WORK/h.json")
    TOOL="hyperfine, $RUNS runs"
else
    # shellcheck disable=SC2086
    read -r TETRA_MS TETRA_MIN < <(median_ms $TETRA_CMD)
    # shellcheck disable=SC2086
    read -r PY_MS PY_MIN < <(median_ms $PY_CMD)
    TOOL="median of $RUNS runs"
fi

# Peak RSS in KB of a command (/usr/bin/time if present, else getrusage of the child).
peak_kb() {
    if [ -x /usr/bin/time ] && /usr/bin/time -f %M true > /dev/null 2>&1; then
        /usr/bin/time -f %M "$@" 2>&1 > /dev/null | tail -1
    else
        "$PYTHON" -c '
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$@"
    fi
}

# shellcheck disable=SC2086
TETRA_KB=$(peak_kb $TETRA_CMD)
BASE_KB=$(peak_kb "$TETRA_BIN" --version || echo 0)
PY_KB=$(peak_kb $PY_CMD)

"$PYTHON" - "$SIZE" "$TETRA_MS" "$PY_MS" "$TETRA_KB" "$BASE_KB" "$PY_KB" "$TOOL" "$TETRA_MIN" "$PY_MIN" <<'PY'
import sys
size, t_ms, p_ms, t_kb, base_kb, p_kb, tool, t_min, p_min = sys.argv[1:]
size = int(size); t_ms = float(t_ms); p_ms = float(p_ms); t_min = float(t_min); p_min = float(p_min)
t_kb = int(t_kb); base_kb = int(base_kb or 0); p_kb = int(p_kb)
ratio = p_ms / t_ms
mem = t_kb * 1024 / size
net = max(0, t_kb - base_kb) * 1024 / size
print(f"file: {size} bytes")
print(f"tetra config decode: {t_ms:.1f} ms   python tomllib: {p_ms:.1f} ms   ({tool})")
print(f"speed ratio (python/tetra): {ratio:.1f}x   (target >= 15x; best-of-runs ratio: {p_min / t_min:.1f}x)")
print(f"peak RSS: tetra {t_kb} KB (baseline 'tetra --version': {base_kb} KB), python {p_kb} KB")
print(f"peak memory / file size: {mem:.1f}x   (net of baseline: {net:.1f}x; target < 10x)")
PY
