"""Fails on demand, in each of the ways real handlers fail.

input: {"raise": "message"} raises (the job FAILS with the SDK's error JSON),
       {"error": "message"} returns an error (FAILS with that message),
       {"exit": code} kills the worker mid-job (os._exit: the job is queued again),
       {"sleep": seconds} works for a while first.
env: EXIT_AT_START=code exits during start-up (a crash loop: a bad image).
"""
import os
import time

import runpod

if os.environ.get("EXIT_AT_START"):
    print("failing at start-up, as asked", flush=True)
    raise SystemExit(int(os.environ["EXIT_AT_START"]))


def handler(job):
    inp = job["input"]
    time.sleep(float(inp.get("sleep", 0)))
    if "exit" in inp:
        print(f"exiting with {inp['exit']} mid-job", flush=True)
        os._exit(int(inp["exit"]))
    if "raise" in inp:
        raise ValueError(inp["raise"])
    if "error" in inp:
        return {"error": inp["error"]}
    return {"ok": True}


if __name__ == "__main__":
    runpod.serverless.start({"handler": handler})
