-- wrk script of benchmarks/slowclients.py: POST BENCH_BODY, and count the 503s with Retry-After.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   busy = 0
end

function response(status, headers, body)
   if status == 503 and (headers["Retry-After"] or headers["retry-after"]) then
      busy = busy + 1
   end
end

function done(summary, latency, requests)
   local total = 0
   for _, thread in ipairs(threads) do
      total = total + thread:get("busy")
   end
   io.write(string.format("503 with Retry-After: %d\n", total))
end
