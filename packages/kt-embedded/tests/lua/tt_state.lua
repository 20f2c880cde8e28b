-- Server-wide behaviour for test_standin_tyrant_lua.py: the states of the worker threads, _begin and
-- _end, _eval, the ext lock options and _lock/_unlock across connections, -extpc.

loads = (loads or 0) + 1  -- every thread's state runs the file once

function _begin()
  _put("begun", "thread " .. _thid)
end

function _end()
  local path = os.getenv("TT_LUA_END_FILE")
  if path then
    local f = io.open(path, "w")
    f:write("ended in thread " .. _thid .. " of " .. _thnum)
    f:close()
  end
end

-- sleeps a little so that concurrent calls hold different threads, then tells which one ran it
function whoami(key, value)
  _sleep(tonumber(value) or 0.3)
  return string.format("%d/%d loads=%d shared=%s", _thid, _thnum, loads, tostring(shared))
end

function share(key, value) return tostring(_eval("shared = " .. string.format("%q", value))) end
function share_broken(key, value) return tostring(_eval("this is not lua")) end

-- read-modify-write without a lock of its own: only the ext lock options make it atomic
function bump(key, value)
  local n = tonumber(_get(key) or "0")
  _sleep(0.001)
  _put(key, n + 1)
  return tostring(n + 1)
end

-- a user lock held across a sleep, and a call waiting for it
function hold(key, value)
  _lock(key)
  _put("holding", "yes")
  _sleep(tonumber(value))
  _put("holding", "no")
  _unlock(key)
  return "released"
end
function wait(key, value)
  _lock(key)
  local seen = _get("holding")
  _unlock(key)
  return seen
end

function tick(key, value)
  _addint("ticks", 1)
  _put("tick thread", string.format("%d/%d", _thid, _thnum))
  return "tick"
end
