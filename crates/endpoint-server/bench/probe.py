"""A 33rd client beside wrk: one sequential durable POST /run every 2 ms, timing each.

    python3 probe.py SECONDS [PORT]

Prints the count, p50, p99 and max in ms, then each request over 30 ms as
`second-into-the-run:ms` (when a stall happened, to line it up with a profile).
An independent check on wrk's own latency figures, which on this machine imply more
requests in flight than wrk has connections (docs/benchmarks.md).
"""
import http.client
import sys
import time

seconds = float(sys.argv[1])
port = int(sys.argv[2]) if len(sys.argv) > 2 else 18125
conn = http.client.HTTPConnection("127.0.0.1", port)
lat, spikes = [], []
t0 = time.time()
while time.time() - t0 < seconds:
    s = time.perf_counter()
    conn.request("POST", "/v2/local/run", body='{"input":{"sleepMs":1}}',
                 headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    r.read()
    if r.status != 200:
        sys.exit(f"POST /run answered {r.status}")
    ms = (time.perf_counter() - s) * 1000
    lat.append(ms)
    if ms > 30:
        spikes.append("%.1fs:%.0fms" % (time.time() - t0, ms))
    time.sleep(0.002)
lat.sort()
print(len(lat), "p50 %.2f p99 %.2f max %.2f" % (lat[len(lat) // 2], lat[int(len(lat) * 0.99)], lat[-1]),
      " ".join(spikes))
