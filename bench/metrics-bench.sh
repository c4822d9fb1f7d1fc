#!/usr/bin/env bash
# Metrics benchmark (issue 17). Static release build. Prints:
#  - sampling cost: N idle services (`sleep`, default 20) run three times, with
#    `[metrics] interval` 60s (almost no sampling), 1s and 10s, each for SECONDS (default 60);
#    the CPU of their N supervisors together from /proc/PID/task/*/schedstat (nanoseconds).
#    Cost of one sample = (CPU at 1s - CPU at 60s) / (samples at 1s - samples at 60s); per
#    service at 10 s = that / 10 s, in % of one core (budget 0.05 %). The 10s run is the same
#    figure measured directly (idle supervisor included).
#    Peer: procps `ps -o rss=,pcpu=,nlwp= -g PGID`, one process per sample (how a shell
#    script or a cron job would sample), CPU from RUSAGE_CHILDREN over 200 runs.
#  - `tetra metrics SVC --since 90d|7d|1h --json` on rings filled as 90 days at 10 s would
#    leave them (bench/metrics/fill-rings.py writes the documented format on its own): median
#    wall time of 30 runs (budget < 50 ms for 90d). Peer: the same 2160 hour rows in sqlite3
#    (the CLI, one process per query, like tetra), `SELECT * WHERE time >= ?`.
#  - disk per service after the simulated 90 days (apparent and allocated) against the
#    documented bound, 1,520,832 bytes.
#   bench/metrics-bench.sh                  # 20 services, 60 s per interval: about 4 minutes
#   SERVICES=10 SECONDS_PER_RUN=30 bench/metrics-bench.sh
# Uses a static release build in .build-bench (TETRA_BIN=PATH: that binary, no build).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${TETRA_BIN:-}" ]; then
    swift build -c release -Xswiftc -static-executable --scratch-path .build-bench --product tetra >/dev/null 2>&1
fi
TETRA="${TETRA_BIN:-$(swift build -c release -Xswiftc -static-executable --scratch-path .build-bench --show-bin-path)/tetra}"
for tool in python3 ps sqlite3; do command -v "$tool" >/dev/null || { echo "metrics-bench: $tool is missing" >&2; exit 1; }; done
export TETRA_DIR="$(mktemp -d)"
export TETRA_ORG=bench
cleanup() { "$TETRA" svc stop --all >/dev/null 2>&1 || true; rm -rf "$TETRA_DIR"; }
trap cleanup EXIT
"$TETRA" init >/dev/null
mkdir -p "$TETRA_DIR/orgs/bench/services"
printf '[org]\nname = "bench"\n' > "$TETRA_DIR/orgs/bench/org.toml"

python3 - "$TETRA" "${SERVICES:-20}" "${SECONDS_PER_RUN:-60}" "$(dirname "$0")/metrics/fill-rings.py" <<'PY'
import glob, json, os, resource, sqlite3, statistics, struct, subprocess, sys, time
tetra, n, seconds, fill = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
root = os.environ["TETRA_DIR"]
services = os.path.join(root, "orgs/bench/services")
names = [f"idle{i}" for i in range(1, n + 1)]

def cpu_ns(pid):
    total = 0
    for task in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try: total += int(open(task).read().split()[0])
        except OSError: pass
    return total

def status(name):
    return json.loads(subprocess.run([tetra, "svc", "status", name, "--json"], check=True, capture_output=True, text=True).stdout)

def samples_of(name):
    out = subprocess.run([tetra, "metrics", name, "--since", "1h", "--json"], check=True, capture_output=True, text=True).stdout
    return len(json.loads(out)["points"])

def run(interval):
    subprocess.run([tetra, "svc", "stop", "--all"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for d in glob.glob(os.path.join(root, "state/metrics/bench/*")):
        for f in glob.glob(d + "/*"): os.remove(f)
    for name in names:
        with open(os.path.join(services, name + ".toml"), "w") as f:
            f.write(f'command = ["sleep", "3600"]\n\n[metrics]\ninterval = "{interval}"\n')
    subprocess.run([tetra, "svc", "start"] + names, check=True, stdout=subprocess.DEVNULL)
    sups = [status(x)["supervisor_pid"] for x in names]
    time.sleep(2)
    before = [samples_of(x) for x in names]
    c0, t0 = sum(cpu_ns(p) for p in sups), time.time()
    time.sleep(seconds)
    c1, t1 = sum(cpu_ns(p) for p in sups), time.time()
    after = [samples_of(x) for x in names]
    return (c1 - c0) / 1e9, t1 - t0, sum(after) - sum(before), status(names[0])["pid"]

slow = run("60s")
fast = run("1s")
ten = run("10s")
per_sample = (fast[0] - slow[0]) / max(1, fast[2] - slow[2])
per_service_10s = per_sample / 10 * 100
direct_10s = ten[0] / ten[1] / n * 100

# Peer: procps ps, one process per sample, for the group of a running service.
pgid = ten[3]
r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
w0 = time.perf_counter()
runs = 200
for _ in range(runs):
    subprocess.run(["ps", "-o", "rss=,pcpu=,nlwp=", "-g", str(pgid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
ps_cpu = ((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)) / runs
subprocess.run([tetra, "svc", "stop", "--all"], stdout=subprocess.DEVNULL)

print(f"sampling, {n} idle services, {seconds:.0f} s per interval (CPU of the {n} supervisors together)")
print(f"  interval 60s: {slow[0]*1000:8.1f} ms CPU, {slow[2]} samples")
print(f"  interval  1s: {fast[0]*1000:8.1f} ms CPU, {fast[2]} samples")
print(f"  interval 10s: {ten[0]*1000:8.1f} ms CPU, {ten[2]} samples")
print(f"  one sample (1s minus 60s, per sample):  {per_sample*1e6:8.1f} us CPU")
print(f"  per service at 10 s, from that:         {per_service_10s:.4f} % of one core (budget 0.05 %)")
print(f"  per service at 10 s, measured directly: {direct_10s:.4f} % of one core (idle supervisor included)")
print(f"  peer: ps -o rss=,pcpu=,nlwp= -g PGID:   {ps_cpu*1e6:8.1f} us CPU per sample ({ps_cpu/per_sample if per_sample > 0 else float('inf'):.0f}x tetra's sample)")

# 90 days of rings.
d = os.path.join(root, "state/metrics/bench/idle1")
os.makedirs(d, exist_ok=True)
now = int(time.time())
subprocess.run([sys.executable, fill, d, str(now)], check=True)
def median_ms(argv, runs=30, warmup=3):
    times = []
    for i in range(runs + warmup):
        t = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if i >= warmup: times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000
out = json.loads(subprocess.run([tetra, "metrics", "idle1", "--since", "90d", "--json"], check=True, capture_output=True, text=True).stdout)
assert out["resolution"] == "hour" and len(out["points"]) == 2160, (out["resolution"], len(out["points"]))
git = median_ms(["git", "--version"])
m90 = median_ms([tetra, "metrics", "idle1", "--since", "90d", "--json"])
m7 = median_ms([tetra, "metrics", "idle1", "--since", "7d", "--json"])
m1 = median_ms([tetra, "metrics", "idle1", "--since", "1h", "--json"])

# Peer: the same hour rows in sqlite3, queried by the sqlite3 CLI (a process per query).
db = os.path.join(root, "peer.sqlite")
con = sqlite3.connect(db)
con.execute("create table hours (time integer primary key, samples integer, restarts integer, state text, health text, "
            + ", ".join(f"{m}_{s} real" for m in ["cpu", "mem", "threads", "fds", "probe"] for s in ["min", "avg", "max"]) + ")")
rows = []
for i in range(2160):
    t = (now // 3600 - 2159 + i) * 3600
    rows.append((t, 360, 0, "running", "healthy") + tuple(float(i + k) for k in range(15)))
con.executemany("insert into hours values (" + ",".join("?" * 20) + ")", rows)
con.commit(); con.close()
q = f"select * from hours where time >= {now - 90 * 86400};"
sq = median_ms(["sqlite3", "-json", db, q])

print(f"\nmetrics SVC --json on rings filled as 90 days at 10 s (median of 30)")
print(f"  git --version (start-up baseline): {git:6.2f} ms")
print(f"  --since 90d (hours.ring, 2160 points):   {m90:6.2f} ms (budget 50 ms)")
print(f"  --since 7d  (minutes.ring, 10080 points): {m7:6.2f} ms")
print(f"  --since 1h  (samples.ring):               {m1:6.2f} ms")
print(f"  peer: sqlite3 -json, the same 2160 hour rows: {sq:6.2f} ms ({m90/sq:.2f}x)")

apparent = sum(os.path.getsize(f) for f in glob.glob(d + "/*.ring"))
allocated = sum(os.stat(f).st_blocks * 512 for f in glob.glob(d + "/*.ring"))
print(f"\ndisk per service after 90 days: {apparent} bytes apparent, {allocated} allocated (bound 1520832; sqlite3 peer, hours only: {os.path.getsize(db)})")
PY
