#!/usr/bin/env bash
# Template engine benchmark through the CLI: renders a generated template of about 10,000
# lines with a 1,000-iteration {{#each}} loop (bench/template/gen.sh) and prints the time
# per render (whole process: start-up, TOML vars parsing, template parse and render) and
# per MB of output, next to the start-up time of `tetra --version` alone.
#
# Usage: TETRA_BIN=.build/release/tetra bench/template-bench.sh [RUNS]
#   TETRA_BIN  the tetra binary (default: .build/release/tetra, else `tetra` on PATH)
#   RUNS       renders to time (default 20)
# Skips (exit 0, with a message) when the binary has no `template render` command yet.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
runs="${1:-${RUNS:-20}}"

bin="${TETRA_BIN:-}"
if [[ -z "$bin" ]]; then
    if [[ -x "$here/../.build/release/tetra" ]]; then bin="$here/../.build/release/tetra"
    elif command -v tetra >/dev/null; then bin="$(command -v tetra)"
    else echo "template-bench: no tetra binary (set TETRA_BIN or run: swift build -c release)" >&2; exit 1
    fi
fi
[[ -x "$bin" ]] || { echo "template-bench: TETRA_BIN=$bin is not executable" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$here/template/gen.sh" "$work" 1000 >/dev/null
tmpl="$work/bench.conf.tmpl" vars="$work/vars.toml" out="$work/out.conf"
export TETRA_DIR="$work/state"   # never touch the user's state root

set +e
"$bin" template render "$tmpl" --vars "$vars" >"$out" 2>"$work/err"
rc=$?
set -e
if [[ $rc -ne 0 ]]; then
    if [[ $rc -eq 2 ]] || grep -qiE "unknown (command|group|verb)|did you mean" "$work/err"; then
        echo "template-bench: skipped: '$bin template render FILE --vars FILE' is not available yet (exit $rc: $(head -n1 "$work/err"))"
        exit 0
    fi
    echo "template-bench: the render failed (exit $rc):" >&2
    cat "$work/err" >&2
    exit 1
fi

now_ns() { date +%s%N; }
time_runs() { # command... -> total nanoseconds for $runs runs
    local start end i
    start=$(now_ns)
    for ((i = 0; i < runs; i++)); do "$@" >/dev/null 2>&1; done
    end=$(now_ns)
    echo $((end - start))
}

cpu_runs() { # command... -> total CPU milliseconds (user + sys, children included) for $runs runs
    local TIMEFORMAT='%3U %3S' i
    { time (for ((i = 0; i < runs; i++)); do "$@" >/dev/null 2>&1; done); } 2>&1 | awk '{ print ($1 + $2) * 1000 }'
}

lines=$(wc -l <"$tmpl")
tbytes=$(wc -c <"$tmpl")
obytes=$(wc -c <"$out")
olines=$(wc -l <"$out")
render_ns=$(time_runs "$bin" template render "$tmpl" --vars "$vars")
start_ns=$(time_runs "$bin" --version)
render_cpu=$(cpu_runs "$bin" template render "$tmpl" --vars "$vars")
start_cpu=$(cpu_runs "$bin" --version)

awk -v runs="$runs" -v r="$render_ns" -v s="$start_ns" -v lines="$lines" -v tb="$tbytes" \
    -v ob="$obytes" -v ol="$olines" -v rc="$render_cpu" -v sc="$start_cpu" 'BEGIN {
    per = r / runs / 1e6; st = s / runs / 1e6; mb = ob / 1e6
    printf "template: %d lines, %.0f KB; vars: 1000 loop items; output: %d lines, %.2f MB\n", lines, tb / 1e3, ol, mb
    printf "runs: %d\n", runs
    printf "per render:        %8.2f ms  (whole process)\n", per
    printf "start-up only:     %8.2f ms  (tetra --version)\n", st
    printf "render - start-up: %8.2f ms\n", per - st
    if (mb > 0) printf "per MB of output:  %8.2f ms  (%.1f MB/s)\n", per / mb, mb / (per / 1e3)
    else print "per MB of output: n/a (the command printed nothing on stdout)"
    printf "CPU per render:    %8.2f ms  (user + sys; start-up alone %.2f ms; steady on a busy machine)\n", rc / runs, sc / runs
}'
