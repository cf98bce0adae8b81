"""A protocol-level probe worker for the benchmarks: it speaks the worker protocol
(job-take long-poll, job-done, ping) with aiohttp and nothing else, so what it
measures is the server's own time, not the runpod SDK's loop (which sleeps up to
0.1 s before running a job and 1 s before asking for the next one).

For each job it writes one line to $PROBE_OUT:
  <job id> <received, unix s> <job-done sent> <job-done answered> <status shows it>
"""
import asyncio
import json
import os
import time

import aiohttp

TAKE = os.environ["RUNPOD_WEBHOOK_GET_JOB"]
DONE = os.environ["RUNPOD_WEBHOOK_POST_OUTPUT"]
PING = os.environ["RUNPOD_WEBHOOK_PING"]
KEY = os.environ["RUNPOD_AI_API_KEY"]
STATUS = os.environ["PROBE_STATUS_URL"]  # .../v2/<ep>/status/
OUT = os.environ["PROBE_OUT"]


async def pinger(s):
    while True:
        try:
            async with s.get(PING, headers={"Authorization": KEY}) as r:
                await r.read()
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(2)


async def main():
    out = open(OUT, "a", buffering=1)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as s:
        asyncio.create_task(pinger(s))
        while True:
            async with s.get(TAKE + "&job_in_progress=0", headers={"Authorization": KEY}) as r:
                if r.status != 200:
                    await r.read()
                    continue
                job = await r.json()
            received = time.time()
            body = json.dumps({"output": {"receivedAt": received}})
            url = DONE.replace("$ID", job["id"]) + "&isStream=false"
            sent = time.time()
            async with s.post(url, data=body, headers={"Authorization": KEY}) as r:
                await r.read()
            answered = time.time()
            while True:
                async with s.get(STATUS + job["id"]) as r:
                    st = await r.json()
                if st.get("status") == "COMPLETED":
                    break
            shown = time.time()
            out.write(f"{job['id']} {received:.6f} {sent:.6f} {answered:.6f} {shown:.6f}\n")


if __name__ == "__main__":
    print("probe worker up", flush=True)
    asyncio.run(main())
