#!/usr/bin/env bash
# Push benchmark (issue 6): whole-process `tetra org push` of an org of 10,000 files to a
# local target and over a loopback sshd, the first push and a push with one changed file:
# wall time and bytes sent, against a plain `rsync -a` of the same tree (local, and over the
# same sshd) as the baseline. Targets: a one-file change sends at most a few KB plus the
# manifest, and takes at most 2x the rsync baseline.
#   bench/deploy-bench.sh                 # 10,000 files, median of 5 one-file pushes (steady state:
#                                         # each prunes a release; the pushes before that are shown too)
#   FILES=2000 RUNS=3 bench/deploy-bench.sh
# Uses a static release build in .build-bench (TETRA_BIN=PATH: that binary, no build). Needs rsync, sshd and ssh-keygen
# (scripts/test.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=".build-bench"
if [ -z "${TETRA_BIN:-}" ]; then
    swift build -c release -Xswiftc -static-executable --scratch-path "$scratch" --product tetra >/dev/null 2>&1 || {
        echo "deploy-bench: the release build failed (swift build -c release -Xswiftc -static-executable --scratch-path $scratch)" >&2
        exit 1
    }
fi
TETRA="${TETRA_BIN:-$(swift build -c release -Xswiftc -static-executable --scratch-path "$scratch" --show-bin-path)/tetra}"
for tool in rsync ssh ssh-keygen /usr/sbin/sshd python3; do
    command -v "$tool" >/dev/null || { echo "deploy-bench: $tool is missing" >&2; exit 1; }
done
mkdir -p /run/sshd 2>/dev/null || true
work="$(mktemp -d /tmp/tetra-deploy-bench.XXXXXX)"
sshd_pid=""
cleanup() { [ -n "$sshd_pid" ] && kill "$sshd_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# A loopback sshd with its own keys (as the end-to-end tests' SSHServer).
ssh-keygen -q -t ed25519 -N "" -f "$work/host_key"
ssh-keygen -q -t ed25519 -N "" -f "$work/client_key"
cp "$work/client_key.pub" "$work/authorized_keys"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
user="$(id -un)"
cat >"$work/sshd_config" <<CFG
Port $port
ListenAddress 127.0.0.1
HostKey $work/host_key
AuthorizedKeysFile $work/authorized_keys
PidFile $work/sshd.pid
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
CFG
/usr/sbin/sshd -D -e -f "$work/sshd_config" 2>"$work/sshd.log" &
sshd_pid=$!
echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$work/host_key.pub")" >"$work/known_hosts"
for _ in $(seq 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null && break
    sleep 0.05
done

WORK="$work" PORT="$port" USER_NAME="$user" TETRA="$TETRA" FILES="${FILES:-10000}" RUNS="${RUNS:-5}" python3 - <<'PY'
import json, os, re, resource, statistics, subprocess, time

work, port, user, tetra = os.environ["WORK"], os.environ["PORT"], os.environ["USER_NAME"], os.environ["TETRA"]
files, runs = int(os.environ["FILES"]), int(os.environ["RUNS"])
key, kh = f"{work}/client_key", f"{work}/known_hosts"
ssh_opts = ["-i", key, "-o", f"UserKnownHostsFile={kh}", "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
            "-o", "IdentitiesOnly=yes", "-p", port]
state = f"{work}/state"
env = dict(os.environ, TETRA_DIR=state, NO_COLOR="1")
env.pop("TETRA_ORG", None)

def run(argv, **kw):
    r = subprocess.run(argv, env=env, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise SystemExit(f"deploy-bench: {' '.join(argv)} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    return r

run([tetra, "init"])
org = f"{state}/orgs/bench"
os.makedirs(org + "/files", exist_ok=True)
with open(org + "/org.toml", "w") as f:
    f.write(f'''[org]
name = "bench"

[vars]
domain = "bench.example"

[environments.local]
target = "{work}/targets/local"
keep_releases = 3

[environments.ssh]
target = "ssh://{user}@127.0.0.1:{port}{work}/targets/ssh"
ssh_key = "{key}"
ssh_options = ["UserKnownHostsFile={kh}", "StrictHostKeyChecking=yes"]
keep_releases = 3
''')
src = org + "/files"
for i in range(files):
    d = f"{src}/svc{i % 20}/conf.d{i % 3}"
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/file{i}.conf", "w") as f:
        f.write(f"# file {i}\nkey_{i} = \"value {i} {'x' * (i % 200)}\"\nport = {10000 + i}\n")
with open(src + "/app.env.tmpl", "w") as f:
    f.write("DOMAIN={{ domain }}\nENV={{ env.name }}\n")
changed = f"{src}/svc7/conf.d1/file7.conf"
tree_bytes = sum(os.path.getsize(os.path.join(dp, n)) for dp, _, ns in os.walk(src) for n in ns)

cpu_log = []

def timed(argv):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = run(argv)
    dt = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_log.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return dt, r

def push(envname):
    dt, r = timed([tetra, "org", "push", "bench", envname, "--json", "-q"])
    return dt, json.loads(r.stdout)

def rsync_stats(text):
    m = re.search(r"Total bytes sent: ([\d,.]+)", text)
    return int(m.group(1).replace(",", "").replace(".", "")) if m else -1

def rsync(dest, remote):
    argv = ["rsync", "-a", "--delete", "--stats", src + "/", dest + "/"]
    if remote:
        argv = ["rsync", "-a", "--delete", "--stats", "-e", "ssh " + " ".join(ssh_opts), src + "/", f"{user}@127.0.0.1:{dest}/"]
    dt, r = timed(argv)
    return dt, rsync_stats(r.stdout)

def one_change(k):
    with open(changed, "a") as f:
        f.write(f"# change {k}\n")

KEEP = 3  # keep_releases of both environments above
results = {}
for name, remote in (("local", False), ("ssh", True)):
    first_t, first = push(name)
    # Until the target holds keep_releases releases a push prunes nothing (and a local one
    # links every file into the new release); from then on every push prunes one release
    # (locally: the pruned release is recycled into the new one). Both are timed; the
    # second is the steady state of a target in use.
    fill = []
    for k in range(KEEP - 1):
        one_change(f"{name}-fill-{k}")
        time.sleep(1.05)
        fill.append(push(name))
    one = []
    one_cpu = []
    for k in range(runs):
        one_change(f"{name}-{k}")
        time.sleep(1.05)  # release ids carry the second
        one.append(push(name))
        one_cpu.append(cpu_log[-1])
    base_dest = f"{work}/baseline-{name}"
    os.makedirs(base_dest, exist_ok=True)
    rs_first_t, rs_first_b = rsync(base_dest, remote)
    rs_one = []
    rs_cpu = []
    for k in range(runs):
        one_change(f"rsync-{name}-{k}")
        rs_one.append(rsync(base_dest, remote))
        rs_cpu.append(cpu_log[-1])
    results[name] = dict(
        first_s=first_t, first_bytes=first.get("bytes_sent"), first_transport=first.get("transport"),
        fill_s=statistics.median(t for t, _ in fill), fill_pruned=sum(len(o.get("pruned") or []) for _, o in fill),
        one_pruned=min(len(o.get("pruned") or []) for _, o in one),
        one_s=statistics.median(t for t, _ in one), one_bytes=statistics.median(o.get("bytes_sent") or 0 for _, o in one),
        one_sent_files=one[-1][1].get("files_sent"), one_linked=one[-1][1].get("files_linked"),
        one_transport=one[-1][1].get("transport"),
        rsync_first_s=rs_first_t, rsync_first_bytes=rs_first_b,
        rsync_one_s=statistics.median(t for t, _ in rs_one), rsync_one_bytes=statistics.median(b for _, b in rs_one),
        one_cpu=statistics.median(one_cpu), rsync_one_cpu=statistics.median(rs_cpu))

# The cost of one ssh session on this machine over a shared connection (what each of
# tetra's remote steps pays; includes the remote user's shell start-up).
ctl = f"{work}/ctl"
os.makedirs(ctl, mode=0o700, exist_ok=True)
mux = ssh_opts + ["-o", "ControlMaster=auto", "-o", f"ControlPath={ctl}/%C", "-o", "ControlPersist=10"]
run(["ssh"] + mux + [f"{user}@127.0.0.1", "true"])
session = statistics.median(timed(["ssh"] + mux + [f"{user}@127.0.0.1", "true"])[0] for _ in range(5))
connect = statistics.median(timed(["ssh"] + ssh_opts + [f"{user}@127.0.0.1", "true"])[0] for _ in range(3))

manifest_bytes = files * 90
print(f"deploy-bench: org of {files:,} files ({tree_bytes / 1e6:.1f} MB), one-file pushes: median of {runs}")
print(f"{'target':<8}{'case':<12}{'tetra push':>12}{'rsync -a':>12}{'ratio':>8}{'tetra bytes':>14}{'rsync bytes':>14}")
for name, r in results.items():
    print(f"{name:<8}{'first':<12}{r['first_s']:>11.3f}s{r['rsync_first_s']:>11.3f}s{r['first_s'] / r['rsync_first_s']:>7.2f}x"
          f"{r['first_bytes'] or 0:>14,}{r['rsync_first_bytes']:>14,}")
    print(f"{name:<8}{'one file':<12}{r['one_s']:>11.3f}s{r['rsync_one_s']:>11.3f}s{r['one_s'] / r['rsync_one_s']:>7.2f}x"
          f"{int(r['one_bytes']):>14,}{int(r['rsync_one_bytes']):>14,}")
    print(f"{name:<8}{'(filling)':<12}{r['fill_s']:>11.3f}s{r['rsync_one_s']:>11.3f}s{r['fill_s'] / r['rsync_one_s']:>7.2f}x"
          f"  <- the {KEEP - 1} one-file pushes before the target held keep_releases = {KEEP} (no prune)")
for name, r in results.items():
    print(f"{name:<8}{'one file, CPU (user+sys, this machine only)':<44}{r['one_cpu']:.3f}s vs {r['rsync_one_cpu']:.3f}s"
          f" = {r['one_cpu'] / max(r['rsync_one_cpu'], 1e-6):.2f}x")
print(f"transport over ssh: first push {results['ssh']['first_transport']}, one-file push {results['ssh']['one_transport']} "
      f"({results['ssh']['one_sent_files']} file sent, {results['ssh']['one_linked']} hard-linked at the target); "
      f"one-file push locally: {results['local']['one_sent_files']} file copied, {results['local']['one_linked']} hard-linked")
print(f"(first push: tetra's bytes are rsync's, the manifest, about {manifest_bytes / 1e3:.0f} KB for {files:,} files, "
      f"goes with the commit; a delta push's bytes are everything it sends: script, changed manifest lines, tar of the "
      f"changed files; the manifest itself is rebuilt at the target)")
print(f"one ssh session here: {connect:.3f}s with a new connection, {session:.3f}s over a shared one "
      f"(the remote shell's start-up included); a one-file ssh push uses 2 sessions over one connection "
      f"(lock + read current, delta upload + commit), rsync -a one")
print(f"'one file' rows: median of {runs} pushes once the target holds keep_releases = {KEEP}, each pruning one release "
      f"(pruned at least {min(r['one_pruned'] for r in results.values())} each; the filling pushes pruned "
      f"{sum(r['fill_pruned'] for r in results.values())})")
for name, r in results.items():
    ok = r["one_s"] <= 2 * r["rsync_one_s"]
    print(f"target {name}: one-file push {r['one_s'] / r['rsync_one_s']:.2f}x rsync (goal <= 2x): {'met' if ok else 'NOT met'}")
PY
