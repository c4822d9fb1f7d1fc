#!/usr/bin/env python3
"""Writes the three metrics rings of one service as 90 days of sampling at 10 s would leave
them (every slot written), in the format of docs/metrics.md, written independently of
tetra's code: tetra reading them back checks the documented format too.

    fill-rings.py DIR [NOW_EPOCH_SECONDS]
"""
import struct, sys, time, math

RECORD = 96
HEADER = 64
STATES = ["unknown", "stopped", "starting", "running", "unhealthy", "crashloop", "failed"]
HEALTHS = ["unknown", "none", "healthy", "unhealthy"]

def fnv(data):
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h

def header(capacity, step):
    h = b"tetramtr" + struct.pack("<IIII", 1, RECORD, capacity, step)
    h += struct.pack("<I", fnv(h))
    return h + bytes(HEADER - len(h))

def record(seq, time_ms, samples, cpu, mem, restarts):
    counts = [samples, samples, samples, samples, samples]
    stats = [(cpu * 0.5, cpu, cpu * 1.5), (mem * 0.9, mem, mem * 1.1), (3, 3.5, 4), (12, 12, 12), (2, 3, 9)]
    body = struct.pack("<qIBBH", time_ms, restarts, STATES.index("running"), HEALTHS.index("healthy"), samples)
    body += struct.pack("<5HH", *counts, 0)
    body += struct.pack("<15f", *[v for s in stats for v in s])
    seq_bytes = struct.pack("<I", seq)
    return seq_bytes + struct.pack("<I", fnv(seq_bytes + body)) + body

def ring(path, capacity, step, every, per, now):
    out = bytearray(header(capacity, step))
    first = (now // every) * every - (capacity - 1) * every
    for i in range(capacity):
        t = first + i * every
        cpu = 20 + 15 * math.sin(t / 3600.0)
        mem = 100e6 + 20e6 * math.sin(t / 86400.0)
        out += record(i + 1, t * 1000, per, cpu, mem, i // 5000)
    with open(path, "wb") as f:
        f.write(out)

if __name__ == "__main__":
    d = sys.argv[1]
    now = int(sys.argv[2]) if len(sys.argv) > 2 else int(time.time())
    ring(d + "/samples.ring", 3600, 0, 10, 1, now)
    ring(d + "/minutes.ring", 7 * 24 * 60, 60, 60, 6, now)
    ring(d + "/hours.ring", 90 * 24, 3600, 3600, 360, now)
