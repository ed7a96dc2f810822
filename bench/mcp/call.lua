-- wrk script: POST tools/call of a cheap tool with a fresh JSON-RPC id per request.
-- Session wire: pass a file of session ids (one per line); requests take them in turn, so the
-- connections spread over as many sessions as there are connections.
-- Stateless wire: pass "stateless" to send 2026-07-28 headers and _meta instead.
-- Usage: wrk -s call.lua URL -- SESSIONS_FILE|stateless|plain
local mode, sessions, counter = "plain", {}, 0

function init(args)
  local arg = args[1] or "plain"
  if arg == "stateless" or arg == "plain" then
    mode = arg
  else
    mode = "session"
    for line in io.lines(arg) do table.insert(sessions, line) end
  end
end

function request()
  counter = counter + 1
  local headers = { ["Content-Type"] = "application/json", ["Accept"] = "application/json, text/event-stream" }
  local meta = ""
  if mode == "session" then
    headers["Mcp-Session-Id"] = sessions[(counter % #sessions) + 1]
    headers["MCP-Protocol-Version"] = "2025-11-25"
  elseif mode == "stateless" then
    headers["MCP-Protocol-Version"] = "2026-07-28"
    headers["Mcp-Method"] = "tools/call"
    headers["Mcp-Name"] = "test_simple_text"
    meta = ',"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}'
  else
    headers["MCP-Protocol-Version"] = "2025-11-25"
  end
  local body = '{"jsonrpc":"2.0","id":' .. counter .. ',"method":"tools/call","params":{"name":"test_simple_text","arguments":{}' .. meta .. '}}'
  return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
  if status ~= 200 then
    print("unexpected status " .. status .. ": " .. body)
  end
end
