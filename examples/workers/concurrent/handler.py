"""An async handler with concurrency: one worker runs several jobs at once, and a
stop (cancel, timeout) interrupts a running job at once.

input: {"sleep": seconds}
env: WORKER_CONCURRENCY (set by endpoint-server from `concurrency`)
"""
import asyncio
import os

import runpod

CONCURRENCY = int(os.environ.get("WORKER_CONCURRENCY", "4"))


async def handler(job):
    inp = job["input"]
    try:
        await asyncio.sleep(float(inp.get("sleep", 0.5)))
    except asyncio.CancelledError:
        print("stopped before the end", flush=True)
        raise
    return {"slept": inp.get("sleep", 0.5), "worker": os.environ.get("RUNPOD_POD_ID")}


if __name__ == "__main__":
    runpod.serverless.start(
        {"handler": handler, "concurrency_modifier": lambda current: CONCURRENCY}
    )
