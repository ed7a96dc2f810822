-- wrk script for bench/tools.sh: "direct" POSTs Immich's /api/search/metadata; "mcp" calls the
-- queryPhotos tool for the same page over the stateless MCP wire. Usage: wrk -s query.lua URL -- direct|mcp
local mode = "direct"
local counter = 0
function init(args) mode = args[1] or "direct" end
function request()
  counter = counter + 1
  if mode == "direct" then
    return wrk.format("POST", nil, { ["Content-Type"] = "application/json", ["x-api-key"] = "demo-admin-key" },
      '{"size":50,"page":1,"withExif":true,"withPeople":true}')
  end
  local body = '{"jsonrpc":"2.0","id":' .. counter .. ',"method":"tools/call","params":{"name":"queryPhotos","arguments":{"limit":50},'
    .. '"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}'
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json", ["Accept"] = "application/json, text/event-stream",
    ["MCP-Protocol-Version"] = "2026-07-28", ["Mcp-Method"] = "tools/call", ["Mcp-Name"] = "queryPhotos",
    ["x-api-key"] = "demo-admin-key" }, body)
end
function response(status, headers, body)
  if status ~= 200 or (mode == "mcp" and string.find(body, '"isError":true', 1, true)) then print("bad reply " .. status) end
end
