-- wrk script: rotates request paths over a template so that every request is a distinct URL.
-- Env: PATH_TEMPLATE (placeholders {W} width, {Q} quality, {N} unique counter),
--      WMIN/WMAX (default 200/400), QMIN/QMAX (default 80/80), OFFSET (start index, default 0).
-- Width cycles fastest, then quality: (WMAX-WMIN+1)*(QMAX-QMIN+1) distinct (W,Q) pairs.
local tmpl   = os.getenv("PATH_TEMPLATE") or "/w_{W},q_{Q}/medium.jpg"
local wmin   = tonumber(os.getenv("WMIN") or "200")
local wmax   = tonumber(os.getenv("WMAX") or "400")
local qmin   = tonumber(os.getenv("QMIN") or "80")
local qmax   = tonumber(os.getenv("QMAX") or "80")
local offset = tonumber(os.getenv("OFFSET") or "0")
local created = 0  -- not `nthreads`: a local of that name would hide the per-thread global request() reads
local threads = {}

function setup(thread)
  thread:set("tid", created)
  created = created + 1
  table.insert(threads, thread)
  for _, t in ipairs(threads) do t:set("nthreads", created) end
end

local i = 0
function request()
  local k = offset + i * (nthreads or 1) + (tid or 0)
  i = i + 1
  local nw = wmax - wmin + 1
  local nq = qmax - qmin + 1
  local w = wmin + (k % nw)
  local q = qmin + (math.floor(k / nw) % nq)
  local p = tmpl:gsub("{W}", tostring(w)):gsub("{Q}", tostring(q)):gsub("{N}", tostring(k))
  return wrk.format("GET", p)
end

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d secs=%.2f rps=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f mean_ms=%.2f bytes=%d non2xx=%d sockerr=%d timeouts=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, latency.mean / 1000, summary.bytes, e.status,
    e.connect + e.read + e.write, e.timeout))
end
