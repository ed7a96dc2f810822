-- A person scrolling Immich's web app, as requests: thumbnails (webp, 20-60 KB) most of all, the
-- timeline's month buckets, search pages (~100 KB JSON), a video read in 1 MiB ranges, pings.
-- Weights out of 100; each wrk thread walks the same seeded sequence.
local mix = {}
local function add(weight, make) for _ = 1, weight do mix[#mix + 1] = make end end
add(50, function(i) return wrk.format("GET", "/api/assets/thumb-" .. (i % 20) .. "/thumbnail") end)
add(15, function(i) return wrk.format("GET", "/api/timeline/bucket-" .. (i % 4)) end)
add(10, function(i) return wrk.format("GET", "/api/search/page") end)
add(5, function(i)
  local start = (i % 19) * 1048576
  return wrk.format("GET", "/api/assets/video/playback", { Range = "bytes=" .. start .. "-" .. (start + 1048575) })
end)
add(20, function(i) return wrk.format("GET", "/api/server/ping") end)
local n = 0
math.randomseed(7)
local order = {}
for k = 1, 1000 do order[k] = math.random(#mix) end
request = function()
  n = n + 1
  return mix[order[(n % 1000) + 1]](n)
end
