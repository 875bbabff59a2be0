-- Holds one random seat, then releases that hold, over and over (wrk calls request() for the
-- next request and response() with each answer). Environment: BENCH_TOKEN, BENCH_SHOWTIME,
-- BENCH_FIRST_SEAT, BENCH_SEATS.
local token = os.getenv("BENCH_TOKEN")
local path = "/showtimes/" .. os.getenv("BENCH_SHOWTIME") .. "/holds"
local first_seat = tonumber(os.getenv("BENCH_FIRST_SEAT"))
local seats = tonumber(os.getenv("BENCH_SEATS"))
local auth = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
local to_release = {}
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

-- Each thread its own random sequence: with wrk's default seed every thread picks the same
-- seats at the same moments, and half of all holds were conflicts of the benchmark's making.
function init(args)
  statuses = {}
  math.randomseed(os.time() * 1000 + id)
end

request = function()
  local id = table.remove(to_release)
  if id then
    return wrk.format("DELETE", "/holds/" .. id, auth)
  end
  local seat = first_seat + math.random(0, seats - 1)
  return wrk.format("POST", path, auth, '{"seat_ids":[' .. seat .. ']}')
end

response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 201 then
    local id = body:match('"id":"([^"]+)"')
    if id then table.insert(to_release, id) end
  end
end

-- Every status seen, so that refusals (409 for a seat another connection holds) are visible.
function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do total[status] = (total[status] or 0) + count end
  end
  for status, count in pairs(total) do io.write(string.format("status %d: %d\n", status, count)) end
end
