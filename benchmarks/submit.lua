-- wrk script of benchmarks/executions.py: submit the JSON body in BENCH_BODY as an asynchronous
-- execution (Prefer: respond-async), each answered 202 with the execution's id.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Prefer"] = "respond-async"
