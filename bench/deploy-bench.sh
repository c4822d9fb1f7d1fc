#!/usr/bin/env bash
# Deploy benchmark (issue 6, releases at a target): an org-like tree of 10,000 small files
# deployed to a local target and over a loopback sshd (rsync transfer and the tar fallback):
# first deploy and a deploy with one changed file, wall time and bytes sent, against a plain
# `rsync -a` of the same tree as the baseline. Targets: a one-file change sends a few KB plus
# the manifest, and takes at most 2x the rsync baseline.
#
# There is no CLI for deploys yet, so the benchmark is an XCTest (DeployBench) that runs the
# core library in a release build; it only runs with TETRA_BENCH=1.
#   bench/deploy-bench.sh            # 10,000 files
#   TETRA_BENCH_FILES=2000 bench/deploy-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(mktemp)"
log="$(mktemp)"
trap 'rm -f "$out" "$log"' EXIT
scratch="${TETRA_BENCH_SCRATCH:-.build-bench}"
# -enable-testing: the other test targets use @testable imports.
if ! swift build -c release --build-tests -Xswiftc -enable-testing --scratch-path "$scratch" >"$log" 2>&1; then
    grep -E "error" "$log" | head -20 >&2
    echo "deploy-bench: the release build failed" >&2
    exit 1
fi
TETRA_BENCH=1 TETRA_BENCH_OUT="$out" swift test -c release -Xswiftc -enable-testing --scratch-path "$scratch" \
    --skip-build --filter DeployBench >/dev/null 2>&1 || {
    echo "deploy-bench: the benchmark test failed; rerun with:" >&2
    echo "  TETRA_BENCH=1 swift test -c release -Xswiftc -enable-testing --scratch-path $scratch --filter DeployBench" >&2
    exit 1
}
cat "$out"
