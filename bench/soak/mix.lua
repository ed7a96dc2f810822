-- wrk script for bench/soak.sh: a mixed load of MCP tool calls (the stateless 2026-07-28 wire)
-- and /api requests through the gateway, with SOAK_DELAY_MS between a connection's requests
-- (0: as fast as it goes, to find the capacity). Non-2xx answers are counted and reported.
local delay_ms = tonumber(os.getenv("SOAK_DELAY_MS") or "0")
local n, bad = 0, 0
local meta = ',"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}'

local function call(tool, arguments)
  return function(i)
    local headers = { ["Content-Type"] = "application/json", ["Accept"] = "application/json, text/event-stream",
      ["MCP-Protocol-Version"] = "2026-07-28", ["Mcp-Method"] = "tools/call", ["Mcp-Name"] = tool }
    local body = '{"jsonrpc":"2.0","id":' .. i .. ',"method":"tools/call","params":{"name":"' .. tool ..
      '","arguments":' .. arguments .. meta .. '}}'
    return wrk.format("POST", "/mcp", headers, body)
  end
end
local function api(path)
  return function() return wrk.format("GET", path, { ["x-api-key"] = "demo-admin-key" }) end
end

local mix = {}
local function add(weight, make) for _ = 1, weight do mix[#mix + 1] = make end end
add(30, call("queryPhotos", '{"limit":20}'))
add(10, call("listPeople", '{}'))
add(10, call("listTags", '{}'))
add(25, api("/api/server/ping"))
add(15, api("/api/people"))
add(10, api("/api/server/about"))
math.randomseed(11)
local order = {}
for k = 1, 1000 do order[k] = math.random(#mix) end

function request()
  n = n + 1
  return mix[order[(n % 1000) + 1]](n)
end

function delay()
  return delay_ms
end

function response(status, headers, body)
  if status ~= 200 then
    bad = bad + 1
    if bad <= 5 then print("unexpected status " .. status .. ": " .. string.sub(body, 1, 200)) end
  end
end
