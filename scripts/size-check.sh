#!/usr/bin/env bash
# Binary size check: builds the static release binary, strips a copy and fails when it is
# over the limit (default 25 MB, SIZE_LIMIT_MB). tetra imports only FoundationEssentials:
# any `import Foundation` in Sources/ links all of swift-corelibs-foundation and ICU's data
# (40+ MB), so that is refused first, before the (slow) release build.
# Usage: scripts/size-check.sh   (set TETRA_BIN to check an already built binary)
set -euo pipefail
cd "$(dirname "$0")/.."
limit_mb="${SIZE_LIMIT_MB:-25}"

if grep -rnE '^\s*(@preconcurrency )?import (Foundation|FoundationNetworking|FoundationXML|FoundationInternationalization)\s*$' Sources --exclude-dir=TetraTestSupport; then
    echo "size-check: FAIL: the lines above import Foundation; import FoundationEssentials (and Glibc, Dispatch) instead (docs/building.md)" >&2
    exit 1
fi

start=$(date +%s)
if [[ -z "${TETRA_BIN:-}" ]]; then
    # Its own build folder: SwiftPM locks the one it uses, and scripts/test.sh runs this
    # while the tests run from .build.
    scratch=(--scratch-path .build-size)
    nice swift build "${scratch[@]}" -c release -Xswiftc -static-executable --product tetra >/dev/null
    TETRA_BIN="$(swift build "${scratch[@]}" -c release -Xswiftc -static-executable --show-bin-path)/tetra"
fi
built=$(date +%s)
stripped=$(mktemp)
trap 'rm -f "$stripped"' EXIT
cp "$TETRA_BIN" "$stripped"
strip "$stripped"
size=$(stat -c %s "$stripped")
unstripped=$(stat -c %s "$TETRA_BIN")
limit=$((limit_mb * 1000 * 1000))
echo "size-check: $TETRA_BIN: $((unstripped / 1000000)) MB, stripped $((size / 1000000)) MB ($size bytes; limit ${limit_mb} MB); build took $((built - start)) s"
if ((size > limit)); then
    echo "size-check: FAIL: the stripped binary is over ${limit_mb} MB (does something link Foundation or ICU? nm the binary for 'icu' or 'NSString')" >&2
    exit 1
fi
echo "size-check: ok"
