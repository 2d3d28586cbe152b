-- wrk script for bench/surge.py's GET steps with --generator wrk (driven by bench/wrk.py).
--
-- wrk alone counts only "Non-2xx or 3xx responses"; this counts every answer by its status, and
-- refusals (4xx, 5xx) by status and error code too, so that a "503 busy" (load shedding) can be
-- told from a "503 unavailable" (the store could not be read). At the end it prints one line
-- after wrk's report:  statuses: 200=N 503/busy=M 503/unavailable=K
--
-- Usage: wrk -s bench/wrk_statuses.lua URL

local threads = {}

-- In wrk's main Lua state: remember every thread, to collect its counts in done().
function setup(thread)
   table.insert(threads, thread)
end

-- In each thread's state (a global, so that done() can read it with thread:get).
counts = {}

function response(status, headers, body)
   local key = status
   if status >= 400 then
      key = status .. "/" .. (body:match('"code"%s*:%s*"([^"]+)"') or "?")
   end
   counts[key] = (counts[key] or 0) + 1
end

function done(summary, latency, requests)
   local total = {}
   for _, thread in ipairs(threads) do
      for status, count in pairs(thread:get("counts")) do
         total[status] = (total[status] or 0) + count
      end
   end
   local line = {}
   for status, count in pairs(total) do
      line[#line + 1] = status .. "=" .. count
   end
   io.write("statuses: ", table.concat(line, " "), "\n")
end
