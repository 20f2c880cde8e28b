-- Functions the kt 0.9.6 sample program calls through tt.lua (ttserver -ext tt_example.lua).
-- kt's Tokyo Tyrant stand-in runs this same file.

-- greet: answers "hello, " .. key
function greet(key, value)
  return "hello, " .. key
end

-- swap: stores value under key and answers the value it replaced ("" if there was none)
function swap(key, value)
  local previous = _get(key)
  _put(key, value)
  return previous or ""
end
