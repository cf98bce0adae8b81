"""RunPod's official Python SDK against endpoint-server: run, status, output, stream,
run_sync, cancel, health, purge_queue. Exits non-zero on the first mismatch.

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


ep = runpod.Endpoint("local")

health = ep.health()
check(set(health) >= {"jobs", "workers"}, f"health shape: {health}")
check(health["jobs"]["inQueue"] == 0, f"empty queue at start: {health}")

# run + status + output (polls /status about once a second)
job = ep.run({"sleepMs": 300, "tag": "sdk"})
check(len(job.job_id) == 36, f"job id: {job.job_id}")
check(job.status() in ("IN_QUEUE", "IN_PROGRESS", "COMPLETED"), "status right after run")
out = job.output(timeout=30)
check(out is not None and out["input"]["tag"] == "sdk", f"output: {out}")
check(job.status() == "COMPLETED", "completed")

# run_sync returns the output directly
out = ep.run_sync({"sleepMs": 100, "tag": "sync"}, timeout=30)
check(out["input"]["tag"] == "sync", f"run_sync output: {out}")

# stream yields the output once and stops
chunks = list(ep.run({"sleepMs": 100, "tag": "stream"}).stream())
check(len(chunks) == 1 and chunks[0]["input"]["tag"] == "stream", f"stream: {chunks}")

# cancel a long job
long_job = ep.run({"sleepMs": 60000})
time.sleep(0.5)
res = long_job.cancel()
check(res["status"] == "CANCELLED", f"cancel: {res}")
check(long_job.status() == "CANCELLED", "status after cancel")

# purge_queue: fill the queue behind a blocker, then purge it
blocker = ep.run({"sleepMs": 60000})
time.sleep(0.5)
for _ in range(5):
    ep.run({"sleepMs": 10})
res = ep.purge_queue()
check(res == {"removed": 5, "status": "completed"}, f"purge_queue: {res}")
check(ep.health()["jobs"]["inQueue"] == 0, "queue empty after purge")
blocker.cancel()

# a wrong key is refused the way the SDK expects (401 -> RuntimeError)
try:
    runpod.Endpoint("local", api_key="wrong").health()
    check(False, "a wrong key must be refused")
except RuntimeError as e:
    check("401" in str(e), f"401 message: {e}")

print(f"runpod {runpod.__version__}: {checks} checks passed", flush=True)
