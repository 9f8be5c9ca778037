#!/usr/bin/python3
"""Round trip of the Python client against the C client, same nxd, same run.

    PYTHONPATH=build/python python3 python/bench.py [--calls N] [--rounds R]

Starts an nxd of its own (one worker pinned to the last CPU, busy-polling),
pins itself and the C client to CPU 0, and interleaves rounds of: the C
client (nxcall --repeat: nx_submit + nx_wait, one in flight, 64 KiB answer
buffer, busy-poll) and the Python client (Client.call in busy-poll mode,
with out_cap at max_payload as nxcall's, with out_cap 64, and call_into a
preallocated bytearray). Prints each one's p50, p99 and requests/s (the
median of the rounds) and Python's p50 minus C's.
"""

import argparse
import glob
import os
import re
import secrets
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=200000, help="calls per round (200000)")
    ap.add_argument("--rounds", type=int, default=5, help="rounds of each client, interleaved (5)")
    ap.add_argument("--payload", type=int, default=64, help="payload bytes (64)")
    ap.add_argument("--build", default=os.environ.get("BUILD", "build"))
    a = ap.parse_args()
    if a.calls < 1000 or a.rounds < 1 or not 1 <= a.payload <= 1024:
        ap.error("--calls >= 1000, --rounds >= 1, --payload 1..1024")
    sys.path.insert(0, os.path.join(ROOT, a.build, "python"))
    import nexus

    bindir = os.path.join(ROOT, a.build, "bin")
    ncpu = os.cpu_count() or 1
    if ncpu < 2:
        sys.exit("bench: needs two CPUs (client on one, worker on the other)")
    worker_cpu = ncpu - 1
    inst = f"nxbench-py-{os.getpid()}-{secrets.token_hex(4)}"
    nxd = subprocess.Popen([os.path.join(bindir, "nxd"), "--instance", inst, "--cpus",
                            str(worker_cpu), "--quiet", "--idle", "spin"])
    try:
        end = time.monotonic() + 60
        while True:
            try:
                nexus.open(inst).close()
                break
            except nexus.NotRunning:
                if nxd.poll() is not None or time.monotonic() > end:
                    sys.exit("bench: nxd did not come up")
                time.sleep(0.01)
        os.sched_setaffinity(0, {0})  # nxcall, started from here, inherits it
        payload = bytes(range(256)) * (a.payload // 256 + 1)
        payload = payload[:a.payload]
        text = ("x" * a.payload)  # nxcall takes its query as an argument
        results = {k: [] for k in ("C nxcall", "py call", "py call out_cap=64", "py call_into")}
        with nexus.open(inst, wait="spin") as c:
            echo = c.pipeline_id("echo")
            buf = bytearray(c.max_payload)
            for _ in range(a.rounds):
                results["C nxcall"].append(run_nxcall(bindir, inst, a.calls, text))
                results["py call"].append(
                    run_py(lambda: c.call(echo, payload), a.calls))
                results["py call out_cap=64"].append(
                    run_py(lambda: c.call(echo, payload, out_cap=64), a.calls))
                results["py call_into"].append(
                    run_py(lambda: c.call_into(echo, payload, buf), a.calls))
    finally:
        nxd.terminate()
        try:
            nxd.wait(timeout=30)
        except subprocess.TimeoutExpired:
            nxd.kill()
            nxd.wait()
        for f in glob.glob(f"/dev/shm/nx.{inst}.*"):
            os.unlink(f)

    print(f"echo, {a.payload}-byte payload, {a.calls} calls a round, {a.rounds} rounds "
          f"interleaved; client on CPU 0, nxd's worker on CPU {worker_cpu}, both busy-polling;"
          f" medians of the rounds")
    print(f"{'client':<22} {'p50 us':>8} {'p99 us':>8} {'calls/s':>10}")
    med = {}
    for k, rs in results.items():
        med[k] = tuple(statistics.median(r[i] for r in rs) for i in range(3))
        print(f"{k:<22} {med[k][0]:8.2f} {med[k][1]:8.2f} {med[k][2]:10.0f}")
    for k in results:
        if k != "C nxcall":
            diffs = [r[0] - c[0] for r, c in zip(results[k], results["C nxcall"])]
            print(f"{k:<22} adds {statistics.median(diffs):+.2f} us at p50 over the C client "
                  f"(median of the rounds: {', '.join(f'{d:+.2f}' for d in diffs)})")


def run_nxcall(bindir, inst, calls, text):
    out = subprocess.run([os.path.join(bindir, "nxcall"), "--instance", inst, "--repeat",
                          str(calls), "echo", text], capture_output=True, text=True, check=True).stdout
    m = re.search(r"round trip \(us\): p50 ([0-9.]+) p90 [0-9.]+ p99 ([0-9.]+)", out)
    r = re.search(r"^([0-9]+) requests/s", out, re.M)
    if not m or not r:
        sys.exit(f"bench: nxcall said: {out}")
    return float(m.group(1)), float(m.group(2)), float(r.group(1))


def run_py(fn, calls):
    clock = time.perf_counter_ns
    lat = [0] * calls
    for _ in range(calls // 10):  # warm up
        fn()
    t0 = clock()
    for i in range(calls):
        s = clock()
        fn()
        lat[i] = clock() - s
    elapsed = clock() - t0
    lat.sort()
    return lat[calls // 2] / 1000, lat[calls * 99 // 100] / 1000, calls / (elapsed / 1e9)


if __name__ == "__main__":
    main()
