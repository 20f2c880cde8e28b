-- One ext function per Tokyo Tyrant 1.1.41 Lua built-in (test_standin_tyrant_lua.py calls them on the
-- real ttserver and on the stand-in and compares). Each runs its cases under pcall and answers a
-- canonical dump of every result (or error message), so any difference shows.

local function dump(v)
  local t = type(v)
  if t == "string" then return string.format("%q", v) end
  if t == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b)
      if type(a) == type(b) and type(a) ~= "boolean" then return a < b end
      return type(a) < type(b)
    end)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = dump(k) .. "=" .. dump(v[k]) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  return tostring(v)
end

local function pack(...) return {n = select("#", ...), ...} end

-- runs each case; answers one line per case: "ok v1 v2..." or "err message"
local function run(cases)
  local lines = {}
  for i, case in ipairs(cases) do
    local r = pack(pcall(case))
    local parts = {}
    for j = 2, r.n do parts[#parts + 1] = dump(r[j]) end
    lines[#lines + 1] = i .. " " .. (r[1] and "ok " or "err ") .. table.concat(parts, " ")
  end
  return table.concat(lines, "\n")
end

local function sorted(list)
  table.sort(list)
  return list
end

function pack_(key, value)
  return run({
    function() return _pack("i", 1) end,
    function() return _pack("cCsSiIlLfdnNMw", -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1) end,
    function() return _pack("C", 256), _pack("C", 300.7), _pack("c", -129), _pack("S", 70000) end,
    function() return _pack("I", 2^40), _pack("I", -2^40), _pack("i", 2^31), _pack("i", 2^33 + 5) end,
    function() return _pack("L", 2^64), _pack("L", 2^63), _pack("L", -2^63 - 4096), _pack("l", 2^70) end,
    function() return _pack("w", 0, 127, 128, 16383, 16384, 2^21, 2^28, 2^35, 2^42, 2^49, 2^56, 2^63, 2^64 - 1) end,
    function() return _pack("w", -1), _pack("f", 1e39), _pack("f", -1e39), _pack("f", 0/0), _pack("d", 1.5, 2.5) end,
    function() return _pack("i*", 1, 2, 3), _pack("i2", 1, 2, 3), _pack("i2s", 1, 2, 3), _pack("i10", 1) end,
    function() return _pack("i", {1, 2}, 3), _pack("i*", {1, 2}, "3", "x", true), _pack("i*", "0x10") end,
    function() return _pack("", 1), _pack("x", 1), _pack("ix", 1, 2, 3), _pack("i0s", 1, 2), _pack(5, 1) end,
    function() return _pack("iw*", 1, 300, 3), _pack("N*", 1, 0x01020304), _pack("n", 65535, 65536) end,
    function() return _pack("i") end,
    function() return _pack() end,
    function() return _pack({}) end,
  })
end

function unpack_(key, value)
  return run({
    function() return _unpack("i", _pack("i", -5)), _unpack("I", _pack("i", -5)) end,
    function() return _unpack("cCsS", "\255\255\255\255\255\255") end,
    function() return _unpack("i*", "\1\0\0\0\2\0\0\0\3"), _unpack("i2c", "\1\0\0\0\2\0\0\0\3") end,
    function() return _unpack("w*", "\129\1\5\255"), _unpack("w", "") end,
    function() return _unpack("d", _pack("d", 0.1)), _unpack("f", _pack("f", 0.1)) end,
    function() return _unpack("l", _pack("l", -2^53)), _unpack("L", _pack("L", 2^64 - 1)) end,
    function() return _unpack("M", "\0\0\0\0\0\0\1\0"), _unpack("nN", "\1\2\3\4\5\6") end,
    function() return _unpack("x*i", "\1\0\0\0"), _unpack("c3", "ab"), _unpack("i", 12345) end,
    function() return _unpack("i", nil), _unpack("i", {}) end,
    function() return _unpack("i") end,
    function() return _unpack(nil, "x") end,
  })
end

function split_(key, value)
  return run({
    function() return _split("a,b,,c", ","), _split("a b\tc", " \t"), _split("a,b,", ",") end,
    function() return _split("", ","), _split("abc", ""), _split("a,b\0,c", ","), _split("a,b", ",\0b") end,
    function() return _split("a\0b\0", nil), _split("a\0b"), _split(""), _split("x", true) end,
    function() return _split(123.5, ".") end,
    function() return _split() end,
    function() return _split({}) end,
  })
end

function codec_(key, value)
  local tcbs_long = string.rep("abc", 100) .. string.rep("z", 70) .. "the end"
  return run({
    function() return _codec("url", "a b&c=d/\195\169~*'()\0\255"), _codec("URL", "A") end,
    function() return _codec("~url", "a+b%20c%41%4"), _codec("~url", "%zz%41"), _codec("~url", "x%00y") end,
    function() return _codec("base", ""), _codec("base", "a"), _codec("base", "ab"), _codec("base", "\0\255\254\1") end,
    function() return _codec("~base", "YWJj"), _codec("~base", "YW Jj\nZA=="), _codec("~base", "YQ") end,
    function() return _codec("~base", "YQ="), _codec("~base", "Y"), _codec("~base", "===="), _codec("~base", "!!") end,
    function() return _codec("quote", "a=b\tc\r\n\0\127\200~ "), _codec("~quote", "a=3Db=0A=\r\nc=\nd=4") end,
    function() return _codec("~quote", "=zz=GG=41=4"), _codec("~quote", "=") end,
    function() return _codec("hex", "\0\255ab"), _codec("~hex", "00ff6162"), _codec("~hex", "0 0 f f") end,
    function() return _codec("~hex", "zz41"), _codec("~hex", "abc"), _codec("~hex", "a\0bc"), _codec("~hex", "\20041") end,
    function() return _codec("pack", "aaaaabcddddd"), _codec("pack", "abcdefg"), _codec("pack", ""), _codec("pack", "aab") end,
    function() return _codec("pack", string.rep("x", 300)), _codec("pack", "abcabcaaaaaaaaaaabbbbbbbc\0\0\0") end,
    function() return _codec("~pack", _codec("pack", "aaaaabcddddd")), _codec("~pack", "\5"), _codec("~pack", "\250ab") end,
    function() return _codec("~tcbs", _codec("tcbs", tcbs_long)) == tcbs_long, _codec("~tcbs", ""), _codec("~tcbs", "\3") end,
    function()
      local same = {}
      for _, text in ipairs({"", "a", "hello hello", "abab", string.rep("ab", 40), string.rep("a", 200)}) do
        same[#same + 1] = _codec("~tcbs", _codec("tcbs", text)) == text
      end
      return unpack(same)
    end,
    function() return _codec("deflate", "hello hello hello"), _codec("~deflate", _codec("deflate", "hi")) end,
    function() return _codec("~deflate", "garbage"), _codec("gzip", "hello hello hello"), _codec("~gzip", _codec("gzip", "hi")) end,
    function() return _codec("bzip", "hello hello hello"), _codec("~bzip", _codec("bzip", "hi")) end,
    function() return _codec("xml", "<a href=\"x\">&amp;'</a>"), _codec("~xml", "&lt;&gt;&amp;&quot;&apos;&#65;&") end,
    function() return _codec("nosuch", "x"), _codec("~nosuch", "x"), _codec("hex", 255), _codec(1, 2) end,
    function() return _codec("url") end,
    function() return _codec("url", nil) end,
  })
end

-- tcbs's encoded bytes differ between Tokyo Cabinet builds (see tests/test_standin_tyrant_lua.py);
-- codec_ keeps what every build agrees on: decoding, and each build's own round trip.
function tcbs_(key, value)
  local tcbs_long = string.rep("abc", 100) .. string.rep("z", 70) .. "the end"
  return run({
    function() return _codec("tcbs", ""), _codec("tcbs", "a"), _codec("tcbs", "hello hello"), _codec("tcbs", "abab") end,
    function() return _codec("tcbs", string.rep("ab", 40)), _codec("tcbs", string.rep("a", 200)), _codec("tcbs", tcbs_long) end,
  })
end

function hash_(key, value)
  return run({
    function() return _hash("md5", "abc"), _hash("MD5raw", "abc"), _hash("md5", "") end,
    function() return _hash("crc32", ""), _hash("crc32", "\0\255"), _hash("CRC32", "hello") end,
    function() return _hash("sha1", "x"), _hash("md5", 123) end,
    function() return _hash("md5") end,
  })
end

function bit_(key, value)
  return run({
    function() return _bit("and", 12, 10), _bit("or", 12, 10), _bit("xor", 12, 10), _bit("not", 0), _bit("not", 5) end,
    function() return _bit("left", 1, 31), _bit("left", 1, 32), _bit("left", 1, 33), _bit("right", -1, 4) end,
    function() return _bit("and", -1, 2^33), _bit("AND", 2^32 + 5, 7), _bit("and", 1.9, 3), _bit("and", "12", "10") end,
    function() return _bit("and", "x", 1), _bit("and", 5) end,
    function() return _bit("nosuch", 1, 2) end,
    function() return _bit("and") end,
  })
end

function strstr_(key, value)
  return run({
    function() return _strstr("hello world", "o"), _strstr("hello world", "z"), _strstr("hello", "") end,
    function() return _strstr("hello world", "o", "0"), _strstr("aaaa", "aa", "b"), _strstr("hello", "", "x") end,
    function() return _strstr("a\0b", "b"), _strstr("abc", "b", ""), _strstr(12345, 3), _strstr("ab", "b", nil) end,
    function() return _strstr("abc") end,
  })
end

function regex_(key, value)
  return run({
    function() return _regex("hello", "l+"), _regex("hello", "^h.*o$"), _regex("hello", "*HELLO"), _regex("hello", "HELLO") end,
    function() return _regex("hello", "["), _regex("hello", "l", "L"), _regex("hello", "l+", "<&>") end,
    function() return _regex("hello world", "(o)(.)", "[\\2\\1]"), _regex("abc", "x*", "-"), _regex("abc", "b*", "-") end,
    function() return _regex("abc", "", "-"), _regex("abc", "*", "-"), _regex("aaa", "^a", "b") end,
    function() return _regex("foo bar", "[[:space:]]", "_"), _regex("ab", "a|ab", "[&]"), _regex("xyz", "y", "\\\\n\\&") end,
    function() return _regex("abc", "(", "x"), _regex("a.b", "\\.", "!"), _regex("\200\201", ".", "x") end,
    function() return _regex("h\195\169llo", "h.l", "X"), _regex("AbAb", "*b", "c"), _regex("a\0b", "b") end,
    function() return _regex("abc") end,
  })
end

function ucs_(key, value)
  return run({
    function() return _ucs("abc"), _ucs("h\195\169llo \226\152\131 \240\157\132\158 x") end,
    function() return _ucs("\200\201\202"), _ucs("\195"), _ucs("\226\130"), _ucs("a\0b"), _ucs(123) end,
    function() return _ucs({97, 98, 99}), _ucs({233, 9731, 65535, 65536 + 97, -1}), _ucs({97, 0, 98}) end,
    function() return _ucs({97, "98", "x", true}), _ucs({1.9, -1.5}), _ucs({}) end,
    function() return _ucs() end,
    function() return _ucs(nil) end,
    function() return _ucs("a", "b") end,
  })
end

function dist_(key, value)
  return run({
    function() return _dist("kitten", "sitting"), _dist("", "abc"), _dist("h\195\169llo", "hello") end,
    function() return _dist("h\195\169llo", "hello", true), _dist("h\195\169llo", "hello", false), _dist("x\195\169", "x", 0) end,
    function() return _dist("a\0b", "a"), _dist(123, 124) end,
    function() return _dist(string.rep("a", 4100), string.rep("a", 4099) .. "b") end,
    function() return _dist("a") end,
  })
end

function isect_(key, value)
  return run({
    function() return _isect({"a", "b", "c"}, {"b", "c", "d"}), _isect({"a", "b", "c"}, {"c", "b", "b", "x"}) end,
    function() return _isect({"a", "b"}, {"b"}, {"b", "c"}), _isect({"a", "b", "a"}) end,
    function() return _isect({{"a", "b"}, {"b", "c"}}), _isect({{"a", "b"}, {"b", "c"}, "x", {"b"}}) end,
    function() return _isect({"a", "b"}, {}), _isect({"a", "b"}, "zz", {"b"}), _isect({1, 2, 3}, {"2", 3}) end,
    function() return _isect(), _isect({"a", true, "b"}, {"b", "a"}), _isect({"x"}, {"x"}, {"x"}, {"y", "x"}) end,
  })
end

function union_(key, value)
  return run({
    function() return _union({"a", "b"}, {"b", "c"}, {"a", "d"}), _union({{"a", "b"}, {"c"}}) end,
    function() return _union({"a", "a"}), _union(), _union({1, 2.5}, {"1"}), _union({"a"}, 5, {"b"}) end,
  })
end

function time_(key, value)
  return run({
    function() local t = _time() return type(t), t > 1e9, _time() >= t end,
    function() return _time(1) end,
  })
end

function sleep_(key, value)
  return run({
    function() return _sleep(0), _sleep(-1), _sleep(1/0), _sleep(0/0), _sleep(1e-320) end,
    function() local t = _time() local ok = _sleep(0.001) return ok, _time() - t < 0.5 end,
    function() local t = _time() local ok = _sleep("0.05") return ok, _time() - t >= 0.04 end,
    function() return _sleep("x") end,
    function() return _sleep() end,
  })
end

-- key: an empty directory to play in
function files_(key, value)
  local dir = key
  local function rel(list)
    for i, p in ipairs(list) do list[i] = string.sub(p, #dir + 2) end
    return sorted(list)
  end
  return run({
    function() return _stat(dir .. "/nonexistent"), _mkdir(dir .. "/sub"), _mkdir(dir .. "/sub") end,
    function()
      local st = _stat(dir .. "/sub")
      return st._directory, st._regular, type(st.mode), st._realpath == _stat(dir)._realpath .. "/sub"
    end,
    function()
      local f = io.open(dir .. "/sub/file.txt", "w") f:write("12345") f:close()
      local st = _stat(dir .. "/sub/file.txt")
      return st.size, st._regular, st._readable, st._writable, st._executable, st.nlink, type(st.mtime)
    end,
    function() return rel(_glob(dir .. "/*")), rel(_glob(dir .. "/sub/*.txt")), _glob(dir .. "/none*") end,
    function() return _remove(dir .. "/nonexistent"), _mkdir(dir .. "/nonexistent/x/y") end,
    function() return _remove(dir .. "/sub"), _stat(dir .. "/sub"), _glob(dir .. "/*") end,
    function() return _stat() end,
    function() return _mkdir() end,
  })
end

function log_(key, value)
  return run({
    function() return select("#", _log("a message from tt_builtins.lua")) end,
    function() return _log("an error message", 2), _log("level as text", "1") end,
    function() return _log() end,
    function() return _log({}) end,
  })
end

function globals_(key, value)
  return run({
    function() return _version, _thnum, _sid, type(_pid), _pid > 0, type(_thid), _thid >= 1 and _thid <= _thnum end,
    function() return _tokenize end,
    function() return _tokenize("a b") end,
  })
end

-- the database: every case starts from an empty one
function records_(key, value)
  _vanish()
  return run({
    function() return _put("a", "1"), _put(1, 2.5), _get(1), _putkeep("a", "2"), _putkeep("b", "2") end,
    function() return _putcat("a", "x"), _putcat("c", "y"), _get("a"), _get("c"), _get("zz") end,
    function() return _vsiz("a"), _vsiz("zz"), _out("c"), _out("c"), _rnum() end,
    function() return _put("a") end,
    function() return _put("a", nil) end,
    function() return _put("a", {}) end,
    function() return _put("a", "1", "2") end,
    function() return _get() end,
    function() return _out() end,
    function() return _vsiz(true) end,
    function() return _rnum(1) end,
  })
end

function numbers_(key, value)
  _vanish()
  return run({
    function() return _addint("n", 5), _addint("n", "3"), _addint("n", 2^40), _addint("n", -2^40) end,
    function() _put("s", "text") return _addint("s", 1), _adddouble("s", 1) end,
    function() return _adddouble("d", 1.5), _adddouble("d", "2.25"), _adddouble("d", 0/0) end,
    function() return _addint("m", 2^31 - 1), _addint("m", 2^31 - 1), _adddouble("m2", 0.25), _adddouble("m2", -2) end,
    function() return _addint("n") end,
    function() return _addint("n", "x") end,
    function() return _adddouble({}, 1) end,
  })
end

function iterate_(key, value)
  _vanish()
  for _, k in ipairs({"b", "a", "c"}) do _put(k, k .. k) end
  local function all()
    local keys = {}
    while true do
      local k = _iternext()
      if not k then break end
      keys[#keys + 1] = k
    end
    return keys
  end
  return run({
    function() return _iterinit(), sorted(all()), _iternext() end,
    function() return _iterinit(1) end,
    function() return _iternext(1) end,
  })
end

function fwmkeys_(key, value)
  _vanish()
  for _, k in ipairs({"ab", "a", "abc", "b", "ba"}) do _put(k, "v") end
  return run({
    function() return sorted(_fwmkeys("a")), sorted(_fwmkeys("")), #_fwmkeys("", 2), #_fwmkeys("", 0) end,
    function() return #_fwmkeys("", "2"), #_fwmkeys("", "x"), _fwmkeys("zz"), #_fwmkeys("a", 1.9) end,
    function() return _fwmkeys() end,
    function() return _fwmkeys({}) end,
  })
end

function vanish_(key, value)
  _vanish()
  _put("x", "1")
  return run({
    function() return _rnum(), _vanish(), _rnum(), _get("x"), type(_size()) end,
    function() return _vanish(1) end,
    function() return _size(1) end,
  })
end

function misc_(key, value)
  _vanish()
  return run({
    function() return _misc("put", "m1", "v1"), _misc("putlist", {"m2", "v2", "m3", 3}), _misc("get", "m1") end,
    function() return _misc("getlist", {"m1", "m2", "nosuch"}), _misc("$put", "m4", "v4"), _misc("get", "m4") end,
    function() return _misc("out", "nosuch"), _misc("nosuchfn"), _misc("get", true, "m1", {true, nil}) end,
    function() return _misc("getlist", "m1", {"m2"}, 5), _misc("put\0x", "m5", "v5"), _get("m5") end,
    function() return _misc("outlist", "m1", "m2"), _misc("vanish"), _rnum() end,
    function() return _misc() end,
    function() return _misc({}) end,
  })
end

function foreach_(key, value)
  _vanish()
  for _, k in ipairs({"k1", "k2", "k3"}) do _put(k, "v" .. k) end
  local seen = {}
  return run({
    function() return _foreach(function(k, v) seen[#seen + 1] = k .. "=" .. v return true end), sorted(seen) end,
    function() local n = 0 return _foreach(function() n = n + 1 return false end), n end,
    function() local n = 0 return _foreach(function() n = n + 1 end), n end,
    function() local n = 0 return _foreach(function() n = n + 1 error("stop here") end), n end,
    function() return _foreach() end,
    function() return _foreach(1) end,
    function() return _foreach(function() end, 2) end,
  })
end

-- runs on the "+" tree: the reducer sees the keys in order
function mapreduce_(key, value)
  _vanish()
  _put("k1", "a b c")
  _put("k2", "b c d")
  _put("k3", "c d e")
  _put("k4", "z")
  local out
  local function collect(k, vs) out[#out + 1] = k .. ":" .. table.concat(vs, ",") return true end
  local function mr(mapper, reducer, ...)
    out = {}
    local ok = _mapreduce(mapper, reducer, ...)
    return ok, table.concat(out, " ")
  end
  local function words(k, v, emit) for w in string.gmatch(v, "%S+") do emit(w, k) end return true end
  return run({
    function() return mr(words, collect) end,
    function() return mr(function(k, v, emit) emit("x", "9") emit("x", "1") emit("x", "5") emit("y", k) return true end, collect) end,
    function() return mr(function(k, v, emit) emit("x", "9" .. k) emit("x", "1" .. k) return true end, collect, {"k3", "k1", "no", "k2"}) end,
    function() return mr(function(k, v, emit) emit("x", k) return true end, collect, "k2") end,
    function() return mr(function(k, v, emit) emit(k, v) return false end, collect) end,
    function() return mr(function(k, v, emit) if k == "k2" then error("map fail") end emit(k, v) return true end, collect) end,
    function() return mr(function(k, v, emit) if k == "k2" then error("map fail") end emit(k, v) return true end, collect, {"k1", "k2", "k3"}) end,
    function() return mr(words, function(k, vs) collect(k, vs) return k ~= "b" end) end,
    function() return mr(words, function(k, vs) if k == "c" then error("reduce fail") end return collect(k, vs) end) end,
    function() return mr(function(k, v, emit) emit(k) return true end, collect) end,
    function() return mr(function(k, v, emit) emit(k, {}) return true end, collect) end,
    function() return mr(function(k, v, emit) emit(1, 2.5) return true end, collect, {"k1"}) end,
    function() return mr(function() return true end, collect), mr(function() return true end, collect, nil) end,
    function() return mr(words, collect, {}), mr(words, collect, {"k1", "k1"}) end,
    function() return mr(function(k, v, emit) emit("a", "zz") emit("ab", "") emit("a", "b") return true end, collect, {"k1"}) end,
    function() return _mapreduce(function() end) end,
    function() return _mapreduce(1, 2) end,
  })
end

function stash_(key, value)
  _stashvanish()
  return run({
    function() return _stashput("a", "1"), _stashputkeep("a", "2"), _stashget("a"), _stashputkeep("b", "2") end,
    function() return _stashputcat("a", "3"), _stashputcat("c", "4"), _stashget("a"), _stashget("c") end,
    function() return _stashout("a"), _stashout("a"), _stashget("a"), select("#", _stashvanish()), _stashget("b") end,
    function()
      for i = 1, 40 do _stashput("key" .. i, tostring(i)) end
      local order = {}
      local r = pack(_stashforeach(function(k, v) order[#order + 1] = k return true end))
      return r.n, table.concat(order, ",")
    end,
    function()
      local order = {}
      _stashforeach(function(k, v) order[#order + 1] = k return #order < 3 end)
      _stashforeach(function() error("in stashforeach") end)
      return table.concat(order, ",")
    end,
    function() return _stashput("a") end,
    function() return _stashget() end,
    function() return _stashvanish(1) end,
    function() return _stashforeach("x") end,
  })
end

function locks_(key, value)
  return run({
    function() return _lock("k"), _unlock("k"), _unlock("k"), _lock(5), _unlock(5) end,
    function() return _lock() end,
    function() return _unlock({}) end,
  })
end

function eval_(key, value)
  return run({
    function() return _eval("evalvar = 42"), evalvar end,
    function() return _eval() end,
    function() return _eval(1, 2) end,
  })
end

-- what ttserver sends back for each kind of result: the first of a table, numbers as %.14g text
function result_number(key, value) return 42.5 end
function result_big(key, value) return 2^60 end
function result_true(key, value) return true end
function result_false(key, value) return false end
function result_table(key, value) return {"first", "second"} end
function result_table_number(key, value) return {7} end
function result_table_true(key, value) return {true} end
function result_table_false(key, value) return {false} end
function result_table_empty(key, value) return {} end
function result_table_table(key, value) return {{1}} end
function result_two(key, value) return "a", "b" end
function result_none(key, value) end
function result_function(key, value) return print end
function echo(key, value) return key .. "|" .. value end
not_a_function = "x"
function _hidden(key, value) return "hidden" end
