#!/usr/bin/env bash
# Services benchmark (issue 7). Static release build. Prints:
#  - `tetra svc status --json` with 200 defined services, median wall time against the
#    baseline `git --version`;
#  - the supervisor's resident memory and CPU use while idle with one healthy service
#    (python3 -m http.server, HTTP health check every 10s; targets: < 15 MB RSS, < 1% CPU);
#  - time from a crash (kill -9) to the service accepting connections again, with
#    backoff 500ms (target: < 1 s);
#  - 20 idle services (`sleep`, no health check) under tetra and the same 20 programs under
#    supervisord (Debian `supervisor`), measured side by side over IDLE_SECONDS (default 60):
#    CPU of the 20 tetra supervisors together and of supervisord, from utime+stime in
#    /proc/PID/stat (10 ms ticks) and from /proc/PID/task/*/schedstat (nanoseconds), and their
#    ratio (target: tetra < 0.1% of one core).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release -Xswiftc -static-executable --scratch-path .build-bench --product tetra >/dev/null 2>&1
TETRA="${TETRA_BIN:-$(swift build -c release -Xswiftc -static-executable --scratch-path .build-bench --show-bin-path)/tetra}"
export TETRA_DIR="$(mktemp -d)"
export TETRA_ORG=bench
SUPERVISORD_DIR="$(mktemp -d)"
cleanup() {
    "$TETRA" svc stop --all >/dev/null 2>&1 || true
    if [ -f "$SUPERVISORD_DIR/supervisord.pid" ]; then
        pid=$(cat "$SUPERVISORD_DIR/supervisord.pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -rf "$TETRA_DIR" "$SUPERVISORD_DIR"
}
trap cleanup EXIT
"$TETRA" init >/dev/null
mkdir -p "$TETRA_DIR/orgs/bench/services"
printf '[org]\nname = "bench"\n' > "$TETRA_DIR/orgs/bench/org.toml"
for i in $(seq 1 200); do
    cat > "$TETRA_DIR/orgs/bench/services/s$i.toml" <<EOF
command = ["sleep", "300"]
port = $((20000 + i))
env = { MODE = "bench" }

[health]
tcp = "{port}"

[restart]
policy = "on-failure"
EOF
done
PORT=$("$TETRA" ports allocate web --range development)
# The interpreter itself, not a wrapper (pyenv's shim is a bash script that adds ~100 ms).
PYTHON=$(python3 -c 'import sys; print(sys.executable)')
"$TETRA" svc create web --command "$PYTHON -m http.server {port} --bind 127.0.0.1" --port web \
    --health-http "http://127.0.0.1:{port}/" >/dev/null
sed -i 's/^window = .*/window = "2s"/' "$TETRA_DIR/orgs/bench/services/web.toml"

# The same 20 idle programs for supervisord (output captured to logs, like tetra does).
command -v supervisord >/dev/null || { echo "supervisord is not installed (apt-get install supervisor)" >&2; exit 1; }
{
    printf '[supervisord]\nlogfile=%%(here)s/supervisord.log\npidfile=%%(here)s/supervisord.pid\nchildlogdir=%%(here)s\n'
    printf '[unix_http_server]\nfile=%%(here)s/supervisor.sock\n'
    printf '[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n'
    printf '[supervisorctl]\nserverurl=unix://%%(here)s/supervisor.sock\n'
    for i in $(seq 1 20); do printf '[program:idle%d]\ncommand=sleep 3600\nautorestart=unexpected\n' "$i"; done
} > "$SUPERVISORD_DIR/supervisord.conf"
IDLE_SECONDS="${IDLE_SECONDS:-60}"

python3 - "$TETRA" "$PORT" "$SUPERVISORD_DIR" "$IDLE_SECONDS" <<'PY'
import glob, json, os, socket, statistics, subprocess, sys, time
tetra, port, supervisord_dir, idle_seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])

def median_ms(argv, runs=30, warmup=3):
    times = []
    for i in range(runs + warmup):
        t = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if i >= warmup: times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000

def listening():
    s = socket.socket()
    s.settimeout(0.05)
    try:
        s.connect(("127.0.0.1", port)); return True
    except OSError:
        return False
    finally:
        s.close()

def status(name):
    out = subprocess.run([tetra, "svc", "status", name, "--json"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)

git = median_ms(["git", "--version"], runs=100, warmup=10)
st = median_ms([tetra, "svc", "status", "--json"])
subprocess.run([tetra, "svc", "start", "web"], check=True, stdout=subprocess.DEVNULL)
deadline = time.time() + 15
while status("web")["health"] != "healthy" and time.time() < deadline: time.sleep(0.1)
st_running = median_ms([tetra, "svc", "status", "--json"])

# Idle supervisor: RSS and CPU over 20 s (two health checks).
sup = status("web")["supervisor_pid"]
hz = os.sysconf("SC_CLK_TCK")
def cpu_ticks(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])
def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"): return int(line.split()[1])
time.sleep(2)
t0, c0 = time.time(), cpu_ticks(sup)
time.sleep(20)
t1, c1 = time.time(), cpu_ticks(sup)
cpu = (c1 - c0) / hz / (t1 - t0) * 100
rss = rss_kb(sup) / 1024

# Crash → listening again (backoff 500ms; a 2 s window so each crash starts from the base backoff).
recoveries = []
for _ in range(5):
    time.sleep(2.5)
    pid = status("web")["pid"]
    t = time.perf_counter()
    os.kill(pid, 9)
    while listening(): time.sleep(0.002)     # the old socket is gone
    while not listening(): time.sleep(0.005)
    recoveries.append((time.perf_counter() - t) * 1000)

# 20 idle services under tetra and under supervisord, measured over the same window.
services = os.path.join(os.environ["TETRA_DIR"], "orgs/bench/services")
for i in range(1, 21):
    with open(os.path.join(services, f"idle{i}.toml"), "w") as f:
        f.write('command = ["sleep", "3600"]\n\n[restart]\npolicy = "on-failure"\n')
subprocess.run([tetra, "svc", "start"] + [f"idle{i}" for i in range(1, 21)], check=True, stdout=subprocess.DEVNULL)
supervisors = [status(f"idle{i}")["supervisor_pid"] for i in range(1, 21)]
conf = os.path.join(supervisord_dir, "supervisord.conf")
subprocess.run(["supervisord", "-c", conf], check=True)
deadline = time.time() + 30
while time.time() < deadline:
    out = subprocess.run(["supervisorctl", "-c", conf, "status"], capture_output=True, text=True).stdout
    if out.count("RUNNING") == 20: break
    time.sleep(0.2)
else:
    sys.exit("supervisord did not start its 20 programs")
supervisord = int(open(os.path.join(supervisord_dir, "supervisord.pid")).read())
def sched_ns(pid):
    return sum(int(open(p).read().split()[0]) for p in glob.glob(f"/proc/{pid}/task/*/schedstat"))
def sample(pids):
    return sum(cpu_ticks(p) for p in pids), sum(sched_ns(p) for p in pids)
time.sleep(2)
t0, tetra0, sd0 = time.time(), sample(supervisors), sample([supervisord])
time.sleep(idle_seconds)
t1, tetra1, sd1 = time.time(), sample(supervisors), sample([supervisord])
span = t1 - t0
def usage(a, b):
    """(% of one core from schedstat, CPU milliseconds from schedstat, utime+stime ticks)"""
    return ((b[1] - a[1]) / 1e9 / span * 100, (b[1] - a[1]) / 1e6, b[0] - a[0])
tetra_idle, sd_idle = usage(tetra0, tetra1), usage(sd0, sd1)
idle_rss = sum(rss_kb(p) for p in supervisors) / 1024 / len(supervisors)

print(f"{'measure':58} {'value':>12} {'vs baseline':>12}")
print(f"{'git --version (baseline)':58} {git:10.2f}ms {1:11.2f}x")
print(f"{'tetra svc status --json, 200 services (stopped)':58} {st:10.2f}ms {st/git:11.2f}x")
print(f"{'tetra svc status --json, 200 services + 1 running':58} {st_running:10.2f}ms {st_running/git:11.2f}x")
print(f"{'supervisor RSS, idle, one healthy service (target <15MB)':58} {rss:10.2f}MB")
print(f"{'supervisor CPU, idle over 20s (target <1%)':58} {cpu:10.3f}%")
print(f"{'crash (kill -9) to listening again, median of 5 (target <1s)':58} {statistics.median(recoveries):10.1f}ms   (min {min(recoveries):.0f}, max {max(recoveries):.0f})")
print(f"20 idle services over {span:.0f}s (CPU from /proc/PID/task/*/schedstat; utime+stime in {1000 // hz} ms ticks):")
print(f"{'  tetra, 20 supervisors together (target <0.1% of a core)':58} {tetra_idle[0]:10.4f}%   ({tetra_idle[1]:.2f} ms CPU, {tetra_idle[2]} ticks)")
print(f"{'  supervisord, one process for the 20':58} {sd_idle[0]:10.4f}%   ({sd_idle[1]:.2f} ms CPU, {sd_idle[2]} ticks)")
print(f"{'  ratio tetra / supervisord':58} {tetra_idle[1] / sd_idle[1] if sd_idle[1] > 0 else float('nan'):10.3f}x")
print(f"{'  tetra supervisor RSS, mean of the 20':58} {idle_rss:10.2f}MB")
PY
