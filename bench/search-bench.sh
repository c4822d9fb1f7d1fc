#!/usr/bin/env bash
# Search benchmark: `tetra search` over a state root of about 10,000 resources against
# `grep -r` of the same state root for the same word, in one run. The state root is generated
# (orgs with environments, hosts and service definitions, registered ports, certificates'
# meta.toml files, release history); nothing runs, no docker volume is listed (the queries
# exclude volumes, whose listing is one `docker volume ls`: its time is printed apart).
#   bench/search-bench.sh                 # about 10,000 resources, median of 15 runs per query
#   bench/search-bench.sh --orgs 20 --runs 5
# Uses a static release build in .build-bench (TETRA_BIN=PATH: that binary, no build).
set -euo pipefail
cd "$(dirname "$0")/.."
orgs=120 runs=15
while [ $# -gt 0 ]; do
    case "$1" in
        --orgs) orgs="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "search-bench: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
if [ -z "${TETRA_BIN:-}" ]; then
    swift build -c release -Xswiftc -static-executable --scratch-path .build-bench --product tetra >/dev/null 2>&1 || {
        echo "search-bench: the release build failed" >&2; exit 1; }
fi
TETRA="${TETRA_BIN:-$(swift build -c release -Xswiftc -static-executable --scratch-path .build-bench --show-bin-path)/tetra}"
work="$(mktemp -d /tmp/tetra-search-bench.XXXXXX)"
trap '[ -n "${KEEP:-}" ] && echo "search-bench: kept $work" >&2 || rm -rf "$work"' EXIT
ORGS="$orgs" RUNS="$runs" WORK="$work" TETRA="$TETRA" python3 - <<'PY'
import os, statistics, subprocess, time, datetime
work, tetra, norgs, runs = os.environ["WORK"], os.environ["TETRA"], int(os.environ["ORGS"]), int(os.environ["RUNS"])
root = f"{work}/root"
env = dict(os.environ, TETRA_DIR=root, NO_COLOR="1", PATH="/usr/bin:/bin")  # no docker on PATH: volumes are timed apart
env.pop("TETRA_ORG", None)
subprocess.run([tetra, "init"], env=env, check=True, capture_output=True)
count = {"org": 0, "env": 0, "host": 0, "service": 0, "port": 0, "certificate": 0, "release": 0}
teams = ["team:pay", "team:web", "team:data", "team:ops"]
ports = []
for o in range(norgs):
    name = f"org{o:03d}"
    d = f"{root}/orgs/{name}"
    os.makedirs(f"{d}/files", exist_ok=True)
    os.makedirs(f"{d}/services", exist_ok=True)
    hosts = ",\n".join(f'  {{ name = "web{h}", target = "ssh://deploy@web{h}.{name}.example/srv/{name}", tags = ["{teams[h % 4]}"] }}'
                       for h in range(20))
    with open(f"{d}/org.toml", "w") as f:
        f.write(f'[org]\nname = "{name}"\ndescription = "Organisation number {o}"\ntags = ["{teams[o % 4]}"]\n\n'
                f'[environments.dev]\ntarget = "{root}/targets/{name}/dev"\n\n'
                f'[environments.staging]\ntarget = "ssh://deploy@staging.{name}.example/srv/{name}"\ntags = ["staging"]\n\n'
                f'[environments.prod]\nprotected = true\ntags = ["critical"]\nhosts = [\n{hosts}\n]\n')
    count["org"] += 1; count["env"] += 3; count["host"] += 20
    for s in range(20):
        with open(f"{d}/services/svc{s:02d}.toml", "w") as f:
            f.write(f'description = "service {s} of {name}"\ntags = ["{teams[s % 4]}"]\ncommand = ["./bin/svc{s}", "--port", "{{port}}"]\n')
        count["service"] += 1
    # history: 5 releases per org
    os.makedirs(f"{root}/state/history", exist_ok=True)
    with open(f"{root}/state/history/{name}.jsonl", "w") as f:
        for r in range(5):
            f.write('{"time":"2026-12-0%dT10:00:00Z","org":"%s","env":"dev","action":"push","release":"2026120%dT100000Z-%07x","target":"x","by":"ops","source":"push"}\n'
                    % (r + 1, name, r + 1, o * 10 + r))
            count["release"] += 1
nports = 2500
with open(f"{root}/config/ports.toml", "w") as f:
    f.write("[ports]\n" + "".join(f"p{i:04d} = {10000 + i}\n" for i in range(nports)))
    f.write("\n[tags]\n" + "".join(f'p{i:04d} = ["{teams[i % 4]}"]\n' for i in range(0, nports, 2)))
count["port"] = nports
now = datetime.datetime.now(datetime.timezone.utc)
ncerts = 1650
for c in range(ncerts):
    dom = f"site{c:04d}.example"
    os.makedirs(f"{root}/ssl/{dom}", exist_ok=True)
    nb = (now - datetime.timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    na = (now + datetime.timedelta(days=5 + c % 120)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with open(f"{root}/ssl/{dom}/meta.toml", "w") as f:
        f.write(f'domain = "{dom}"\nnames = ["{dom}"]\nsubject = "CN={dom}"\nissuer = "CN=bench"\nnot_before = {nb}\nnot_after = {na}\n'
                f'serial = "{c:x}"\nfingerprint_sha256 = "{c:064x}"\nsource = "self-signed"\nkey_type = "ec256"\ncreated = {nb}\n'
                + (f'tags = ["{teams[c % 4]}"]\n' if c % 3 == 0 else ""))
count["certificate"] = ncerts
total = sum(count.values())

def timed(argv, ok=(0, 1)):
    best = []
    for _ in range(runs):
        t = time.perf_counter()
        r = subprocess.run(argv, env=env, capture_output=True, text=True)
        best.append(time.perf_counter() - t)
        if r.returncode not in ok:
            raise SystemExit(f"search-bench: {' '.join(argv)} exited {r.returncode}: {r.stderr[-2000:]}")
    return statistics.median(best), r

print(f"search-bench: {total:,} resources ({', '.join(f'{v:,} {k}s' for k, v in count.items())}) + "
      f"the built-in templates; median of {runs} runs each")
print(f"{'query':<44}{'tetra':>9}{'results':>9}{'grep -r':>10}{'tetra/grep':>12}")
for query, word in [("tag:team:pay -kind:volume", "team:pay"), ("svc07 -kind:volume", "svc07"),
                    ("kind:cert expires<30d", "not_after"), ("kind:host env:prod tag:team:web", "team:web"),
                    ("-kind:volume", "name")]:
    t, r = timed([tetra, "search", "--json", "--", *query.split()])
    n = r.stdout.count('"kind" :')
    g, _ = timed(["grep", "-r", "-l", "-F", word, root])
    print(f"{query:<44}{t * 1000:>7.1f}ms{n:>9}{g * 1000:>8.1f}ms{t / g:>11.2f}x")
PY
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    start=$(date +%s%N); docker volume ls --format '{{.Name}}' >/dev/null; end=$(date +%s%N)
    echo "docker volume ls (what a query that can match volumes adds): $(( (end - start) / 1000000 )) ms"
fi
