"""A protocol-level worker that loses the first job it is handed, as if the job-take
answer carrying it had been cut off on the way (the runpod SDK cannot be made to do
that on demand). It then works normally: pings every second listing the jobs it
holds, as the SDK does, and posts results.
"""
import asyncio
import json
import os

import aiohttp

TAKE = os.environ["RUNPOD_WEBHOOK_GET_JOB"]
DONE = os.environ["RUNPOD_WEBHOOK_POST_OUTPUT"]
PING = os.environ["RUNPOD_WEBHOOK_PING"]
AUTH = {"Authorization": os.environ["RUNPOD_AI_API_KEY"]}
held = set()


async def pinger(s):
    while True:
        params = {"runpod_version": "1.12.0"}
        if held:
            params["job_id"] = ",".join(sorted(held))
        try:
            async with s.get(PING, params=params, headers=AUTH) as r:
                await r.read()
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(1)


async def main():
    lost_one = False
    async with aiohttp.ClientSession() as s:
        asyncio.create_task(pinger(s))
        while True:
            async with s.get(TAKE + "&job_in_progress=0", headers=AUTH) as r:
                if r.status != 200:
                    await r.read()
                    continue
                job = await r.json()
            if not lost_one:
                lost_one = True
                print(f"dropping {job['id']} on the floor", flush=True)
                continue
            held.add(job["id"])
            await asyncio.sleep(0.2)
            url = DONE.replace("$ID", job["id"]) + "&isStream=false"
            async with s.post(url, data=json.dumps({"output": {"by": "forgetful"}}), headers=AUTH) as r:
                await r.read()
            held.discard(job["id"])


if __name__ == "__main__":
    asyncio.run(main())
