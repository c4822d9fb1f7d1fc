#!/usr/bin/env bash
# Fleet push benchmark: `tetra org push` of a release of a few hundred files (some templated per
# host with {{ host.name }}) to N hosts against an Ansible playbook doing the same work, in the
# same run, and against the floor: N parallel `rsync`s of the same tree. The hosts are network
# namespaces with an sshd each, made by scripts/netns-hosts.sh (the fleet tests' test bed, here
# on 10.232.N.0/24), all logging in as root with one client key. Cases, each timed for every
# tool (median of the runs):
#   (a) first push to every host (empty targets, fresh tetra state);
#   (b) push with one file changed (tetra: rsync --link-dest delta; Ansible: the same playbook;
#       rsync: N parallel `rsync -a --link-dest` of the plain tree into a new directory);
#   (c) the one-file push rolled out one host at a time with a verify command on each host
#       (tetra: --batch 1 and a verify hook; Ansible: a second play with serial: 1).
# The playbook makes releases/<id>, rsyncs the plain files into it with --link-dest to
# `current` (ansible.posix.synchronize), renders each template with the template module and
# switches `current`; forks = tetra's rollout.parallel. Then `tetra org rollback` of the env
# (every host back one release) is timed, and the bytes a host's bootstrap costs are printed
# (the first release's bytes and the gzip'd tetra binary a host with services receives once).
#   bench/fleet-bench.sh                      # 10 hosts, 300 files (10 templates); (a) and (b)
#                                             # median of 3, (c) once: about 5 minutes on 2 cores
#   bench/fleet-bench.sh --hosts 4 --runs 1 --rolling-runs 0
# Options: --hosts N (default 10), --parallel N (default: the number of hosts, at most 10),
# --files N (default 300), --templates N (default 10), --runs N (of (a) and (b), default 3),
# --rolling-runs N (of (c), default 1; 0 leaves (c) out).
# Needs root (network namespaces). Installs ansible with apt-get when ansible-playbook is
# missing. Uses a static release build in .build-bench (TETRA_BIN=PATH: that binary, no build).
# Not run by CI or scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

hosts=10 parallel="" files=300 templates=10 runs=3 rolling=1
while [ $# -gt 0 ]; do
    case "$1" in
        --hosts) hosts="$2"; shift 2 ;;
        --parallel) parallel="$2"; shift 2 ;;
        --files) files="$2"; shift 2 ;;
        --templates) templates="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        --rolling-runs) rolling="$2"; shift 2 ;;
        -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "fleet-bench: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
for n in "$hosts" "$files" "$templates" "$runs" "$rolling" ${parallel:+"$parallel"}; do
    [[ "$n" =~ ^[0-9]+$ ]] || { echo "fleet-bench: '$n' is not a number" >&2; exit 2; }
done
[ "$hosts" -ge 1 ] && [ "$hosts" -le 250 ] || { echo "fleet-bench: --hosts must be 1-250" >&2; exit 2; }
[ "$runs" -ge 1 ] || { echo "fleet-bench: --runs must be at least 1" >&2; exit 2; }
[ "$templates" -lt "$files" ] || { echo "fleet-bench: --templates must be fewer than --files" >&2; exit 2; }
[ -n "$parallel" ] || parallel=$(( hosts < 10 ? hosts : 10 ))
[ "$(id -u)" -eq 0 ] || { echo "fleet-bench: needs root (it makes network namespaces)" >&2; exit 1; }

if ! command -v ansible-playbook >/dev/null; then
    echo "fleet-bench: installing ansible (apt-get install -y ansible)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ansible >/dev/null
fi
for tool in ip rsync ssh ssh-keygen /usr/sbin/sshd python3 ansible-playbook; do
    command -v "$tool" >/dev/null || { echo "fleet-bench: $tool is missing (apt-get install -y iproute2 rsync openssh-server openssh-client python3 ansible)" >&2; exit 1; }
done
# The playbook's rsync step is in the ansible.posix collection (Debian's ansible has it).
ansible-doc -t module ansible.posix.synchronize >/dev/null 2>&1 || {
    echo "fleet-bench: ansible.posix.synchronize is missing (apt-get install -y ansible, or ansible-galaxy collection install ansible.posix)" >&2
    exit 1
}

scratch=".build-bench"
if [ -z "${TETRA_BIN:-}" ]; then
    swift build -c release -Xswiftc -static-executable --scratch-path "$scratch" --product tetra >/dev/null 2>&1 || {
        echo "fleet-bench: the release build failed (swift build -c release -Xswiftc -static-executable --scratch-path $scratch)" >&2
        exit 1
    }
fi
TETRA="${TETRA_BIN:-$(swift build -c release -Xswiftc -static-executable --scratch-path "$scratch" --show-bin-path)/tetra}"
[ -x "$TETRA" ] || { echo "fleet-bench: no tetra binary at $TETRA" >&2; exit 1; }

work=""
cleanup() {
    trap - EXIT INT TERM
    if [ -n "$work" ]; then
        # Ansible's ssh connection masters (tetra's end on their own after 10 s).
        for sock in "$work"/cp-*/*; do
            [ -S "$sock" ] && ssh -o ControlPath="$sock" -O exit bench >/dev/null 2>&1 || true
        done
    fi
    [ -n "$work" ] && scripts/netns-hosts.sh down "$work/hosts"
    [ -n "$work" ] && rm -rf "$work"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

work="$(mktemp -d /tmp/tetra-fleet-bench.XXXXXX)"
# Host N: namespace tetra-bench-hN, 10.232.N.1 here and 10.232.N.2 inside, an sshd on port 22
# there (the test bed the fleet tests use: scripts/netns-hosts.sh).
scripts/netns-hosts.sh up "$work/hosts" "$hosts" --prefix tetra-bench --net 10.232 --port 22

WORK="$work" TETRA="$TETRA" HOSTS="$hosts" PARALLEL="$parallel" FILES="$files" TEMPLATES="$templates" \
    RUNS="$runs" ROLLING="$rolling" python3 - <<'PY'
import json, os, resource, shutil, signal, statistics, subprocess, sys, time

# Ctrl-C: tetra (same process group) gets it too and puts its hosts back; the shell's trap
# then removes the hosts.
signal.signal(signal.SIGINT, lambda *_: sys.exit(130))

work, tetra = os.environ["WORK"], os.environ["TETRA"]
n, parallel = int(os.environ["HOSTS"]), int(os.environ["PARALLEL"])
nfiles, ntemplates, runs = int(os.environ["FILES"]), int(os.environ["TEMPLATES"]), int(os.environ["RUNS"])
rolling_runs = int(os.environ["ROLLING"])
key, kh = f"{work}/hosts/client_key", f"{work}/hosts/known_hosts"
names = [f"h{i}" for i in range(1, n + 1)]
address = {name: f"10.232.{i}.2" for i, name in enumerate(names, 1)}
tetra_target = {name: f"{work}/targets/{name}" for name in names}
ansible_base = {name: f"{work}/ansible-targets/{name}" for name in names}
ssh_opts = ["-i", key, "-o", f"UserKnownHostsFile={kh}", "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
            "-o", "IdentitiesOnly=yes"]

# The org's files (also the playbook's source tree): nfiles files in 20 directories, 100 B to
# 8 KB, of which ntemplates are rendered per host.
org_src = f"{work}/org"
files_src = f"{org_src}/files"
templates = [f"app/hosts/host-{j}.conf" for j in range(ntemplates)]
for i in range(nfiles - ntemplates):
    d = f"{files_src}/svc{i % 10}/conf.d{i % 2}"
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/file{i}.conf", "w") as f:
        f.write(f"# file {i}\nkey_{i} = \"{'v' * ((i * 37) % 8000)}\"\nport = {10000 + i}\n")
os.makedirs(f"{files_src}/app/hosts", exist_ok=True)
for j, t in enumerate(templates):
    with open(f"{files_src}/{t}.tmpl", "w") as f:
        f.write(f"# generated for {{{{ host.name }}}}\nserver_name {{{{ host.name }}}}.{{{{ domain }}}};\n"
                f"listen 10.0.0.{j % 250}:{8000 + j};\nupstream = \"{{{{ host.name }}}}-{j}\"\n")
changed_rel = "svc3/conf.d1/file3.conf"
tree_bytes = sum(os.path.getsize(os.path.join(dp, x)) for dp, _, xs in os.walk(files_src) for x in xs)

def org_toml(verify):
    hosts = "\n".join(f'  {{ name = "{h}", target = "ssh://root@{address[h]}{tetra_target[h]}" }},' for h in names)
    hooks = f'\n[environments.fleet.hooks]\nverify = [["test", "-f", "{{release}}/{templates[0]}"]]\n' if verify else ""
    return f"""[org]
name = "bench"

[vars]
domain = "bench.example"

[environments.fleet]
hosts = [
{hosts}
]
ssh_key = "{key}"
ssh_options = ["UserKnownHostsFile={kh}", "StrictHostKeyChecking=yes"]
keep_releases = 10

[environments.fleet.rollout]
parallel = {parallel}
{hooks}"""

# Ansible: inventory, config and two playbooks (the rolling one switches one host at a time
# and runs the same check as tetra's verify hook).
inventory = {"all": {"children": {"fleet": {"hosts": {
    h: {"ansible_host": address[h], "base": ansible_base[h], "host": {"name": h}} for h in names}}},
    "vars": {"ansible_user": "root", "ansible_ssh_private_key_file": key, "domain": "bench.example"}}}
with open(f"{work}/inventory.yml", "w") as f:
    json.dump(inventory, f)
with open(f"{work}/ansible.cfg", "w") as f:
    f.write(f"""[defaults]
inventory = {work}/inventory.yml
forks = {parallel}
gathering = explicit
interpreter_python = /usr/bin/python3
host_key_checking = True
retry_files_enabled = False
deprecation_warnings = False

[ssh_connection]
pipelining = True
ssh_args = -o ControlMaster=auto -o ControlPersist=10s -o UserKnownHostsFile={kh} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes
""")

def playbook(rolling_switch):
    serial = "  serial: 1\n" if rolling_switch else ""
    verify = f"""    - name: verify
      ansible.builtin.command: test -f {{{{ base }}}}/releases/{{{{ release }}}}/{templates[0]}
      changed_when: false
""" if rolling_switch else ""
    return f"""- name: upload the release
  hosts: fleet
  gather_facts: false
  vars:
    rel: "{{{{ base }}}}/releases/{{{{ release }}}}"
  tasks:
    - name: release directory
      ansible.builtin.file: {{path: "{{{{ rel }}}}", state: directory, mode: "0755"}}
    - name: plain files, hard-linked to the current release where unchanged
      ansible.posix.synchronize:
        src: "{files_src}/"
        dest: "{{{{ rel }}}}/"
        link_dest: ["{{{{ base }}}}/current"]
        rsync_opts: ["--exclude=*.tmpl"]
        compress: false
        use_ssh_args: true
    - name: templates
      ansible.builtin.template: {{src: "{files_src}/{{{{ item }}}}.tmpl", dest: "{{{{ rel }}}}/{{{{ item }}}}", mode: "0644"}}
      loop: {json.dumps(templates)}
- name: switch current
  hosts: fleet
  gather_facts: false
{serial}  tasks:
    - name: current
      ansible.builtin.file: {{src: "{{{{ base }}}}/releases/{{{{ release }}}}", dest: "{{{{ base }}}}/current", state: link, force: true}}
{verify}"""

for name, roll in (("push", False), ("rolling", True)):
    with open(f"{work}/{name}.yml", "w") as f:
        f.write(playbook(roll))

state = f"{work}/state"
env = dict(os.environ, TETRA_DIR=state, NO_COLOR="1", ANSIBLE_CONFIG=f"{work}/ansible.cfg")
env.pop("TETRA_ORG", None)
cpu = {}

def run(argv, label, extra_env=None):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run(argv, env=dict(env, **(extra_env or {})), capture_output=True, text=True)
    dt = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu.setdefault(label, []).append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    if r.returncode != 0:
        sys.exit(f"fleet-bench: {' '.join(argv)} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return dt, r

def fresh_state():
    shutil.rmtree(state, ignore_errors=True)
    run([tetra, "init"], "init")
    os.makedirs(f"{state}/orgs", exist_ok=True)
    shutil.copytree(org_src, f"{state}/orgs/bench", symlinks=True)

def set_verify(verify):
    with open(f"{state}/orgs/bench/org.toml", "w") as f:
        f.write(org_toml(verify))

def tetra_push(label, extra=()):
    dt, r = run([tetra, "org", "push", "bench", "fleet", "--json", "-q", *extra], label)
    doc = json.loads(r.stdout)
    if doc.get("outcome") != "success":
        sys.exit(f"fleet-bench: tetra push outcome {doc.get('outcome')}:\n{r.stdout[-3000:]}")
    return dt, doc

rsync_base = {name: f"{work}/rsync-targets/{name}" for name in names}
rsync_runs = 0
def rsync_push(label):
    """N parallel rsyncs of the plain tree into releases/<k>, hard-linked to the previous one."""
    global rsync_runs
    rsync_runs += 1
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    procs = []
    for h in names:
        dest, prev = f"{rsync_base[h]}/releases/{rsync_runs}", f"{rsync_base[h]}/releases/{rsync_runs - 1}"
        argv = ["rsync", "-a", "--mkpath", "-e", " ".join(["ssh", *ssh_opts]), *([f"--link-dest={prev}"] if rsync_runs > 1 else []),
                f"{files_src}/", f"root@{address[h]}:{dest}/"]
        procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            sys.exit(f"fleet-bench: rsync failed ({p.returncode}): {err[-2000:]}")
    dt = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu.setdefault(label, []).append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return dt

releases = 0
def ansible_push(label, book):
    global releases
    releases += 1
    release = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{releases}"
    # A fresh control directory: every run starts without connections, as tetra's does.
    dt, _ = run(["ansible-playbook", f"{work}/{book}.yml", "-e", f"release={release}"], label,
                {"ANSIBLE_SSH_CONTROL_PATH_DIR": f"{work}/cp-{releases}"})
    return dt, release

def check(current_of, expected_release=None):
    """Every host's current release holds its own rendering and the tree's latest content."""
    with open(f"{files_src}/{changed_rel}") as f:
        want = f.read()
    for h in names:
        cur = current_of(h)
        with open(f"{cur}/{templates[0]}") as f:
            assert f.read().startswith(f"# generated for {h}\nserver_name {h}.bench.example;"), (h, cur)
        with open(f"{cur}/{changed_rel}") as f:
            assert f.read() == want, (h, cur, "changed file")
        assert sum(len(xs) for _, _, xs in os.walk(cur)) >= nfiles, (h, cur, "file count")
        if expected_release:
            assert os.readlink(cur).endswith(expected_release), (h, os.readlink(cur), expected_release)

tetra_current = lambda h: f"{tetra_target[h]}/current"
ansible_current = lambda h: f"{ansible_base[h]}/current"

def change(k):
    for path in (f"{files_src}/{changed_rel}", f"{state}/orgs/bench/files/{changed_rel}"):
        with open(path, "a") as f:
            f.write(f"# change {k}\n")

results = {}
# (a) first push: empty targets, fresh tetra state.
for k in range(runs):
    for d in (f"{work}/targets", f"{work}/ansible-targets", f"{work}/rsync-targets"):
        shutil.rmtree(d, ignore_errors=True)
    rsync_runs = 0
    fresh_state()
    set_verify(False)
    t, doc = tetra_push("tetra first")
    check(tetra_current, doc["release"])
    first_bytes = [h.get("bytes_sent", 0) for h in doc["hosts"]]
    results.setdefault("first", []).append((t, ansible_push("ansible first", "push")[0], rsync_push("rsync first")))
    check(ansible_current)
# (b) one file changed, on top of the last first push.
sent = []
for k in range(runs):
    change(f"b{k}")
    t, doc = tetra_push("tetra one")
    check(tetra_current, doc["release"])
    sent.append((sum(h.get("files_sent", 0) for h in doc["hosts"]), sum(h.get("bytes_sent", 0) for h in doc["hosts"])))
    results.setdefault("one", []).append((t, ansible_push("ansible one", "push")[0], rsync_push("rsync one")))
    check(ansible_current)
# (c) the same, one host at a time with a verify command on each host.
if rolling_runs:
    set_verify(True)
    for k in range(rolling_runs):
        change(f"c{k}")
        t, doc = tetra_push("tetra rolling", ["--batch", "1"])
        assert doc["batch_count"] == n, doc["batch_count"]
        check(tetra_current, doc["release"])
        results.setdefault("rolling", []).append((t, ansible_push("ansible rolling", "rolling")[0], None))
        check(ansible_current)
# Rollback: every host back one release (the newest one every host has before current).
rollbacks = []
for k in range(runs):
    before = {h: os.readlink(tetra_current(h)) for h in names}
    dt, r = run([tetra, "org", "rollback", "bench", "fleet", "--json", "-q"], "tetra rollback")
    doc = json.loads(r.stdout)
    assert doc.get("outcome") == "success", r.stdout[-2000:]
    assert all(os.readlink(tetra_current(h)) != before[h] for h in names), "rollback left a host where it was"
    rollbacks.append(dt)
binary_gz = len(subprocess.run(["gzip", "-c", "-6", tetra], capture_output=True).stdout)

session = statistics.median(
    run(["ssh", *ssh_opts, f"root@{address[names[0]]}", "true"], "ssh")[0] for _ in range(3))

labels = {"first": "(a) first push, every host", "one": "(b) one file changed",
          "rolling": "(c) one file, batch 1 + verify"}
print(f"fleet-bench: {n} hosts (network namespaces, sshd each), tetra parallel = Ansible forks = {parallel}; "
      f"release of {nfiles} files ({ntemplates} templated per host, {tree_bytes / 1e6:.2f} MB); "
      f"median of {runs} runs" + (f", (c) of {rolling_runs}" if rolling_runs else ""))
print(f"{'case':<34}{'tetra':>9}{'ansible':>10}{'rsync':>9}{'tetra/ansible':>15}{'tetra/rsync':>13}   runs tetra | ansible | rsync (s)")
for case, triples in results.items():
    tt, at = statistics.median(p[0] for p in triples), statistics.median(p[1] for p in triples)
    rs = [p[2] for p in triples if p[2] is not None]
    rt = statistics.median(rs) if rs else None
    spread = " | ".join(" ".join(f"{x:.2f}" for x in col) for col in ([p[0] for p in triples], [p[1] for p in triples], rs) if col)
    rcol, rratio = (f"{rt:>8.2f}s", f"{tt / rt:>12.2f}x") if rt else (f"{'-':>9}", f"{'-':>13}")
    print(f"{labels[case]:<34}{tt:>8.2f}s{at:>9.2f}s{rcol}{tt / at:>14.2f}x{rratio}   {spread}")
print(f"rollback of the {n}-host env (org rollback, every host back one release): median {statistics.median(rollbacks):.2f}s "
      f"(runs {' '.join(f'{x:.2f}' for x in rollbacks)}; budget 2 s)")
print(f"bootstrap bytes per host: the first release {statistics.median(first_bytes):,.0f} bytes (median of (a)'s hosts); "
      f"the tetra binary, once per host with services: {binary_gz:,} bytes gzip'd ({os.path.getsize(tetra):,} unpacked)")
print("local CPU, user+sys of the process and its children (median; the hosts' side is not counted):")
print(f"  {'case':<32}{'tetra':>9}{'ansible':>10}{'rsync':>9}{'tetra/ansible':>15}")
for case in results:
    tc, ac = statistics.median(cpu[f"tetra {case}"]), statistics.median(cpu[f"ansible {case}"])
    rc = f"{statistics.median(cpu[f'rsync {case}']):>8.2f}s" if f"rsync {case}" in cpu else f"{'-':>9}"
    print(f"  {labels[case]:<32}{tc:>8.2f}s{ac:>9.2f}s{rc}{tc / max(ac, 1e-6):>14.2f}x")
files_sent, bytes_sent = sent[-1]
print(f"(b) tetra sent {files_sent} files, {bytes_sent:,} bytes to {n} hosts in all (rsync --link-dest to the "
      f"previous release; the templates are rendered here and only changed ones sent); the playbook rsyncs the "
      f"plain files with --link-dest to current and renders all {ntemplates} templates on each host "
      f"(the template module: a remote stat and a copy per template and host)")
print(f"one ssh connection and session here: {session:.3f}s (root's shell start-up included)")
PY
