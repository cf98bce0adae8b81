"""The soak benchmark (`cargo xtask bench --soak [--minutes N]`; not part of the tests).

A release endpoint-server on a fresh SQLite database serves two endpoints: `sim`
(simulated workers) and `w` (real worker processes of examples/workers/echo through
the runpod SDK). For N minutes (default 30) it gets mixed traffic: /run (a third with
a webhook), /runsync, status polls, /stream, cancels, health, a purge-queue every
97 s, and a SIGKILL of a random real worker every 73 s. The webhook receivers answer
200, 500 or 503 at random, so deliveries are retried.

The server keeps `/run` results 5 minutes (RunPod: 30), its change log 5,000 changes
per endpoint (default 200,000; full within 10 minutes on both) and the metrics 10 minutes (`--metrics-retention`,
default 7 days), so everything it holds reaches its steady state within the run and its RSS must be flat
after that; the soak follows the metrics change feed all run long to see every record
before it ages out. At the end, after the traffic stops and the queues drain:
- every acknowledged job (a 200 from /run or /runsync) appeared in the change feed,
  and its last record has a final status;
- every webhook attempt the receivers saw is recorded once by the server, with the
  status they answered, and every delivery ended (200, or RunPod's 3 attempts; a
  cancelled job owes none);
- the server's RSS and the /run p99 per 5 minutes are printed, to judge flatness.

Exit status 1 if an accounting check fails.

Usage: soak.py <endpoint-server binary> <python with runpod> [--minutes N] [--rate R]
               [--metrics-retention 10m]
"""
import argparse
import asyncio
import datetime
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import aiohttp
from aiohttp import web

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../../.."))
KEY = "soak-operate-key"
FINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100
    f = int(k)
    c = min(f + 1, len(xs) - 1)
    return xs[f] + (xs[c] - xs[f]) * (k - f)


def rss_mb(pid):
    """The process's resident memory, MB: (all, anonymous, file-backed + shared)."""
    got = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key = line.split(":")[0]
                if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                    got[key] = int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    nan = float("nan")
    return (got.get("VmRSS", nan), got.get("RssAnon", nan),
            got.get("RssFile", nan) + got.get("RssShmem", nan))


ANSI = re.compile(r"\x1b\[[0-9;]*m")
HELD = re.compile(r"^(\S+)\s+INFO .*\bheld endpoint=(\S+) (.*)$")


def held_counts(log_path, t0_wall):
    """The server's `held` lines (logged after each metrics prune): what each endpoint
    holds, counted, as [(second since the start, endpoint, {count: value})]."""
    out = []
    with open(log_path) as f:
        for line in f:
            m = HELD.match(ANSI.sub("", line).strip())
            if not m:
                continue
            at = datetime.datetime.fromisoformat(m.group(1).replace("Z", "+00:00")).timestamp()
            counts = dict(kv.split("=", 1) for kv in m.group(3).split())
            out.append((at - t0_wall, m.group(2), {k: int(v) for k, v in counts.items()}))
    return out


class Soak:
    def __init__(self, base, pid, minutes, rate, seed):
        self.base = base
        self.pid = pid
        self.seconds = minutes * 60
        self.rate = rate
        self.rng = random.Random(seed)
        self.acked = {}  # job id -> endpoint
        self.recent = {"sim": [], "w": []}
        self.webhook_jobs = set()
        self.received = {}  # job id -> [status answered, ...]
        self.lat = []  # (second since start, op, ms, http status or 0)
        self.rss = []  # (second, (RSS, anonymous, file) MB)
        self.kills = 0
        self.purged = 0
        self.errors = {}
        self.t0 = time.monotonic()
        self.t0_wall = time.time()
        self.log_path = None
        # What the change feed said, followed all run long (the metrics retention may
        # be shorter than the run): the newest record of each job, and every delivery
        # attempt of each job as the feed reported it (one change per attempt).
        self.cursor = {"sim": None, "w": None}
        self.jobs = {}
        self.deliveries = {}
        self.feed_lost = []

    # -- the webhook receivers -------------------------------------------------
    async def hook(self, request):
        body = await request.json()
        status = self.rng.choices([200, 500, 503], weights=[60, 28, 12])[0]
        self.received.setdefault(body["id"], []).append(status)
        return web.json_response({"ok": status == 200}, status=status)

    # -- traffic -----------------------------------------------------------------
    async def call(self, session, op, method, path, body=None):
        t = time.monotonic()
        try:
            async with session.request(method, self.base + path, json=body) as r:
                data = await r.read()
                ms = (time.monotonic() - t) * 1000
                self.lat.append((t - self.t0, op, ms, r.status))
                if r.status >= 500 or (r.status >= 400 and r.status not in (404, 410)):
                    key = f"{op} {r.status}"
                    self.errors[key] = self.errors.get(key, 0) + 1
                return r.status, (json.loads(data) if data and data[:1] in b"{[" else None)
        except Exception as e:  # a refused connection or a timeout is recorded, not fatal
            key = f"{op} {type(e).__name__}"
            self.errors[key] = self.errors.get(key, 0) + 1
            self.lat.append((t - self.t0, op, (time.monotonic() - t) * 1000, 0))
            return 0, None

    def pick(self, ep=None):
        eps = [ep] if ep else ["sim", "w"]
        pool = [j for e in eps for j in self.recent[e][-500:]]
        return self.rng.choice(pool) if pool else None

    async def submit(self, session, ep, sync=False):
        r = self.rng
        if ep == "sim":
            inp = {"sleepMs": int(r.lognormvariate(5.5, 0.8)), "fail": r.random() < 0.02}
        else:
            inp = {"sleep": round(r.uniform(0.02, 0.3), 3), "fail": r.random() < 0.02}
        body = {"input": inp}
        hooked = not sync and r.random() < 0.33
        if hooked:
            body["webhook"] = f"{self.hook_base}/hook"
        op = "runsync" if sync else "run"
        path = f"/v2/{ep}/runsync?wait=30000" if sync else f"/v2/{ep}/run"
        code, v = await self.call(session, op, "POST", path, body)
        if code == 200 and v and "id" in v:
            self.acked[v["id"]] = ep
            self.recent[ep].append(v["id"])
            if hooked:
                self.webhook_jobs.add(v["id"])

    async def one(self, session):
        r = self.rng.random()
        if r < 0.45:
            await self.submit(session, "sim")
        elif r < 0.47:  # ~1.6 jobs/s: within what 4 real workers keep up with
            await self.submit(session, "w")
        elif r < 0.52:
            await self.submit(session, "sim", sync=True)
        elif r < 0.77:
            j = self.pick()
            if j:
                await self.call(session, "status", "GET", f"/v2/{self.acked[j]}/status/{j}")
        elif r < 0.81:
            j = self.pick("w")
            if j:
                await self.call(session, "stream", "POST", f"/v2/w/stream/{j}")
        elif r < 0.86:
            j = self.pick()
            if j:
                await self.call(session, "cancel", "POST", f"/v2/{self.acked[j]}/cancel/{j}")
        else:
            await self.call(session, "health", "GET", f"/v2/{self.rng.choice(['sim', 'w'])}/health")

    async def traffic(self, session):
        tasks = set()
        end = self.t0 + self.seconds
        nxt = time.monotonic()
        while time.monotonic() < end:
            nxt += self.rng.expovariate(self.rate)
            delay = nxt - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            t = asyncio.create_task(self.one(session))
            tasks.add(t)
            t.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks)

    async def chaos(self, session):
        end = self.t0 + self.seconds
        next_purge, next_kill = self.t0 + 97, self.t0 + 73
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_purge:
                code, v = await self.call(session, "purge", "POST", "/v2/sim/purge-queue")
                if code == 200:
                    self.purged += v["removed"]
                next_purge += 97
            if now >= next_kill:
                _, v = await self.call(session, "workers", "GET", "/v2/w/workers")
                pids = [w["pid"] for w in (v or {}).get("workers", []) if w.get("pid")]
                if pids:
                    try:
                        os.kill(self.rng.choice(pids), signal.SIGKILL)
                        self.kills += 1
                    except ProcessLookupError:
                        pass
                next_kill += 73
            if int(now - self.t0) % 10 == 0:
                self.rss.append((now - self.t0, rss_mb(self.pid)))
            await asyncio.sleep(1)

    # -- the change feed ---------------------------------------------------------
    async def start_cursors(self, session):
        for ep in self.cursor:
            async with session.get(f"{self.base}/v2/{ep}/metrics/changes?cursor=0&limit=1") as r:
                assert r.status in (200, 410), f"changes of {ep}: {r.status}"
            # A fresh database: the feed starts at 0.
            self.cursor[ep] = 0

    async def poll_changes(self, session):
        """Reads every endpoint's changes since the last poll (all of them, in pages)."""
        for ep in self.cursor:
            while True:
                url = f"{self.base}/v2/{ep}/metrics/changes?cursor={self.cursor[ep]}&limit=10000"
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=120)) as r:
                    if r.status == 410:
                        # Fell behind the change log: accounting from here is incomplete.
                        self.feed_lost.append((ep, self.cursor[ep]))
                        return
                    assert r.status == 200, f"changes of {ep}: {r.status} {await r.text()}"
                    v = await r.json()
                for j in v["jobs"]:
                    self.jobs[j["id"]] = j
                for d in v["deliveries"]:
                    self.deliveries.setdefault(d["jobId"], []).append(d)
                more = v["cursor"] != self.cursor[ep] and len(v["jobs"]) + len(v["deliveries"]) + len(v["transitions"]) + len(v["coldStarts"]) >= 10000
                self.cursor[ep] = v["cursor"]
                if not more:
                    break

    async def follow(self, session, until):
        while time.monotonic() < until:
            await self.poll_changes(session)
            await asyncio.sleep(2)

    # -- the end -----------------------------------------------------------------
    async def settle(self, session, limit_s=600):
        """Waits until every acknowledged job is final and no delivery is pending."""
        end = time.monotonic() + limit_s
        while True:
            await self.poll_changes(session)
            status = self.jobs
            open_jobs = [j for j in self.acked if status.get(j, {}).get("status") not in FINAL]
            pending = [
                j for j in self.webhook_jobs
                if status.get(j, {}).get("status") in FINAL - {"CANCELLED"}  # owes none
                and status[j].get("webhook") and not status[j]["webhook"].get("delivered")
                and status[j]["webhook"].get("attempts", 0) < 3
            ]
            if (not open_jobs and not pending) or time.monotonic() > end:
                return status, open_jobs, pending
            await asyncio.sleep(5)

async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("server")
    ap.add_argument("python")
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--rate", type=float, default=80, help="operations per second")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--metrics-retention", default="10m",
                    help="the server's --metrics-retention (default 10m: steady state within the run)")
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="soak-")
    port = free_port()
    cfg = os.path.join(tmp, "soak.toml")
    with open(cfg, "w") as f:
        f.write(f"""rate_limits = false
allow_private_webhooks = true

[[endpoints]]
id = "sim"
min_workers = 1
max_workers = 12
idle_timeout_ms = 10000
cold_start_median_ms = 800
execution_median_ms = 300
failure_rate = 0.02

[[endpoints]]
id = "w"
runtime = "process"
min_workers = 1
max_workers = 4
idle_timeout_ms = 30000
[endpoints.process]
command = [{json.dumps(a.python)}, "handler.py"]
cwd = {json.dumps(os.path.join(ROOT, "examples/workers/echo"))}
ping_interval_ms = 2000
hold_ms = 5000
stop_grace_ms = 3000
env = {{ STARTUP_SLEEP = "1" }}
""")
    log = open(os.path.join(tmp, "server.log"), "w")
    # SOAK_WRAPPER (e.g. "heaptrack -o /tmp/soak-heap") runs the server under a profiler.
    wrapper = os.environ.get("SOAK_WRAPPER", "").split()
    server = subprocess.Popen(
        wrapper + [a.server, "serve", "--listen", f"127.0.0.1:{port}", "--db", os.path.join(tmp, "soak.db"),
         "--config", cfg, "--api-key", KEY,
         # Results readable 5 min (RunPod: 30): the steady state comes within the run.
         "--run-result-retention", "5m",
         # 5,000 feed changes per endpoint (default 200,000): `sim`'s fill in ~40 s at
         # ~140 a second, `w`'s in ~9 min at ~9 (the soak reads the feed every 2 s).
         "--change-log", "5000",
         # Metrics kept 10 min (default 7 days): what the server holds reaches its
         # steady state within the run, so RSS must be flat after it; the soak follows
         # the change feed to account for every job all the same.
         "--metrics-retention", a.metrics_retention],
        stdout=subprocess.PIPE, stderr=log, text=True,
        # Its own process group: the signals below reach the server under a wrapper too.
        start_new_session=True,
    )
    line = server.stdout.readline().strip()
    while wrapper and not line.startswith("listening"):  # the profiler's own lines
        line = server.stdout.readline().strip()
    print(line, flush=True)
    soak = Soak(f"http://127.0.0.1:{port}", server.pid, a.minutes, a.rate, a.seed)
    soak.log_path = os.path.join(tmp, "server.log")
    app = web.Application()
    app.router.add_post("/hook", soak.hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    hook_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", hook_port).start()
    soak.hook_base = f"http://127.0.0.1:{hook_port}"
    ok = True
    try:
        conn = aiohttp.TCPConnector(limit=64)
        headers = {"Authorization": f"Bearer {KEY}"}
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(connector=conn, headers=headers, timeout=timeout) as session:
            print(f"soak: {a.minutes:g} min at {a.rate:g} operations/s; server pid {server.pid}", flush=True)
            await soak.start_cursors(session)
            await asyncio.gather(
                soak.traffic(session), soak.chaos(session),
                soak.follow(session, soak.t0 + soak.seconds))
            traffic_s = time.monotonic() - soak.t0
            status, open_jobs, pending = await soak.settle(session)
        ok = report(soak, traffic_s, status, open_jobs, pending) and server.poll() is None
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        await runner.cleanup()
        log.close()
        for ext in ("", "-wal", "-shm"):
            try:
                os.remove(os.path.join(tmp, "soak.db" + ext))
            except FileNotFoundError:
                pass
    print(f"server log: {os.path.join(tmp, 'server.log')}")
    sys.exit(0 if ok else 1)


def report(soak, traffic_s, status, open_jobs, pending):
    ok = True
    acked = len(soak.acked)
    missing = [j for j in soak.acked if j not in status]
    by_status = {}
    for j in soak.acked:
        s = status.get(j, {}).get("status", "MISSING")
        by_status[s] = by_status.get(s, 0) + 1
    print(f"\n## Soak: {traffic_s / 60:.1f} min of traffic, {len(soak.lat)} requests")
    print(f"acknowledged jobs: {acked}; by final status: {dict(sorted(by_status.items()))}")
    print(f"worker processes killed: {soak.kills}; jobs purged from the queue: {soak.purged}")
    print(f"answers that were errors (not 404/410): {soak.errors or 'none'}")
    if soak.feed_lost:
        ok = False
        print(f"FAIL: the soak fell behind the change log: {soak.feed_lost}")
    if missing:
        ok = False
        print(f"FAIL: {len(missing)} acknowledged jobs never appeared in the change feed, e.g. {missing[:5]}")
    if open_jobs:
        ok = False
        print(f"FAIL: {len(open_jobs)} acknowledged jobs never ended, e.g. {open_jobs[:5]}")
    # Webhook attempts: what the receivers saw against what the server recorded.
    recorded = soak.deliveries
    mismatched, unended, attempts = [], [], 0
    for j in soak.webhook_jobs:
        seen = soak.received.get(j, [])
        rec = recorded.get(j, [])  # in the feed's order: a repeat or a gap shows
        attempts += len(rec)
        if [d.get("status") for d in rec] != seen or [d["attempt"] for d in rec] != list(range(1, len(rec) + 1)):
            mismatched.append((j, seen, [(d["attempt"], d.get("status"), d.get("error")) for d in rec]))
        st = status.get(j, {})
        if st.get("status") in FINAL - {"CANCELLED"} and (not seen or (seen[-1] != 200 and len(seen) < 3)):
            unended.append(j)
    print(f"webhook jobs: {len(soak.webhook_jobs)}; attempts received {sum(len(v) for v in soak.received.values())}, recorded {attempts}")
    if mismatched:
        ok = False
        print(f"FAIL: {len(mismatched)} deliveries differ between receiver and server, e.g. {mismatched[:3]}")
    if unended or pending:
        ok = False
        print(f"FAIL: {len(set(unended) | set(pending))} deliveries neither delivered nor given up, e.g.")
        for j in list(set(unended) | set(pending))[:3]:
            print(f"  {j}: received {soak.received.get(j)}, recorded "
                  f"{[(d['attempt'], d.get('status'), d.get('error')) for d in recorded.get(j, [])]}, job {status.get(j)}")
    # Flatness: per 5-minute slice (the first minute is warm-up).
    span = 300 if traffic_s >= 600 else max(60, int(traffic_s // 5))
    print(f"\n| minutes | requests | /run p50 ms | /run p99 ms | /run max ms | RSS MB (end of slice) |")
    print("|---|---|---|---|---|---|")
    slices = []
    for lo in range(0, int(soak.seconds), span):  # a request sent after the end is not a slice
        hi = lo + span
        runs = [ms for (t, op, ms, code) in soak.lat if lo <= t < hi and op == "run" and code == 200]
        n = sum(1 for (t, *_r) in soak.lat if lo <= t < hi)
        rss = [m for (t, m) in soak.rss if lo <= t < hi]
        if not runs:
            continue
        nan3 = (float("nan"),) * 3
        row = (lo // 60, hi // 60, n, pct(runs, 50), pct(runs, 99), max(runs), *(rss[-1] if rss else nan3))
        slices.append(row)
        print(f"| {row[0]}-{row[1]} | {n} | {row[3]:.2f} | {row[4]:.2f} | {row[5]:.1f} | {row[6]:.0f} "
              f"(anonymous {row[7]:.0f}, files {row[8]:.0f}) |")
    if len(slices) >= 3:
        warm = steady([r[0] for r in slices])
        first, last = slices[warm], slices[-1]
        print(f"\nRSS {first[6]:.0f} MB -> {last[6]:.0f} MB ({(last[6] / first[6] - 1) * 100:+.1f} %); "
              f"/run p99 {first[4]:.2f} -> {last[4]:.2f} ms (minutes {first[0]}-{first[1]} against "
              f"{last[0]}-{last[1]}: the steady state against the end)")
    report_held(soak, span, slices)
    print("\naccounting: " + ("every acknowledged job and every delivery accounted for" if ok else "FAILED"))
    return ok


def steady(starts):
    """The first slice (by its start minute) in the steady state: everything the server
    holds gets there within 10 minutes (the retentions above). Not the last one, which
    it is compared with; the second if the run is shorter."""
    return next((i for i, lo in enumerate(starts) if lo >= 10 and i < len(starts) - 1), 1)


def report_held(soak, span, slices):
    """What each endpoint held at the end of each slice (its last `held` line there):
    every count is bounded by a retention or a capacity, so one still growing after
    the warm-up is what to look at when the RSS grows."""
    if not soak.log_path or not slices:
        return
    held = held_counts(soak.log_path, soak.t0_wall)
    for ep in ("sim", "w"):
        rows = []
        for (lo_m, hi_m, *_r) in slices:
            inside = [c for (t, e, c) in held if e == ep and lo_m * 60 <= t < hi_m * 60]
            if inside:
                rows.append((lo_m, inside[-1]))
        if not rows:
            continue
        keys = [k for k in rows[0][1] if any(r[1].get(k) for r in rows)]
        print(f"\nheld by `{ep}` (end of slice): " + ", ".join(keys))
        print("| minutes | " + " | ".join(keys) + " |")
        print("|---|" + "---|" * len(keys))
        for lo, c in rows:
            print(f"| {lo}-{lo + span // 60} | " + " | ".join(str(c.get(k, "")) for k in keys) + " |")
        if len(rows) >= 3:
            warm = steady([lo for (lo, _c) in rows])
            a, b = rows[warm][1], rows[-1][1]
            grew = [f"{k} {a[k]} -> {b[k]}" for k in keys if a.get(k) and b.get(k, 0) > a[k] * 1.1 + 16]
            print(f"grew over 10 % from the slice at minute {rows[warm][0]} to the one at {rows[-1][0]}: " + (", ".join(grew) or "nothing"))


if __name__ == "__main__":
    asyncio.run(main())
