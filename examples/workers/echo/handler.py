"""Echo: returns its input. The knobs make it a test bench for the supervisor.

input: {"sleep": seconds (blocking, like real sync inference) or "sleepMs" (the
load generator's), "progress": n progress updates, "fail": true (raise),
"refresh": true (ask for a fresh worker), anything else echoed}
env: STARTUP_SLEEP seconds of work at import (a model load), so cold starts are known.
"""
import os
import sys
import time

import runpod

time.sleep(float(os.environ.get("STARTUP_SLEEP", "0")))


def handler(job):
    inp = job["input"]
    print(f"echo handler got {sorted(inp)}", flush=True)
    print(f"echo handler: {len(inp)} fields (on stderr)", file=sys.stderr, flush=True)
    for i in range(int(inp.get("progress", 0))):
        runpod.serverless.progress_update(job, f"step {i + 1}")
        time.sleep(0.3)
    time.sleep(float(inp.get("sleep", inp.get("sleepMs", 0) / 1000)))
    if inp.get("fail"):
        raise RuntimeError("failed on request (input.fail)")
    out = {"echo": inp, "worker": os.environ.get("RUNPOD_POD_ID"), "pid": os.getpid()}
    if inp.get("refresh"):
        out["refresh_worker"] = True
    return out


if __name__ == "__main__":
    runpod.serverless.start({"handler": handler})
