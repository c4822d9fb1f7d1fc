#!/usr/bin/env bash
# Library update benchmark: a library of 1,000 templates (a bare upstream over file://),
# one changed file per upstream commit. Times, whole process, `tetra library update`
# (fetch, show incoming commits and changed files, fast-forward, record history, audit)
# against `git pull --ff-only` doing the same in a plain clone of the same upstream.
#
# Usage: TETRA_BIN=.build/release/tetra bench/library-bench.sh [RUNS]
#   TETRA_BIN  the tetra binary (default: .build/release/tetra, else `tetra` on PATH)
#   RUNS       updates to time (default 20)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
runs="${1:-${RUNS:-20}}"
templates=1000

bin="${TETRA_BIN:-}"
if [[ -z "$bin" ]]; then
    if [[ -x "$here/../.build/release/tetra" ]]; then bin="$here/../.build/release/tetra"
    elif command -v tetra >/dev/null; then bin="$(command -v tetra)"
    else echo "library-bench: no tetra binary (set TETRA_BIN or run: swift build -c release)" >&2; exit 1
    fi
fi
[[ -x "$bin" ]] || { echo "library-bench: TETRA_BIN=$bin is not executable" >&2; exit 1; }
command -v git >/dev/null || { echo "library-bench: git is not installed" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export TETRA_DIR="$work/state"          # never touch the user's state root
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1   # no user config (hooks, pull.rebase, ...)

# The upstream: 1,000 templates in 20 kinds, each a 40-line TOML template.
git init -q --bare -b main "$work/up.git"
git init -q -b main "$work/src"
git -C "$work/src" remote add origin "$work/up.git"
awk -v n="$templates" -v dir="$work/src/templates" 'BEGIN {
    for (i = 0; i < n; i++) {
        kind = sprintf("kind%02d", i % 20)
        if (!(kind in made)) { system("mkdir -p " dir "/" kind); made[kind] = 1 }
        f = sprintf("%s/%s/t%04d.toml", dir, kind, i)
        printf "{{!-- template\ndescription = \"template %d\"\n[defaults]\nname = \"svc%d\"\n--}}\n", i, i > f
        for (l = 0; l < 34; l++) printf "key_%d = \"{{ name }} line %d of template %d\"\n", l, l, i > f
        close(f)
    }
}'
git -C "$work/src" add -A
git -C "$work/src" commit -q -m "1000 templates"
git -C "$work/src" push -q origin main

"$bin" library init "file://$work/up.git" >/dev/null 2>&1
git clone -q "file://$work/up.git" "$work/plain"
count=$(find "$TETRA_DIR/library/templates" -type f | wc -l)

now_ns() { date +%s%N; }
cpu_ms() { # command... -> CPU milliseconds (user + sys, children such as git included)
    local TIMEFORMAT='%3U %3S'
    { time ("$@" >/dev/null 2>&1); } 2>&1 | awk '{ print ($1 + $2) * 1000 }'
}
tetra_ns=()
git_ns=()
tetra_cpu=0
git_cpu=0
for ((i = 0; i < runs; i++)); do
    # One changed file upstream.
    f="$work/src/templates/kind$(printf %02d $((i % 20)))/t$(printf %04d $(( (i * 37) % templates / 20 * 20 + i % 20 ))).toml"
    echo "changed_$i = \"run $i\"" >>"$f"
    git -C "$work/src" commit -q -am "change $i"
    git -C "$work/src" push -q origin main

    if ((i % 2)); then  # alternate: odd runs measure CPU time, even runs wall time
        tetra_cpu=$(awk -v a="$tetra_cpu" -v b="$(cpu_ms "$bin" library update)" 'BEGIN { print a + b }')
        git_cpu=$(awk -v a="$git_cpu" -v b="$(cpu_ms git -C "$work/plain" pull -q --ff-only)" 'BEGIN { print a + b }')
        continue
    fi
    start=$(now_ns); "$bin" library update >/dev/null 2>&1; end=$(now_ns)
    tetra_ns+=($((end - start)))
    start=$(now_ns); git -C "$work/plain" pull -q --ff-only >/dev/null 2>&1; end=$(now_ns)
    git_ns+=($((end - start)))
done
cpu_runs=$((runs / 2))

# Both clones are at the same commit, and tetra recorded every update.
[[ "$(git -C "$TETRA_DIR/library" rev-parse HEAD)" == "$(git -C "$work/plain" rev-parse HEAD)" ]] \
    || { echo "library-bench: the clones differ" >&2; exit 1; }
recorded=$(grep -c '"action":"update"' "$TETRA_DIR/state/library-history.jsonl")

stats() { # nanoseconds... -> "median mean min max" in ms
    printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1; s += $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.1f %.1f %.1f %.1f", m / 1e6, s / NR / 1e6, v[1] / 1e6, v[NR] / 1e6 }'
}
read -r tm ta tmin tmax <<<"$(stats "${tetra_ns[@]}")"
read -r gm ga gmin gmax <<<"$(stats "${git_ns[@]}")"
echo "library: $count templates; $runs updates of one changed file each (file:// upstream); $recorded recorded in history"
echo "wall time over ${#tetra_ns[@]} runs:"
printf '%-32s %8s %8s %8s %8s\n' "" "median" "mean" "min" "max"
printf '%-32s %6.1fms %6.1fms %6.1fms %6.1fms\n' "tetra library update" "$tm" "$ta" "$tmin" "$tmax"
printf '%-32s %6.1fms %6.1fms %6.1fms %6.1fms\n' "git pull --ff-only" "$gm" "$ga" "$gmin" "$gmax"
awk -v t="$tm" -v g="$gm" 'BEGIN { printf "tetra / git (median wall time): %.2fx, +%.1f ms\n", t / g, t - g }'
if ((cpu_runs > 0)); then
    awk -v t="$tetra_cpu" -v g="$git_cpu" -v n="$cpu_runs" 'BEGIN {
        printf "CPU per update (user + sys, git children included, %d runs): tetra %.1f ms, git pull %.1f ms (%.2fx)\n", n, t / n, g / n, t / g }'
fi
