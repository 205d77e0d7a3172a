-- wrk script: POST a unique Sekoia alert event per request (unique uuids, so
-- the durable store writes every one instead of deduplicating), and print
-- one machine-readable RESULT line at the end.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() + tid * 7919)
  run = string.format("%d-%d", os.time(), math.random(1, 1000000000))
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"type":"alert","action":"created","attributes":{"uuid":"b-%s-%d-%d","short_id":"ALbench"},' ..
    '"metadata":{"version":2,"created_at":%d,"community_uuid":"3a2b1c0d-0000-4000-8000-000000000000"}}',
    run, tid, counter, counter)
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d p999_us=%d errors=%d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
    e.connect + e.read + e.write + e.timeout + e.status))
end
