-- wrk script of the benchmark: sends the persona's cookie or token, counts every answer that
-- is not a 200 as an error (a redirect to the log-in page is a failure here, not a success),
-- and prints one JSON line at the end.
local cookie = os.getenv("BENCH_COOKIE") or ""
local auth = os.getenv("BENCH_AUTH") or ""
if cookie ~= "" then wrk.headers["Cookie"] = cookie end
if auth ~= "" then wrk.headers["Authorization"] = auth end
local hx = os.getenv("BENCH_HX") or ""  -- as htmx sends it, for a fragment
if hx ~= "" then wrk.headers["HX-Request"] = hx end

local threads = {}

function setup(thread)
  thread:set("errors", 0)
  table.insert(threads, thread)
end

function init(args)
  errors = 0
end

function response(status, headers, body)
  if status ~= 200 then errors = errors + 1 end
end

function done(summary, latency, requests)
  local non200 = 0
  for _, t in ipairs(threads) do non200 = non200 + t:get("errors") end
  local e = summary.errors
  io.write(string.format(
    '{"p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d, "requests": %d, ' ..
    '"duration_us": %d, "non200": %d, "socket_errors": %d}\n',
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    summary.requests, summary.duration, non200,
    e.connect + e.read + e.write + e.timeout))
end
