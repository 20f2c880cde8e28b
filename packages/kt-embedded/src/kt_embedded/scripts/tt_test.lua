-- Ext functions kt's client tests call (ttserver -ext tt_test.lua; the stand-in runs this same file).
-- A function gets (key, value) and returns a string; nil is a failure (code 1).

-- pair: "key=value", so a test sees both arguments arrive, byte for byte
function pair(key, value)
  return key .. "=" .. value
end

-- lines: a fixed multi-line answer with a TAB and an empty line, and no LF at the end
function lines(key, value)
  return "first\nsecond\tcolumn\n\nlast"
end

-- rawbytes: a fixed answer a text decoder would mangle: NUL, 0xFF, 0xFE, CR and LF
function rawbytes(key, value)
  return "\255\0\254\0\1\13\10"
end

-- getset: stores value under key and answers the value it replaced ("" if there was none)
function getset(key, value)
  local previous = _get(key)
  _put(key, value)
  return previous or ""
end

-- add: adds the decimal integer value to the integer stored under key (0 if none), stores and
-- answers the total; nil when either is not an integer. A read-modify-write: without a lock,
-- concurrent calls lose updates.
function add(key, value)
  local stored = _get(key) or "0"
  if not string.match(value, "^%-?%d+$") or not string.match(stored, "^%-?%d+$") then
    return nil
  end
  local total = string.format("%d", tonumber(stored) + tonumber(value))
  _put(key, total)
  return total
end

-- reject: always fails (nil)
function reject(key, value)
  return nil
end
