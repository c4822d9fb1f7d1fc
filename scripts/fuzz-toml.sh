#!/usr/bin/env bash
# Fuzzes the TOML engine with libFuzzer (+ AddressSanitizer).
#
#   scripts/fuzz-toml.sh [SECONDS]     (default 600)
#
# Builds Sources/TetraCore/TOML/*.swift + Sources/TetraCore/Errors.swift together with
# scripts/fuzz/TOMLFuzz.swift into $FUZZ_SCRATCH (default .build-fuzz-toml), seeds the
# corpus with toml-test's valid files ($TOML_TEST_DIR or ../shared/toml-test) and runs.
# Crashers land in $FUZZ_SCRATCH/artifacts/.
set -euo pipefail

SECONDS_TO_RUN="${1:-600}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SCRATCH="${FUZZ_SCRATCH:-$ROOT/.build-fuzz-toml}"
CORPUS_ROOT="${TOML_TEST_DIR:-$ROOT/../shared/toml-test}"
SWIFTC="${SWIFTC:-swiftc}"

mkdir -p "$SCRATCH/corpus" "$SCRATCH/seeds" "$SCRATCH/artifacts"

echo "building fuzzer in $SCRATCH ..."
"$SWIFTC" -sanitize=fuzzer,address -parse-as-library -O \
    "$ROOT"/Sources/TetraCore/TOML/*.swift \
    "$ROOT"/Sources/TetraCore/Errors.swift \
    "$ROOT"/scripts/fuzz/TOMLFuzz.swift \
    -o "$SCRATCH/toml-fuzz"

if [ -d "$CORPUS_ROOT/valid" ]; then
    # Seeds: every valid toml-test file (names made unique from their paths).
    (cd "$CORPUS_ROOT" && find valid -name '*.toml' | while read -r f; do
        cp "$f" "$SCRATCH/seeds/$(echo "$f" | tr '/' '_')"
    done)
else
    echo "warning: toml-test corpus not found at $CORPUS_ROOT; fuzzing without seeds" >&2
fi

echo "fuzzing for ${SECONDS_TO_RUN}s ..."
SWIFT_BACKTRACE=enable=no exec "$SCRATCH/toml-fuzz" "$SCRATCH/corpus" "$SCRATCH/seeds" \
    -dict="$ROOT/scripts/fuzz/toml.dict" \
    -max_len=4096 -rss_limit_mb=2048 -timeout=5 \
    -max_total_time="$SECONDS_TO_RUN" \
    -artifact_prefix="$SCRATCH/artifacts/" \
    -print_final_stats=1
