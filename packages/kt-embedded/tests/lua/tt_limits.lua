-- Failures for test_standin_tyrant_lua.py: each function fails its call (code 1) on the real
-- ttserver and on the stand-in, which then answers the next request. The runaway ones (loops,
-- allocations) run on the stand-in only: ttserver has no limit and would spin or grow for ever.

function ok(key, value) return "ok" end

-- a Lua runtime error, and a built-in ttserver 1.1.41 does not have
function fails(key, value) local t = nil return t.field end
function absent(key, value) return _tokenize(value) end
function bad_arguments(key, value) return _put(key) end

-- what the stand-in refuses, naming it (the time limit owns the hook; os.exit would end the server)
function sethook(key, value) debug.sethook() return "hook removed" end
function exit(key, value) os.exit(0) return "still here" end

-- time: an infinite loop, however it is wrapped
function spin(key, value) while true do end end
function spin_pcall(key, value)
  while true do pcall(function() while true do end end) end
end
function spin_xpcall(key, value)
  while true do xpcall(function() while true do end end, function(e) return e end) end
end
function spin_coroutine(key, value)
  local co = coroutine.create(function() while true do end end)
  return tostring(coroutine.resume(co))
end
function spin_wrap(key, value)
  local f = coroutine.wrap(function() while true do coroutine.yield(1) end end)
  while true do pcall(f) end
end
function spin_recursive(key, value)
  local function f(n) if n > 100 then return f(0) end return f(n + 1) end
  return f(0)
end
function sleep_long(key, value) return tostring(_sleep(3600)) end
function lock_twice(key, value) _lock("held") _lock("held") return "unreachable" end
function unlock_held(key, value) return tostring(_unlock("held")) end

-- memory: one huge allocation, growth, and growth kept in a global
function alloc_string(key, value) return #string.rep("x", 2^30) end
function alloc_table(key, value)
  local t = {}
  for i = 1, 1e9 do t[i] = string.rep("y", 64) .. i end
  return #t
end
function alloc_concat(key, value)
  local s = "z"
  while true do s = s .. s end
end
function alloc_pcall(key, value)
  while true do pcall(string.rep, "x", 2^30) end
end
function alloc_global(key, value)
  hoard = {}
  for i = 1, 1e9 do hoard[i] = string.rep("h", 100) .. i end
end
function hoarded(key, value) return tostring(hoard and #hoard) end
-- and outside Lua: records, stash and mapreduce emits a single call stores
function flood_records(key, value)
  local big = string.rep("r", 1024 * 1024)
  for i = 1, 1e9 do _put("flood" .. i, big) end
end
function flood_stash(key, value)
  local big = string.rep("s", 1024 * 1024)
  for i = 1, 1e9 do _stashput("flood" .. i, big) end
end
function flood_emits(key, value)
  _put("one", "record")
  local big = string.rep("e", 1024 * 1024)
  return tostring(_mapreduce(function(k, v, emit) while true do emit(k, big) end end,
                             function() return true end))
end
function memory_in_use(key, value) return string.format("%d", collectgarbage("count") * 1024) end
