#!/usr/bin/env bash
# Dashboard benchmark (issue 18). Prints, for an org of N services (default 100):
#  - first frame: median wall time of `tetra dash --once` over 15 runs (budget < 300 ms),
#    beside the peer `top -b -n 1` (one snapshot of the process table) in the same run;
#  - idle cost: CPU of a running `tetra dash --interval 1s` in a real terminal (tmux) over
#    SECONDS_RUN (default 20) from /proc/PID/stat utime+stime, in % of one core (budget < 2 %),
#    beside the peer `top -d 1` measured the same way in the same run.
# The N services are generated: definitions, and state files copied from one real running
# service (so every row is "running", checked through /proc like a real one) with its
# metrics ring copied too (every row has a sparkline read from a ring).
#   bench/dash-bench.sh
#   SERVICES=200 SECONDS_RUN=30 TETRA_BIN=.build/debug/tetra bench/dash-bench.sh
# Uses a static release build in .build-bench (TETRA_BIN=PATH: that binary, no build).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${TETRA_BIN:-}" ]; then
    swift build -c release -Xswiftc -static-executable --scratch-path .build-bench --product tetra >/dev/null 2>&1
fi
TETRA="$(realpath "${TETRA_BIN:-$(swift build -c release -Xswiftc -static-executable --scratch-path .build-bench --show-bin-path)/tetra}")"
for tool in python3 tmux top; do command -v "$tool" >/dev/null || { echo "dash-bench: $tool is missing" >&2; exit 1; }; done
N="${SERVICES:-100}"
SECS="${SECONDS_RUN:-20}"
export TETRA_DIR="$(mktemp -d)"
SOCK="$TETRA_DIR/tmux.sock"
cleanup() {
    tmux -S "$SOCK" kill-server >/dev/null 2>&1 || true
    "$TETRA" svc stop anchor --org bench >/dev/null 2>&1 || true
    rm -rf "$TETRA_DIR"
}
trap cleanup EXIT
"$TETRA" init >/dev/null
mkdir -p "$TETRA_DIR/orgs/bench/services"
printf '[org]\nname = "bench"\n\n[metrics]\ninterval = "1s"\n\n[environments.dev]\ntarget = "%s/targets/dev"\n' "$TETRA_DIR" > "$TETRA_DIR/orgs/bench/org.toml"
printf 'command = ["sleep", "3600"]\n' > "$TETRA_DIR/orgs/bench/services/anchor.toml"
"$TETRA" svc start anchor --org bench >/dev/null
sleep 3   # a few samples in the anchor's ring
state="$TETRA_DIR/state/services/bench/anchor/state.json"
ring="$TETRA_DIR/state/metrics/bench/anchor/samples.ring"
for i in $(seq 1 "$N"); do
    name="svc$i"
    printf 'command = ["sleep", "3600"]\ntags = ["bench"]\n' > "$TETRA_DIR/orgs/bench/services/$name.toml"
    mkdir -p "$TETRA_DIR/state/services/bench/$name" "$TETRA_DIR/state/metrics/bench/$name"
    sed "s/\"name\" : \"anchor\"/\"name\" : \"$name\"/" "$state" > "$TETRA_DIR/state/services/bench/$name/state.json"
    [ -f "$ring" ] && cp "$ring" "$TETRA_DIR/state/metrics/bench/$name/samples.ring"
    chmod 600 "$TETRA_DIR/state/services/bench/$name/state.json"
done
running=$("$TETRA" dash --org bench --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(sum(1 for s in d["services"] if s["state"]=="running"), sum(1 for s in d["services"] if s.get("cpu_points")))')
echo "dash-bench: $((N + 1)) services, running and with sparkline points: $running ($(date -u +%Y-%m-%d), $(nproc) cores, $TETRA)"

python3 - "$TETRA" "$SOCK" "$SECS" <<'PY'
import os, statistics, subprocess, sys, time
tetra, sock, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
def wall(argv, runs=15):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)
dash = wall([tetra, "dash", "--org", "bench", "--once"])
top = wall(["top", "-b", "-n", "1"])
print(f"first frame  tetra dash --once: {dash:7.1f} ms (budget 300)   peer top -b -n 1: {top:7.1f} ms   ratio {dash / top:.2f}")

hz = os.sysconf("SC_CLK_TCK")
def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])
def idle(session, command):
    subprocess.run(["tmux", "-S", sock, "-f", "/dev/null", "new-session", "-d", "-s", session, "-x", "120", "-y", "40",
                    "sh", "-c", f"echo $$ > {sock}.{session}; exec {command}"], check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2)  # past the first frame
    pid = int(open(f"{sock}.{session}").read())
    c0, t0 = cpu(pid), time.monotonic()
    time.sleep(secs)
    c1, t1 = cpu(pid), time.monotonic()
    subprocess.run(["tmux", "-S", sock, "kill-session", "-t", session])
    return (c1 - c0) / hz / (t1 - t0) * 100
d = idle("dash", f"{tetra} dash --org bench --interval 1s")
t = idle("top", "top -d 1")
print(f"idle at 1 s  tetra dash: {d:5.2f} % of one core (budget 2)   peer top -d 1: {t:5.2f} %   over {secs:.0f} s each")
PY
