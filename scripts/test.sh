#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs what the tests need (as root,
# with apt-get), builds tetra and runs every test. Usage: scripts/test.sh [swift test args...]
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the suites use: real shells for the completion tests, git, ssh, rsync,
# openssl, python3 (demo services, helper processes), util-linux (flock), procps, a Docker
# engine and busybox-static (the image the docker tests run), pebble (a test ACME server),
# curl (ACME requests that trust a private CA), iproute2 (network namespaces: the fleet tests' hosts),
# age (secrets encrypted at rest, with age-keygen), python3-venv (a venv for the official MCP client).
packages=(bash bash-completion zsh fish git openssh-client openssh-server rsync openssl python3 util-linux procps tmux iproute2
          docker.io busybox-static pebble curl age python3-venv)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "test.sh: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "test.sh: WARNING: missing packages ${missing[*]} (not root or no apt-get); tests needing them will skip loudly" >&2
    fi
fi

# Two set-ups run beside the build (they mostly wait: on dockerd, on PyPI), then the tests
# wait for both:
# - a Docker engine for the docker tests (volumes, the docker service runtime): reuse a
#   running one, else start dockerd (no iptables, no bridge: networks none and host). No image
#   can be pulled, so a tiny one is made from busybox-static: tinybox:1.
# - the official MCP client (PyPI mcp) for the MCP end-to-end tests, in a venv of its own.
mcp_venv() {
    if [[ ! -x .build/mcp-venv/bin/python ]] || ! .build/mcp-venv/bin/python -c 'import mcp.client.stdio' 2>/dev/null; then
        mkdir -p .build
        if ! { python3 -m venv .build/mcp-venv && .build/mcp-venv/bin/pip install -q mcp; }; then
            echo "test.sh: WARNING: could not install PyPI mcp into .build/mcp-venv; the MCP client tests will skip loudly (fail under CI)" >&2
        fi
    fi
}
setup_log=$(mktemp)
scripts/docker-up.sh >"$setup_log.docker" 2>&1 &
docker_pid=$!
mcp_venv >"$setup_log.mcp" 2>&1 &
venv_pid=$!

export TOML_TEST_DIR="${TOML_TEST_DIR:-$(cd .. && pwd)/shared/toml-test}"
build_status=0
swift build --build-tests || build_status=$?
wait "$docker_pid" || echo "test.sh: WARNING: docker-up.sh failed; the docker tests will skip loudly (fail under CI)" >&2
wait "$venv_pid" || true
cat "$setup_log.docker" "$setup_log.mcp"
rm -f "$setup_log" "$setup_log.docker" "$setup_log.mcp"
((build_status == 0)) || exit "$build_status"
# The binary stays small (it is copied to every host): no Foundation, stripped static binary
# at most 25 MB. Its release build (about 2.5 min on 2 cores) runs niced beside the tests,
# which mostly wait on processes and the network; skipped when the run is filtered (arguments
# given).
size_log=$(mktemp)
size_pid=
if (($# == 0)); then
    setsid scripts/size-check.sh >"$size_log" 2>&1 &
    size_pid=$!
fi
# The end-to-end tests run the built binary; they find it next to the test bundle. The
# suites are XCTest; the closing line counts every test that ran.
log=$(mktemp)
# An early exit stops the size check's build too (its own process group).
trap 'rm -f "$log"; [[ -n "${size_pid:-}" ]] && kill -- -"$size_pid" 2>/dev/null; true' EXIT
set +e
swift test --skip-build --disable-swift-testing "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
passed=$(grep -cE "^Test Case '.*' passed" "$log" || true)
failed=$(grep -cE "^Test Case '.*' failed" "$log" || true)
skipped=$(grep -cE "^Test Case '.*' skipped" "$log" || true)
echo "tests: ${passed} passed, ${failed} failed, ${skipped} skipped"
size_status=0
if [[ -n "$size_pid" ]]; then
    wait "$size_pid" || size_status=$?
    size_pid=
    cat "$size_log"
fi
rm -f "$size_log"
((status == 0)) || exit "$status"
exit "$size_status"
