-- wrk script for bench/surge.py --generator wrk (driven by bench/wrk.py).
--
-- Each wrk thread sends its own share of the step's pre-sealed petitions, each one once, and
-- writes down what it sent and what came back, so that bench/verify.py can check every
-- acknowledgement afterwards:
--
--   DIR/bodies-N   (read)   thread N's requests in order, each "<length>\n" then <length> bytes:
--                            complete HTTP/1.1 requests rendered by bench/wrk.py
--   DIR/answers-N  (write)  "S <position> <us>\n"                 request <position> was handed to wrk
--                           "R <status> <us> <retry> <length>\n" then <length> bytes and "\n":
--                                                                 an answer: for 200 and 201 its
--                                                                 body (the receipt), for others
--                                                                 the error code in it ("busy");
--                                                                 <retry> is 1 if a Retry-After
--                                                                 header came with it
--                           "X <us>\n"                            this thread's share ran out
--
-- wrk renders thread 0's first request once before it starts, to check it, and does not send
-- that one: it has an S record and no answer.
--
-- <us> is CLOCK_MONOTONIC in microseconds. wrk does not tell the script which connection an
-- answer arrived on; bench/wrk.py ties a 200/201 to its request by the petition id the answer
-- names (and refuses two answers naming one petition).
--
-- When a thread's share runs out it stops sending: request() returns nothing to write, so that
-- connection sends no more and waits until wrk stops; the others finish what they sent. No
-- petition is ever sent twice. The step is then reported as having exhausted its pool.
--
-- Usage: wrk -s bench/wrk_submit.lua URL -- DIR

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } surge_timespec;
int clock_gettime(int clock, surge_timespec *now);
]]

local CLOCK_MONOTONIC = 1
local clock = ffi.new("surge_timespec")

local function now_us()
   ffi.C.clock_gettime(CLOCK_MONOTONIC, clock)
   return string.format("%d", tonumber(clock.tv_sec) * 1000000 + math.floor(tonumber(clock.tv_nsec) / 1000))
end

-- In wrk's main Lua state: number the threads. `slot` becomes a global of each thread's state.
local threads = 0
function setup(thread)
   thread:set("slot", threads)
   threads = threads + 1
end

local bodies, answers
local position = 0
local exhausted = false

function init(args)
   local dir = args[1]
   bodies = assert(io.open(dir .. "/bodies-" .. slot, "rb"))
   answers = assert(io.open(dir .. "/answers-" .. slot, "wb"))
   answers:setvbuf("full", 1048576)
end

function request()
   local length = bodies:read("*l")
   if length == nil then
      if not exhausted then
         exhausted = true
         answers:write("X ", now_us(), "\n")
      end
      return "" -- nothing more on this connection
   end
   local rendered = bodies:read(tonumber(length))
   answers:write("S ", position, " ", now_us(), "\n")
   position = position + 1
   return rendered
end

function response(status, headers, body)
   local at = now_us()
   local retry = 0
   if headers["Retry-After"] or headers["retry-after"] then
      retry = 1
   end
   if status ~= 200 and status ~= 201 then
      body = body:match('"code"%s*:%s*"([^"]+)"') or ""
   end
   answers:write("R ", status, " ", at, " ", retry, " ", #body, "\n", body, "\n")
end
