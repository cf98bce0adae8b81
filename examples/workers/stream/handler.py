"""A generator handler: each yield is a chunk that /stream hands out in order.

input: {"chunks": n, "gap": seconds between chunks}
"""
import time

import runpod


def handler(job):
    inp = job["input"]
    for i in range(int(inp.get("chunks", 3))):
        time.sleep(float(inp.get("gap", 0.1)))
        yield {"chunk": i, "text": f"token-{i}"}


if __name__ == "__main__":
    runpod.serverless.start({"handler": handler})
