"""RunPod's official Python SDK against an endpoint of real workers running
examples/workers/echo: run, status, output, stream, run_sync returning the
handler's own output, cancel, health, purge_queue. Exits non-zero on the first
mismatch.

Env: RUNPOD_ENDPOINT_BASE_URL (http://127.0.0.1:PORT/v2), RUNPOD_TEST_API_KEY.
"""
import os
import sys
import time

import runpod

runpod.api_key = os.environ["RUNPOD_TEST_API_KEY"]
runpod.endpoint_url_base = os.environ["RUNPOD_ENDPOINT_BASE_URL"].rstrip("/")

checks = 0


def check(cond, what):
    global checks
    if not cond:
        print(f"FAILED: {what}", flush=True)
        sys.exit(1)
    checks += 1


ep = runpod.Endpoint("w")

health = ep.health()
check(set(health) >= {"jobs", "workers"}, f"health shape: {health}")

job = ep.run({"tag": "sdk", "sleep": 0.2})
check(job.status() in ("IN_QUEUE", "IN_PROGRESS", "COMPLETED"), "status right after run")
out = job.output(timeout=60)
check(out is not None and out["echo"]["tag"] == "sdk", f"the handler's output: {out}")
check(out["pid"] != os.getpid() and out["worker"], f"from a worker process: {out}")
check(job.status() == "COMPLETED", "completed")

out = ep.run_sync({"tag": "sync"}, timeout=60)
check(out["echo"]["tag"] == "sync", f"run_sync output: {out}")

chunks = list(ep.run({"tag": "stream"}).stream())
check(len(chunks) == 1 and chunks[0]["echo"]["tag"] == "stream", f"stream: {chunks}")

long_job = ep.run({"sleep": 60})
for _ in range(200):
    if long_job.status() == "IN_PROGRESS":
        break
    time.sleep(0.1)
res = long_job.cancel()
check(res["status"] == "CANCELLED", f"cancel: {res}")
check(long_job.status() == "CANCELLED", "status after cancel")

# purge_queue: both workers busy, five queued behind them, then purged.
blockers = [ep.run({"sleep": 3}) for _ in range(2)]
for b in blockers:
    for _ in range(300):
        if b.status() == "IN_PROGRESS":
            break
        time.sleep(0.1)
queued = [ep.run({"tag": "purged"}) for _ in range(5)]
res = ep.purge_queue()
check(res == {"removed": 5, "status": "completed"}, f"purge: {res}")
check(all(q.status() == "CANCELLED" for q in queued), "purged jobs are cancelled")
health = ep.health()
check(health["jobs"]["inQueue"] == 0, f"queue empty after purge: {health}")
check(health["workers"]["running"] >= 1, f"workers running the blockers: {health}")
for b in blockers:
    check(b.output(timeout=30)["echo"]["sleep"] == 3, "blockers finish")

print(f"{checks} checks passed", flush=True)
