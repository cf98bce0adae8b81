-- wrk script: POST /v2/local/run with a small job (durable write per request).
wrk.method = "POST"
wrk.body = '{"input":{"sleepMs":1}}'
wrk.headers["Content-Type"] = "application/json"
