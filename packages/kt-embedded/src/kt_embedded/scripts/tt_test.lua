-- The project's test ext script for the real ttserver (-ext tt_test.lua).
-- kt_embedded/scripts/tt_test.py holds the same functions for the stand-in.
-- Each function gets (key, value) and returns a string; nil means failure (code 1).

-- echo: the key and the value joined by a tab
function echo(key, value)
  return key .. "\t" .. value
end

-- records: several "key<TAB>value" lines
function records(key, value)
  return "alpha\t1\nbeta\ttwo\ngamma\tthree\n"
end

-- binary: NUL, 0xFF, 0x01, LF and TAB bytes
function binary(key, value)
  return "\0\255\1\n\t"
end

-- swap: store value under key, return the previous value ("" if none)
function swap(key, value)
  local old = _get(key)
  _put(key, value)
  return old or ""
end

-- incr: add the decimal value to the number stored under key, return the new total
function incr(key, value)
  local old = tonumber(_get(key) or "0") or 0
  local total = old + (tonumber(value) or 0)
  _put(key, tostring(total))
  return tostring(total)
end

-- fail: nil is failure
function fail(key, value)
  return nil
end
