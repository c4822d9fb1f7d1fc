#!/usr/bin/env bash
# Makes sure a Docker engine answers and the test image tinybox:1 exists. Idempotent: a
# running engine is reused. Used by scripts/test.sh; safe to run by hand.
set -euo pipefail
if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then
    echo "docker-up: WARNING: docker is not installed; docker tests will skip loudly" >&2
    exit 0
fi
if ! docker info >/dev/null 2>&1; then
    if [[ $(id -u) -ne 0 ]]; then
        echo "docker-up: WARNING: no Docker engine answers and we are not root to start one" >&2
        exit 0
    fi
    log=/var/log/tetra-test-dockerd.log
    echo "docker-up: starting dockerd (log: $log)"
    mkdir -p /var/run
    # Its own session: it outlives the shell (and the process group) that started it.
    setsid nohup dockerd --iptables=false --bridge=none >"$log" 2>&1 </dev/null &
    for _ in $(seq 1 150); do
        docker info >/dev/null 2>&1 && break
        sleep 0.2
    done
    if ! docker info >/dev/null 2>&1; then
        echo "docker-up: dockerd did not answer within 30s; its log:" >&2
        tail -20 "$log" >&2
        exit 1
    fi
fi
if ! docker image inspect tinybox:1 >/dev/null 2>&1; then
    busybox=$(command -v busybox || true)
    [[ -x /bin/busybox ]] && busybox=/bin/busybox
    if [[ -z "$busybox" ]]; then
        echo "docker-up: WARNING: busybox-static is missing; no test image" >&2
        exit 0
    fi
    root=$(mktemp -d)
    trap 'rm -rf "$root"' EXIT
    mkdir -p "$root/bin" "$root/tmp" "$root/data"
    cp "$busybox" "$root/bin/busybox"
    for applet in sh ash sleep cat tar gzip gunzip ls echo mkdir rm cp mv true false test wc head tail env id touch date du grep sed httpd nc wget; do
        ln -s busybox "$root/bin/$applet"
    done
    tar -C "$root" -c . | docker import - tinybox:1 >/dev/null
    echo "docker-up: imported tinybox:1"
fi
