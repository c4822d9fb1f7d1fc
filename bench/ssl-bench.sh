#!/usr/bin/env bash
# Certificates benchmark (issue 8). Static release build.
#  1. `tetra ssl list --json` with 1,000 certificates in the store, against `git --version`
#     (target: at most 10x). The store is one real self-signed certificate copied 1,000 times
#     with its meta.toml renamed: `ssl list` reads meta.toml only, never the PEM files.
#  2. A full ACME issuance (account, order, HTTP-01 on a built-in listener, finalize, download)
#     against a local pebble, against Debian's `certbot certonly --standalone` on the same
#     pebble (REQUESTS_CA_BUNDLE = pebble's TLS cert) as the baseline. Each run uses a new
#     name so neither client benefits from pebble's authorization reuse; both start with a
#     fresh state (tetra: new account key; certbot: new config dir and account).
# Needs pebble, pebble-challtestsrv, certbot, curl, openssl, python3, hyperfine (apt-get install
# pebble certbot curl hyperfine: done here when root and missing).
#   bench/ssl-bench.sh               # 1,000 certificates, 5 issuances each
#   TETRA_BENCH_RUNS=10 bench/ssl-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${TETRA_BENCH_RUNS:-5}"

missing=()
for tool in pebble pebble-challtestsrv certbot curl openssl python3 hyperfine; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        pkgs=()
        for t in "${missing[@]}"; do case "$t" in pebble-challtestsrv) pkgs+=(pebble);; *) pkgs+=("$t");; esac; done
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
    else
        echo "ssl-bench: missing ${missing[*]}" >&2
        exit 1
    fi
fi

scratch="${TETRA_BENCH_SCRATCH:-.build-bench}"
log="$(mktemp)"
if ! swift build -c release -Xswiftc -static-executable --scratch-path "$scratch" --product tetra >"$log" 2>&1; then
    grep -E "error" "$log" | head -20 >&2
    echo "ssl-bench: the release build failed" >&2
    exit 1
fi
TETRA="${TETRA_BIN:-$(swift build -c release -Xswiftc -static-executable --scratch-path "$scratch" --show-bin-path)/tetra}"
work="$(mktemp -d)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work" "$log"
}
trap cleanup EXIT

# --- 1. ssl list with 1,000 certificates -------------------------------------------------
export TETRA_DIR="$work/state"
"$TETRA" ssl generate seed.bench.test --self-signed --days 90 -q >/dev/null
python3 - "$TETRA_DIR/ssl" <<'PY'
import os, shutil, sys
ssl = sys.argv[1]
seed = os.path.join(ssl, "seed.bench.test")
meta = open(os.path.join(seed, "meta.toml")).read()
for i in range(999):
    name = f"site{i:04d}.bench.test"
    d = os.path.join(ssl, name)
    shutil.copytree(seed, d)
    with open(os.path.join(d, "meta.toml"), "w") as f:
        f.write(meta.replace("seed.bench.test", name))
PY
count=$("$TETRA" ssl list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["certificates"]))')
[[ "$count" == 1000 ]] || { echo "ssl-bench: expected 1000 certificates, got $count" >&2; exit 1; }

# hyperfine -N runs each command directly (no shell, no Python in between), so the medians
# are the commands' own times.
hyperfine -N --warmup 20 --runs "${TETRA_BENCH_LIST_RUNS:-200}" --export-json "$work/list.json" \
    --style none 'git --version' "$TETRA --version" "$TETRA ssl list --json" >/dev/null
python3 - "$work/list.json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
git = results[0]["median"] * 1000
labels = ["git --version", "tetra --version (start-up)", "tetra ssl list --json"]
print(f"{'command (1,000 certificates)':40} {'median':>10} {'user':>8} {'system':>8} {'ratio vs git':>13}")
for label, r in zip(labels, results):
    ms = r["median"] * 1000
    note = "   (target <= 10x)" if label.startswith("tetra ssl") else ""
    print(f"{label:40} {ms:8.2f}ms {r['user'] * 1000:6.2f}ms {r['system'] * 1000:6.2f}ms {ms / git:12.2f}x{note}")
PY

# --- 2. ACME issuance against pebble: tetra vs certbot -------------------------------------
ports=($(python3 - <<'PY'
import socket
socks = []
for _ in range(6):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
))
listen=${ports[0]} mgmt=${ports[1]} http=${ports[2]} tls=${ports[3]} dns=${ports[4]} dnsmgmt=${ports[5]}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/pebble-key.pem" -out "$work/pebble-cert.pem" \
    -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost -days 7 2>/dev/null
cat >"$work/pebble.json" <<EOF
{"pebble": {"listenAddress": "127.0.0.1:$listen", "managementListenAddress": "127.0.0.1:$mgmt",
  "certificate": "$work/pebble-cert.pem", "privateKey": "$work/pebble-key.pem",
  "httpPort": $http, "tlsPort": $tls, "ocspResponderURL": "", "externalAccountBindingRequired": false}}
EOF
pebble-challtestsrv -defaultIPv6 "" -http01 "" -https01 "" -tlsalpn01 "" -dns01 "127.0.0.1:$dns" -management "127.0.0.1:$dnsmgmt" \
    >"$work/challtestsrv.log" 2>&1 &
pids+=($!)
PEBBLE_VA_NOSLEEP=1 pebble -config "$work/pebble.json" -dnsserver "127.0.0.1:$dns" >"$work/pebble.log" 2>&1 &
pids+=($!)
dir="https://127.0.0.1:$listen/dir"
for _ in $(seq 100); do curl -s --cacert "$work/pebble-cert.pem" "$dir" >/dev/null && break; sleep 0.1; done

python3 - "$TETRA" "$dir" "$http" "$work" "$runs" <<'PY'
import os, shutil, statistics, subprocess, sys, time
tetra, directory, http, work, runs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
ca = os.path.join(work, "pebble-cert.pem")
def run(argv, env):
    t = time.perf_counter()
    r = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"ssl-bench: {argv[0]} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    return dt
tetra_times, certbot_times = [], []
for i in range(runs):
    state = os.path.join(work, f"tetra-{i}")
    env = dict(os.environ, TETRA_DIR=state)
    tetra_times.append(run([tetra, "ssl", "generate", f"t{i}.bench.test", "--http-port", http,
                            "--acme-server", directory, "--acme-ca", ca, "-q"], env))
    cb = os.path.join(work, f"certbot-{i}")
    env = dict(os.environ, REQUESTS_CA_BUNDLE=ca)
    certbot_times.append(run(["certbot", "certonly", "--standalone", "--http-01-port", http, "--server", directory,
                              "--non-interactive", "--agree-tos", "--register-unsafely-without-email",
                              "--config-dir", cb + "/config", "--work-dir", cb + "/work", "--logs-dir", cb + "/logs",
                              "-d", f"c{i}.bench.test"], env))
t, c = statistics.median(tetra_times) * 1000, statistics.median(certbot_times) * 1000
print()
print(f"{'full ACME issuance against pebble':40} {'median':>10} {'ratio vs certbot':>17}   ({runs} runs)")
print(f"{'certbot certonly --standalone':40} {c:8.0f}ms {1:16.2f}x")
print(f"{'tetra ssl generate --http-port':40} {t:8.0f}ms {t/c:16.2f}x")
PY
