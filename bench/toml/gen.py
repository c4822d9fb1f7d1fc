#!/usr/bin/env python3
"""Generates the TOML benchmark file (~1.5 MB): 20,000 [ports] entries with comments and
5,000 [services.sN] tables with strings, inline tables, arrays, booleans and floats.

usage: gen.py OUTPUT.toml
"""
import random
import sys

def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else "bench.toml"
    rnd = random.Random(1234)
    out = []
    out.append("# tetra port registry (benchmark data)\n")
    out.append("# Every service gets a named port; comments are kept by edits.\n\n")
    out.append("[ports]\n")
    for i in range(20000):
        if i % 50 == 0:
            out.append(f"\n# --- block {i // 50}: team-{i % 17} ---\n")
        name = f"svc-{i:05d}-{rnd.choice(['api', 'web', 'db', 'cache', 'queue'])}"
        comment = f"  # owner team-{i % 17}" if i % 3 == 0 else ""
        out.append(f"{name} = {10000 + i}{comment}\n")
    for s in range(5000):
        out.append(f"\n[services.s{s}]\n")
        out.append(f'name = "service-{s}"\n')
        out.append(f'image = "registry.example.com/team-{s % 17}/s{s}:1.{s % 10}.{s % 7}"\n')
        out.append(f"enabled = {'true' if s % 2 else 'false'}\n")
        out.append(f"cpu = {0.25 * (s % 8 + 1)}\n")
        out.append(f"ports = [{8000 + s % 1000}, {9000 + s % 1000}]\n")
        out.append(f'env = {{ LOG_LEVEL = "info", REPLICAS = "{s % 5 + 1}" }}\n')
        out.append(f'tags = ["web", "tier-{s % 3}"]  # routing\n')
    data = "".join(out)
    with open(out_path, "w") as f:
        f.write(data)
    print(f"wrote {out_path}: {len(data.encode())} bytes", file=sys.stderr)

if __name__ == "__main__":
    main()
