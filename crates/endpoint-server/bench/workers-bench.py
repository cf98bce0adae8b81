"""Benchmarks of the real-worker runtime (run by `cargo xtask bench --workers-only`).

1. Jobs per second end to end: 8 workers of examples/workers/echo (the runpod SDK,
   sync handler, concurrency 1), then 8 of examples/workers/concurrent (async,
   concurrency 8 each), each given 2,000 jobs at once through /run.
2. The server's own time per job, with the protocol-level probe worker
   (bench/probe_worker.py) idle-polling: /run acknowledged -> the worker holds the
   job; job-done sent -> /status shows it. 500 jobs, one at a time.

Usage: workers-bench.py <endpoint-server binary> <python with runpod>
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../../.."))
SERVER, PYTHON = sys.argv[1], sys.argv[2]


def http(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b"null")


def pct(xs, p):
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100
    f = int(k)
    c = min(f + 1, len(xs) - 1)
    return xs[f] + (xs[c] - xs[f]) * (k - f)


def start(tmp, endpoints):
    cfg = os.path.join(tmp, "bench.toml")
    with open(cfg, "w") as f:
        f.write(endpoints)
    p = subprocess.Popen(
        [SERVER, "serve", "--listen", "127.0.0.1:0", "--config", cfg, "--db", os.path.join(tmp, "b.db"), "--no-rate-limits"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    line = p.stdout.readline().strip()
    assert line.startswith("listening on "), line
    return p, line.split("listening on ")[1]


def wait_ready(base, ep, n, secs=120):
    end = time.time() + secs
    while time.time() < end:
        ws = http("GET", f"{base}/v2/{ep}/workers")["workers"]
        if sum(1 for w in ws if w.get("readyAt") and not w.get("endedAt")) >= n:
            return
        time.sleep(0.2)
    raise SystemExit(f"{ep}: {n} workers never got ready")


def endpoint(eid, handler, n, extra=""):
    return (
        f'[[endpoints]]\nid = "{eid}"\nruntime = "process"\nmin_workers = {n}\nmax_workers = {n}\n'
        f'[endpoints.process]\ncommand = ["{PYTHON}", "{handler}"]\ncwd = "{os.path.dirname(handler)}"\n{extra}\n'
    )


def throughput(base, ep, jobs, inp):
    ids = []
    lock = threading.Lock()

    def submit(k):
        for _ in range(k):
            r = http("POST", f"{base}/v2/{ep}/run", {"input": inp})
            with lock:
                ids.append(r["id"])

    t0 = time.time()
    ts = [threading.Thread(target=submit, args=(jobs // 8,)) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    while True:
        h = http("GET", f"{base}/v2/{ep}/health")
        if h["jobs"]["inQueue"] == 0 and h["jobs"]["inProgress"] == 0:
            break
        time.sleep(0.05)
    took = time.time() - t0
    done = sum(1 for i in ids[:50] if http("GET", f"{base}/v2/{ep}/status/{i}")["status"] == "COMPLETED")
    assert done == 50, f"only {done} of 50 sampled jobs completed"
    return len(ids) / took, took


def main():
    tmp = tempfile.mkdtemp(prefix="em-wbench-")
    probe_out = os.path.join(tmp, "probe.txt")
    cfg = (
        endpoint("echo8", f"{ROOT}/examples/workers/echo/handler.py", 8)
        + endpoint("conc8", f"{ROOT}/examples/workers/concurrent/handler.py", 8, "concurrency = 8")
        + endpoint(
            "probe", f"{ROOT}/crates/endpoint-server/bench/probe_worker.py", 1,
            f'env = {{ PROBE_OUT = "{probe_out}", PROBE_STATUS_URL = "PLACEHOLDER" }}',
        )
    )
    # The probe needs the server's address for /status: start, read it, restart.
    server, base = start(tmp, cfg.replace("PLACEHOLDER", "http://127.0.0.1:1/"))
    server.terminate()
    server.wait()
    port = base.rsplit(":", 1)[1]
    # Bind the same port again (freed just now).
    cfg = cfg.replace("PLACEHOLDER", f"{base}/v2/probe/status/")
    with open(os.path.join(tmp, "bench.toml"), "w") as f:
        f.write(cfg)
    server = subprocess.Popen(
        [SERVER, "serve", "--listen", f"127.0.0.1:{port}", "--config", os.path.join(tmp, "bench.toml"),
         "--db", os.path.join(tmp, "b2.db"), "--no-rate-limits"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert server.stdout.readline().startswith("listening on ")
    try:
        for ep, n in (("echo8", 8), ("conc8", 8), ("probe", 1)):
            wait_ready(base, ep, n)
        print(f"date: {time.strftime('%Y-%m-%d')}", flush=True)
        rate, took = throughput(base, "echo8", 2000, {})
        print(f"echo (sync, 8 workers x concurrency 1): 2000 jobs in {took:.1f} s = {rate:.1f} jobs/s", flush=True)
        rate, took = throughput(base, "conc8", 2000, {"sleep": 0})
        print(f"concurrent (async, 8 workers x concurrency 8): 2000 jobs in {took:.1f} s = {rate:.1f} jobs/s", flush=True)
        acks = {}
        for _ in range(500):
            r = http("POST", f"{base}/v2/probe/run", {"input": {}})
            acks[r["id"]] = time.time()
            while True:
                st = http("GET", f"{base}/v2/probe/status/{r['id']}")
                if st["status"] == "COMPLETED":
                    break
            time.sleep(0.02)
        time.sleep(0.5)
        rows = [line.split() for line in open(probe_out)]
        to_worker = [(float(rec) - acks[i]) * 1000 for i, rec, *_ in rows if i in acks]
        done_rt = [(float(ans) - float(sent)) * 1000 for _i, _r, sent, ans, _s in rows]
        shown = [(float(s) - float(sent)) * 1000 for _i, _r, sent, _a, s in rows]
        delays = [http("GET", f"{base}/v2/probe/status/{i}")["delayTime"] for i in list(acks)[:500]]
        print(f"probe jobs: {len(to_worker)}", flush=True)
        print(f"/run acknowledged -> idle worker holds the job: p50 {pct(to_worker, 50):.2f} ms, p99 {pct(to_worker, 99):.2f} ms, max {max(to_worker):.2f} ms")
        print(f"server delayTime (submission -> take answered): p50 {pct(delays, 50):.0f} ms, p99 {pct(delays, 99):.0f} ms")
        print(f"job-done round trip: p50 {pct(done_rt, 50):.2f} ms, p99 {pct(done_rt, 99):.2f} ms")
        print(f"job-done sent -> /status shows COMPLETED: p50 {pct(shown, 50):.2f} ms, p99 {pct(shown, 99):.2f} ms")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
