-- wrk script for bench/ingest.py: POST the bodies of the file WRK_BODIES names (one JSON body a line) in turn,
-- each wrk thread from its own place in the list (as bench/_load.py's connections do), and print the run's
-- counts and latency percentiles as one line of JSON, which bench/ingest.py reads.

local bodies = {}
for line in io.lines(os.getenv("WRK_BODIES")) do
  bodies[#bodies + 1] = line
end

local threads = 0
function setup(thread)
  thread:set("first", threads * 7919)
  threads = threads + 1
end

local index = nil
local headers = { ["Content-Type"] = "application/json" }
function request()
  index = ((index or first or 0) % #bodies) + 1
  return wrk.format("POST", nil, headers, bodies[index])
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "status_errors": %d, "socket_errors": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
