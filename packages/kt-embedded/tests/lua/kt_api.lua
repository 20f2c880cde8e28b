-- Procedures for test_standin_kyoto_lua.py: each exercises part of ktserver's Lua API and answers
-- what it saw, so the real ktserver and the stand-in can be compared record for record. Every
-- answer is show(...) of the values a call returned: "nil", "T"/"F", "n:<%.17g>", "s:<string>",
-- a table as {key=value,...} in key order; several values are joined by ",".
-- Names have no "_" (ktserver 0.9.56 answers 400 to an HTTP play_script naming one).
kt = __kyototycoon__
local db, tree = kt.dbs[1], kt.dbs[2]

local show

local function show1(v)
  local t = type(v)
  if t == "nil" then return "nil" end
  if t == "boolean" then return v and "T" or "F" end
  if t == "number" then
    if v ~= v then return "n:nan" end
    return "n:" .. string.format("%.17g", v)
  end
  if t == "string" then return "s:" .. v end
  if t == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return show1(a) < show1(b) end)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = show1(k) .. "=" .. show1(v[k]) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  return t
end

show = function(...)
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do parts[i] = show1((select(i, ...))) end
  return table.concat(parts, ",")
end

-- results in order: outmap["01 label"] = show(...)
local function recorder(outmap)
  local n = 0
  return function(label, ...)
    n = n + 1
    outmap[string.format("%02d %s", n, label)] = show(...)
  end
end

-- pcall that answers "E" on an error (the message is not compared: it names C functions)
local function try(fn, ...)
  local res = {pcall(fn, ...)}
  if not res[1] then return "E" end
  return unpack(res, 2, table.maxn(res))
end

local function errinfo(d)
  local e = (d or db):error()
  return e:code(), e:name(), e:message()
end

function constants(inmap, outmap)
  local put = recorder(outmap)
  put("rv", kt.RVSUCCESS, kt.RVENOIMPL, kt.RVEINVALID, kt.RVELOGIC, kt.RVEINTERNAL)
  put("version", type(kt.VERSION), kt.thid >= 0)
  local e = kt.Error
  put("error codes", e.SUCCESS, e.NOIMPL, e.INVALID, e.NOREPOS, e.NOPERM, e.BROKEN, e.DUPREC, e.NOREC,
      e.LOGIC, e.SYSTEM, e.MISC)
  local d = kt.DB
  put("db consts", d.OREADER, d.OWRITER, d.OCREATE, d.OTRUNCATE, d.OAUTOTRAN, d.OAUTOSYNC, d.ONOLOCK,
      d.OTRYLOCK, d.ONOREPAIR, d.MSET, d.MADD, d.MREPLACE, d.MAPPEND, d.XNOLOCK, d.XNOCOMP)
  put("visitor", type(kt.Visitor.NOP), type(kt.Visitor.REMOVE), kt.Visitor.NOP == kt.Visitor.REMOVE)
  put("dbs", #kt.dbs, kt.db == kt.dbs[1], kt.dbs["*"] == kt.dbs[1], kt.dbs["%"] == kt.dbs[2])
  put("paths", db:path(), tree:path())
  db:clear()
  db:set("a", "1")
  put("tostring", string.match(tostring(db), "^(.*: 1): %d+$"))
  put("types", type(kt.Cursor), type(kt.FileProcessor), type(db.cursor), type(kt.log))
  put("globals", python == nil, type(__kyototycoon__.__serv__), _VERSION)
  return kt.RVSUCCESS
end

-- the standard library the stand-in wraps: pcall, xpcall, coroutines (they answer as in plain Lua)
function coroutines(inmap, outmap)
  local put = recorder(outmap)
  local f = coroutine.wrap(function() error("in co") end)
  local ok, msg = pcall(f)
  put("wrap error", ok, (string.gsub(msg, "%]:%d+:", "]:LINE:")))
  local g = coroutine.wrap(function(a) local b = coroutine.yield(a + 1) return b * 2 end)
  put("wrap yield", g(1), g(5))
  local co = coroutine.create(function(x) local y = coroutine.yield(x, "y") return y end)
  put("resume", coroutine.resume(co, 1))
  put("resume end", coroutine.resume(co, "z"), coroutine.status(co))
  put("resume dead", coroutine.resume(co))
  local co2 = coroutine.create(function() error({}) end)
  local ok2, e2 = coroutine.resume(co2)
  put("resume error", ok2, type(e2), coroutine.status(co2))
  put("pcall nil error", pcall(error))
  put("pcall values", pcall(function() return 1, nil, nil end))
  put("pcall count", select("#", pcall(function() return 1, nil, nil end)))
  put("xpcall", xpcall(function() error("x", 0) end, function(m) return "handled " .. m end))
  put("xpcall ok", xpcall(function() return "fine" end, print))
  put("no pcall args", try(pcall))
  return kt.RVSUCCESS
end

-- every field of the API's tables, with its type: nothing is missing, nothing is extra
function members(inmap, outmap)
  local function fields(t)
    local names = {}
    for k, v in next, t do names[#names + 1] = tostring(k) .. ":" .. type(v) end
    table.sort(names)
    return table.concat(names, " ")
  end
  local cur = db:cursor()
  outmap.kt = fields(kt)
  outmap.dbs = fields(kt.dbs)
  outmap.DB = fields(kt.DB)
  outmap.dbmeta = fields(getmetatable(db))
  outmap.db = fields(db)
  outmap.Cursor = fields(kt.Cursor)
  outmap.cursormeta = fields(getmetatable(cur))
  outmap.cursor = fields(cur)
  outmap.Error = fields(kt.Error)
  outmap.errormeta = fields(getmetatable(db:error()))
  outmap.error = fields(db:error())
  outmap.Visitor = fields(kt.Visitor)
  outmap.visitor = fields(kt.Visitor:new())
  outmap.FileProcessor = fields(kt.FileProcessor)
  outmap.fileprocessor = fields(kt.FileProcessor:new())
  outmap.same = tostring(getmetatable(db) == kt.DB.meta_ and getmetatable(cur) == kt.Cursor.meta_)
  cur:disable()
  return kt.RVSUCCESS
end

-- the return value as the status: tonumber(rv), or rv itself with raw set
function rv(inmap, outmap)
  outmap.x = "y"
  if inmap.raw then return inmap.rv end
  if inmap.rv == "nil" then return nil end
  if inmap.rv == "true" then return true end
  return tonumber(inmap.rv)
end

-- how outmap keys and values of each Lua type reach the client
function outtypes(inmap, outmap)
  outmap.int = 42
  outmap.neg = -7
  outmap.frac = 1.25
  outmap.negfrac = -0.5
  outmap.big = 2 ^ 53
  outmap.huge = 1e300
  outmap.inf = math.huge
  outmap.nan = 0 / 0
  outmap.t = true
  outmap.f = false
  outmap.tbl = {}
  outmap.fn = print
  outmap[3] = "three"
  outmap[2.5] = "twohalf"
  outmap[true] = "bool key"
  outmap.bin = "\0\1\255"
  return kt.RVSUCCESS
end

-- inmap as the script sees it
function inmapview(inmap, outmap)
  outmap.view = show(inmap)
  return kt.RVSUCCESS
end

function failing(inmap, outmap)
  outmap.x = "y"
  error("kt_api.failing")
end

function failtable(inmap, outmap)
  error({})
end

function single(inmap, outmap)
  local put = recorder(outmap)
  db:clear()
  put("set", db:set("k", "v"))
  put("get", db:get("k"))
  put("get miss", db:get("nokey"))
  put("err", errinfo())
  put("set num", db:set(1, 2.5))
  put("get num", db:get(1))
  put("get num str", db:get("1"))
  put("set bad value", try(db.set, db, "k", true))
  put("set no value", try(db.set, db, "k"))
  put("set too many", try(db.set, db, "k", "v", 1, 2))
  put("get no key", try(db.get, db))
  put("get too many", try(db.get, db, "k", 1))
  put("add dup", db:add("k", "x"))
  put("err", errinfo())
  put("add", db:add("k2", "v2"))
  put("replace miss", db:replace("k3", "x"))
  put("err", errinfo())
  put("replace", db:replace("k2", "w2"))
  put("append new", db:append("k3", "a"))
  put("append", db:append("k3", "b"))
  put("get k3", db:get("k3"))
  put("check", db:check("k3"))
  put("check miss", db:check("zz"))
  put("check empty", db:set("e", ""), db:check("e"))
  put("remove", db:remove("k3"))
  put("remove miss", db:remove("k3"))
  put("err", errinfo())
  put("seize", db:seize("k2"))
  put("seize miss", db:seize("k2"))
  put("count", db:count())
  put("binary", db:set("b\0in", "\0\1\0"), db:get("b\0in"))
  put("empty key", db:set("", "ek"), db:get(""))
  put("index", db["k"], db["nokey"])
  db.newkey = "nv"
  put("newindex", db:get("newkey"))
  db.newkey = nil
  put("newindex nil", db:get("newkey"))
  put("clear", db:clear(), db:count())
  put("size", type(db:size()))
  return kt.RVSUCCESS
end

-- expiration times: xt given to writes and returned by reads
function expiry(inmap, outmap)
  local put = recorder(outmap)
  db:clear()
  local now = math.floor(kt.time())
  local function rel(v, xt)
    if not xt then return v, xt end
    return v, xt - now
  end
  put("none", db:set("n", "v"), db:get("n"))
  put("relative", db:set("r", "v", 100), rel(db:get("r")))
  put("absolute", db:set("a", "v", -(now + 50)), rel(db:get("a")))
  put("past", db:set("p", "v", -10), db:get("p"))
  put("nil xt", db:set("x", "v", nil), db:get("x"))
  put("string xt", db:set("s", "v", "30"), rel(db:get("s")))
  put("huge xt", db:set("h", "v", 1e300), db:get("h"))
  put("inf xt", db:set("i", "v", math.huge), db:get("i"))
  put("seize xt", rel(db:seize("r")))
  put("add xt", db:add("ad", "v", 20), rel(db:get("ad")))
  put("append keeps", db:append("ad", "w"), db:get("ad"))
  return kt.RVSUCCESS
end

function numbers(inmap, outmap)
  local put = recorder(outmap)
  db:clear()
  put("inc new", db:increment("i", 5))
  put("inc", db:increment("i", 3))
  put("inc zero", db:increment("i", 0))
  put("inc no num", db:increment("i"))
  put("inc str num", db:increment("i", "10"))
  put("inc bad str", db:increment("i", "abc"))
  put("inc frac", db:increment("i", 2.9))
  put("inc neg", db:increment("i", -100))
  put("value", db:get("i"))
  put("inc orig", db:increment("o", 1, 100))
  put("inc try miss", db:increment("t", 1, -math.huge))
  put("err", errinfo())
  put("inc set", db:increment("o", 7, math.huge))
  put("inc not 8", db:set("s", "abc"), db:increment("s", 1))
  put("err", errinfo())
  put("inc xt", db:increment("x", 1, 0, 100), db:get("x") ~= nil)
  put("inc big", db:increment("b", 2 ^ 62), db:increment("b", 2 ^ 62))
  put("incd new", db:increment_double("d", 1.5))
  put("incd", db:increment_double("d", 0.25))
  put("incd zero", db:increment_double("d", 0))
  put("incd str", db:increment_double("d", "2"))
  put("incd neg", db:increment_double("d", -10))
  put("incd orig", db:increment_double("e", 1, 10.5))
  put("incd try", db:increment_double("f", 1, -math.huge))
  put("incd set", db:increment_double("d", 3, math.huge))
  put("incd not 16", db:increment_double("s", 1))
  put("incd nan", db:increment_double("g", 0 / 0))
  put("incd inf", db:increment_double("h", math.huge))
  put("incd value", string.len(db:get("d")))
  put("inc no key", try(db.increment, db))
  return kt.RVSUCCESS
end

function casops(inmap, outmap)
  local put = recorder(outmap)
  db:clear()
  put("cas absent to new", db:cas("c", nil, "1"), db:get("c"))
  put("cas absent expected", db:cas("c", nil, "2"), db:get("c"))
  put("err", errinfo())
  put("cas match", db:cas("c", "1", "2"), db:get("c"))
  put("cas mismatch", db:cas("c", "1", "3"), db:get("c"))
  put("cas remove", db:cas("c", "2", nil), db:get("c"))
  put("cas missing", db:cas("c", "x", "y"))
  put("cas nil nil", db:cas("c", nil, nil))
  put("cas xt", db:cas("c", nil, "v", 100), db:get("c") ~= nil)
  put("cas num", db:cas("c", "v", 5), db:get("c"))
  put("cas too few", try(db.cas, db, "c", "5"))
  return kt.RVSUCCESS
end

function bulk(inmap, outmap)
  local put = recorder(outmap)
  db:clear()
  put("set bulk", db:set_bulk({a = "1", b = "2", c = 3, [4] = "four", [1.5] = "x", t = true, [true] = "y"}))
  put("count", db:count())
  put("get 1.5", db:get("1.500000"), db:get("4"), db:get("c"))
  put("get bulk", db:get_bulk({"a", "b", "zz", 4, "c"}))
  put("get bulk empty", db:get_bulk({}))
  put("remove bulk", db:remove_bulk({"a", "zz", 4, "4"}))
  put("count", db:count())
  put("set bulk xt", db:set_bulk({x = "1"}, 100), db:get("x") ~= nil)
  put("set bulk nonatomic", db:set_bulk({y = "1"}, nil, false))
  put("get bulk nonatomic", db:get_bulk({"y"}, false))
  put("remove bulk nonatomic", db:remove_bulk({"y"}, false))
  put("set bulk bad", try(db.set_bulk, db, "x"))
  put("get bulk bad", try(db.get_bulk, db))
  put("remove bulk array only", db:remove_bulk({b = "b", "c"}))
  return kt.RVSUCCESS
end

function matching(inmap, outmap)
  local put = recorder(outmap)
  tree:clear()
  for _, k in ipairs({"apple", "apricot", "banana", "blueberry", "cherry", "app"}) do tree:set(k, "v") end
  put("prefix", tree:match_prefix("ap"))
  put("prefix max", tree:match_prefix("ap", 2))
  put("prefix none", tree:match_prefix("zz"))
  put("prefix all", tree:match_prefix(""))
  put("prefix neg max", tree:match_prefix("b", -1))
  put("regex", tree:match_regex("an"))
  put("regex anchors", tree:match_regex("^b.*y$"))
  put("regex max", tree:match_regex("e", 1))
  put("regex bad", tree:match_regex("("))
  put("similar", tree:match_similar("aple"))
  put("similar range", tree:match_similar("apple", 2))
  put("similar max", tree:match_similar("apple", 3, false, 2))
  put("prefix no arg", try(tree.match_prefix, tree))
  return kt.RVSUCCESS
end

local function visitorlog()
  local seen = {}
  local function record(...) seen[#seen + 1] = show(...) end
  return seen, record
end

function visitors(inmap, outmap)
  local put = recorder(outmap)
  db:clear()
  db:set("a", "1")
  db:set("b", "2", 100)
  local seen, record = visitorlog()
  -- a function visitor: (key, value) for a record, (key, nil) for none
  put("fn full", db:accept("a", function(k, v, xt) record(k, v, xt) return v .. "x" end), db:get("a"))
  put("fn empty", db:accept("new", function(k, v, xt) record(k, v, xt) return "created" end), db:get("new"))
  put("fn remove", db:accept("new", function(k, v) return kt.Visitor.REMOVE end), db:get("new"))
  put("fn nop", db:accept("a", function(k, v) return kt.Visitor.NOP end), db:get("a"))
  put("fn nil", db:accept("a", function(k, v) return nil end), db:get("a"))
  put("fn number", db:accept("a", function(k, v) return 42 end), db:get("a"))
  put("fn xt", db:accept("a", function(k, v) return "t", 100 end), db:get("a") ~= nil)
  put("fn keeps xt", db:accept("b", function(k, v) return "3" end), db:get("b") ~= nil)
  local _, bxt = db:get("b")
  put("kept xt", bxt < 1099511627775)
  put("fn readonly", db:accept("a", function(k, v) return "no" end, false), (db:get("a")))
  put("fn error", db:accept("a", function(k, v) error("in visitor") end), (db:get("a")))
  put("empty remove", db:accept("none", function(k, v) return kt.Visitor.REMOVE end), db:get("none"))
  put("seen", seen)
  -- a table visitor: visit_full / visit_empty / visit_before / visit_after
  local order = {}
  local vis = {
    visit_full = function(self, k, v, xt) order[#order + 1] = "full:" .. k .. "=" .. v return "T" .. v end,
    visit_empty = function(self, k) order[#order + 1] = "empty:" .. k return "E" end,
    visit_before = function(self) order[#order + 1] = "before" end,
    visit_after = function(self) order[#order + 1] = "after" end,
  }
  put("tbl full", db:accept("a", vis), (db:get("a")))
  put("tbl empty", db:accept("c", vis), db:get("c"))
  put("tbl partial", db:accept("d", {visit_full = function() return "z" end}), db:get("d"))
  put("order", order)
  local v = kt.Visitor:new()
  put("new visitor", db:accept("a", v), (db:get("a")))
  put("new visitor methods", v:visit_full("k", "v"), v:visit_empty("k"), try(v.visit_full, v, "k", "v", 1))
  put("bad visitor", try(db.accept, db, "a", "notavisitor"))
  put("no visitor", try(db.accept, db, "a"))
  -- accept_bulk and iterate
  db:clear()
  db:set_bulk({a = "1", b = "2", c = "3"})
  local keys = {}
  put("bulk", db:accept_bulk({"c", "zz", "a"}, function(k, v) keys[#keys + 1] = k return v and (v .. "!") end))
  put("bulk keys", keys)
  put("bulk after", db:get_bulk({"a", "b", "c", "zz"}))
  local all = {}
  put("iterate", db:iterate(function(k, v) all[k] = v return kt.Visitor.REMOVE end), db:count())
  put("iterated", all)
  db:set_bulk({a = "1", b = "2"})
  put("iterate ro", db:iterate(function(k, v) return "x" end, false), db:get_bulk({"a", "b"}))
  tree:clear()
  tree:set_bulk({b = "2", a = "1", c = "3"})
  local treekeys = {}
  tree:iterate(function(k, v) treekeys[#treekeys + 1] = k return kt.Visitor.NOP end)
  put("tree order", table.concat(treekeys, " "))
  return kt.RVSUCCESS
end

-- which of visit_before / visit_after each form calls
function visitorhooks(inmap, outmap)
  local put = recorder(outmap)
  local order = {}
  local function vis(tag)
    return {
      visit_full = function(self, k, v) order[#order + 1] = tag .. " full " .. k return kt.Visitor.NOP end,
      visit_empty = function(self, k) order[#order + 1] = tag .. " empty " .. k return kt.Visitor.NOP end,
      visit_before = function(self) order[#order + 1] = tag .. " before" end,
      visit_after = function(self) order[#order + 1] = tag .. " after" error("ignored") end,
    }
  end
  tree:clear()
  tree:set_bulk({a = "1", b = "2"})
  put("accept", tree:accept("a", vis("accept")))
  put("accept bulk", tree:accept_bulk({"b", "x"}, vis("bulk")))
  put("iterate", tree:iterate(vis("iterate")))
  local cur = tree:cursor()
  cur:jump()
  put("cursor", cur:accept(vis("cursor")))
  put("order", table.concat(order, "; "))
  local got = {}
  put("xt string", tree:accept("a", function(k, v) return "s", "100" end), tree:get("a") ~= nil)
  put("xt absolute", tree:accept("b", function(k, v, xt) got[1] = xt return "t", -xt end))
  put("xt kept", got[1], select(2, tree:get("b")))
  put("visit empty xt", tree:accept("c", function(k, v) return "c", 50 end), tree:get("c") ~= nil)
  put("multiple values", tree:accept("a", function(k, v) return "m", nil, "extra" end), (tree:get("a")))
  return kt.RVSUCCESS
end

function cursors(inmap, outmap)
  local put = recorder(outmap)
  tree:clear()
  tree:set_bulk({a = "1", b = "2", c = "3", d = "4"})
  local cur = tree:cursor()
  put("tostring fresh", tostring(cur))
  put("jump", cur:jump(), cur:get_key(), cur:get_value())
  put("tostring", tostring(cur))
  put("get", cur:get())
  put("get step", cur:get(true))
  put("get key step", cur:get_key(true), cur:get_key())
  put("step", cur:step(), cur:get_key())
  put("step end", cur:step(), cur:get_key())
  put("err", errinfo(tree))
  put("jump key", cur:jump("bb"), cur:get_key())
  put("jump back", cur:jump_back(), cur:get_key())
  put("step back", cur:step_back(), cur:get_key())
  put("jump back key", cur:jump_back("bb"), cur:get_key())
  put("step back start", cur:jump("a"), cur:step_back(), cur:get_key())
  put("set value", cur:jump("b"), cur:set_value("B"), tree:get("b"), cur:get_key())
  put("set value step", cur:set_value("BB", nil, true), cur:get_key(), (tree:get("b")))
  -- ktserver swaps set_value's xt and step: no step flag is xt 0 (expires now), step true is xt 1
  put("set value xts", math.abs(select(2, tree:get("b")) - kt.time()) < 2, math.abs(select(2, tree:get("c")) - kt.time() - 1) < 2)
  put("set value xt", cur:set_value("C", 100), tree:get("c") ~= nil)
  put("set value empty", try(cur.set_value, cur, ""))
  put("remove", cur:jump("b"), cur:remove(), cur:get_key(), tree:get("b"))
  put("seize", cur:seize(), cur:get_key(), tree:count())
  put("accept", cur:jump("a"), cur:accept(function(k, v) return v .. "+" end), tree:get("a"), cur:get_key())
  put("accept step", cur:accept(function(k, v) return kt.Visitor.NOP end, true, true), cur:get_key())
  put("accept remove", cur:jump("a"), cur:accept(function(k, v) return kt.Visitor.REMOVE end), cur:get_key(),
      tree:get("a"))
  put("call", cur:jump(), cur(), cur(), cur())
  put("db", cur:db() == tree)
  put("disable", cur:disable(), tostring(cur), try(cur.jump, cur))
  put("empty", tree:clear(), tree:cursor():jump(), tree:cursor():get())
  tree:set_bulk({x = "1", y = "2"})
  local pairsout = {}
  for k, v in tree:pairs() do pairsout[#pairsout + 1] = k .. "=" .. v end
  put("pairs", table.concat(pairsout, " "))
  local seenp = {}
  put("cursor process", tree:cursor_process(function(c) c:jump() seenp[1] = c:get_key() end), seenp[1])
  -- on the hash database: no backward moves
  db:clear()
  db:set("h", "1")
  local hc = db:cursor()
  put("hash jump back", hc:jump_back(), errinfo(db))
  put("hash step back", hc:jump(), hc:step_back(), errinfo(db))
  put("hash cursor error", hc:error():code())
  return kt.RVSUCCESS
end

function transactions(inmap, outmap)
  local put = recorder(outmap)
  db:clear()
  db:set("a", "1")
  put("commit", db:transaction(function() db:set("a", "2") db:set("b", "2") return true end),
      db:get("a"), db:get("b"))
  put("abort", db:transaction(function() db:set("a", "3") db:remove("b") db:set("c", "3") return false end),
      db:get("a"), db:get("b"), db:get("c"))
  put("abort nil", db:transaction(function() db:set("a", "4") end), db:get("a"))
  put("begin", db:begin_transaction(), db:set("a", "5"), db:clear(), db:count())
  put("end abort", db:end_transaction(false), db:get("a"), db:get("b"), db:count())
  put("begin end", db:begin_transaction(true), db:set("z", "1"), db:end_transaction(), db:get("z"))
  local ok, msg = pcall(db.transaction, db, function() db:set("a", "6") error("inside") end)
  put("error inside", ok, (string.gsub(msg, "%]:%d+:", "]:LINE:")))  -- the chunk is named by its text
  put("after error", db:get("a"))
  put("increment abort", db:transaction(function() db:increment("n", 5) return false end), db:get("n"))
  put("end without begin", db:end_transaction(), errinfo())
  return kt.RVSUCCESS
end

-- with an update log: what an aborted transaction did is not logged, a committed one is
function txlog(inmap, outmap)
  db:set("before", "1")
  db:transaction(function() db:set("in", "1") db:remove("before") db:clear() return false end)
  db:transaction(function() db:set("kept", "2") return true end)
  db:set("after", "3")
  return kt.RVSUCCESS
end

-- an error inside transaction(): the transaction is aborted and the call fails
function txnerror(inmap, outmap)
  db:transaction(function() db:set("txn", "1") error("kt_api.txnerror") end)
end

function splitting(inmap, outmap)
  local put = recorder(outmap)
  put("comma", kt.split("a,b,,c", ","))
  put("several", kt.split("a,b;c d", ",; "))
  put("none", kt.split("abc", ","))
  put("empty", kt.split("", ","))
  put("edges", kt.split(",a,", ","))
  put("nul default", kt.split("a\0b\0\0c"))
  put("nul trailing", kt.split("a\0"))
  put("nul empty", kt.split(""))
  put("nul in str", kt.split("a,b\0c,d", ","))
  put("nil delims", kt.split("a\0b", nil))
  put("number", kt.split(12321, 2))
  put("no args", try(kt.split))
  return kt.RVSUCCESS
end

function codecs(inmap, outmap)
  local put = recorder(outmap)
  local data = inmap.data or "a b&c=d/\0\1\255~_.-"
  for _, mode in ipairs({"url", "base", "quote", "hex"}) do
    local enc = kt.codec(mode, data)
    put(mode, enc, kt.codec("~" .. mode, enc) == data)
  end
  for _, mode in ipairs({"zlib", "deflate", "gzip"}) do
    local enc = kt.codec(mode, data)
    put(mode, enc, kt.codec("~" .. mode, enc) == data)
  end
  put("url decode", kt.codec("~url", "a+b%41%4g%zz%"), kt.codec("~url", "x\128 y"))
  put("base decode", kt.codec("~base", "YWJj"), kt.codec("~base", "YW Jj\nZA=="), kt.codec("~base", "YQ"),
      kt.codec("~base", "!!"))
  put("hex decode", kt.codec("~hex", "41 42 4"), kt.codec("~hex", "zz41"), kt.codec("~hex", "6"))
  put("quote decode", kt.codec("~quote", "a=41=\nb=3"), kt.codec("~quote", "x\1y"))
  put("case", kt.codec("HEX", "A"), kt.codec("~Hex", "41"))
  put("unknown", kt.codec("rot13", "x"), kt.codec("~rot13", "x"))
  put("empty", kt.codec("url", ""), kt.codec("base", ""), kt.codec("hex", ""), kt.codec("zlib", ""))
  put("number", kt.codec("hex", 12))
  put("bad args", try(kt.codec, "hex"), try(kt.codec, nil, "x"))
  return kt.RVSUCCESS
end

-- decoding data that is not what the mode expects (some inputs make ktserver 0.9.56 allocate until it dies)
function undecodable(inmap, outmap)
  outmap.result = show(kt.codec(inmap.mode, inmap.data))
  return kt.RVSUCCESS
end

function hashing(inmap, outmap)
  local put = recorder(outmap)
  for _, s in ipairs({"", "a", "hello", "abcdefgh", "abcdefghi", "\0\255\128", string.rep("xyz", 50)}) do
    put("murmur " .. #s, kt.hash_murmur(s))
    put("fnv " .. #s, kt.hash_fnv(s))
  end
  put("number", kt.hash_murmur(12), kt.hash_fnv(12))
  put("bad", try(kt.hash_murmur), try(kt.hash_fnv, "a", "b"), kt.hash_fnv(nil))
  return kt.RVSUCCESS
end

function dumps(inmap, outmap)
  local put = recorder(outmap)
  local arr = kt.arraydump({"a", "", 3, 1.5, true, "long" .. string.rep("x", 200), nil, "after nil"})
  put("arraydump", kt.codec("hex", arr))
  put("arrayload", kt.arrayload(arr))
  put("arrayload junk", kt.arrayload("\3ab"), kt.arrayload(""), kt.arrayload("\0\0"))
  local m = kt.mapdump({one = "1"})
  put("mapdump one", kt.codec("hex", m))
  put("mapdump num", kt.codec("hex", kt.mapdump({[2] = 3.25})))
  local big = {}
  for i = 1, 20 do big["k" .. i] = "v" .. i end
  big[5] = "five"
  big.skip = true
  local bm = kt.mapdump(big)
  put("mapdump order", kt.codec("hex", bm))
  put("mapload", kt.mapload(bm))
  put("mapload junk", kt.mapload("\1\5ab"), kt.mapload("\0"), kt.mapload(""))
  put("bad", try(kt.arraydump, "x"), try(kt.mapdump), try(kt.arrayload, {}))
  return kt.RVSUCCESS
end

function logging(inmap, outmap)
  kt.log("info", "kt_api says info")
  kt.log("ERROR", "kt_api says error")
  kt.log("system", "kt_api says system")
  kt.log("debug", "kt_api says debug")
  kt.log("whatever", 42)
  outmap.bad = try(kt.log, "info")
  outmap.ret = show(kt.log("info", "x"))
  return kt.RVSUCCESS
end

function clock(inmap, outmap)
  local t0 = kt.time()
  kt.sleep(0.2)
  local t1 = kt.time()
  kt.sleep()
  kt.sleep(0)
  outmap.type = type(t0)
  outmap.slept = tostring(t1 - t0 >= 0.19 and t1 - t0 < 2)
  outmap.now = string.format("%.6f", t0)
  outmap.bad = try(kt.time, 1)
  return kt.RVSUCCESS
end

function strings(inmap, outmap)
  local put = recorder(outmap)
  put("atoi", kt.atoi("  -123abc"), kt.atoi("+7"), kt.atoi("x"), kt.atoi(""), kt.atoi(" 9.9"), kt.atoi(12))
  put("atoix", kt.atoix("2k"), kt.atoix("1.5M"), kt.atoix("-3 g"), kt.atoix("7"), kt.atoix("1e"))
  put("atof", kt.atof("1.5"), kt.atof("-2.25e2"), kt.atof("inf"), kt.atof("x"), kt.atof("  .5"))
  put("levdist", kt.levdist("kitten", "sitting"), kt.levdist("", "abc"), kt.levdist("abc", "abc"),
      kt.levdist("東京", "東都", true), kt.levdist("東京", "東都"))
  put("bit", kt.bit("and", 12, 10), kt.bit("or", 12, 3), kt.bit("xor", 12, 10), kt.bit("not", 0),
      kt.bit("left", 1, 4), kt.bit("right", 256, 4), kt.bit("nope", 5, 1), kt.bit("AND", -1, 255))
  put("strstr", kt.strstr("hello world", "o"), kt.strstr("hello", "z"), kt.strstr("a-b-c", "-", "+"),
      kt.strstr("aaa", "aa", "b"), kt.strstr("abc", "", "x"))
  put("strfwm", kt.strfwm("hello", "he"), kt.strfwm("hello", "lo"), kt.strfwm("he", "hello"),
      kt.strfwm("x", ""))
  put("strbwm", kt.strbwm("hello", "lo"), kt.strbwm("hello", "he"), kt.strbwm("lo", "hello"))
  put("regex", kt.regex("hello", "l+"), kt.regex("hello", "^e"), kt.regex("abc", "b", "[$0]"),
      kt.regex("a1b22", "[0-9]+", "<$&>"), kt.regex("ab", "(a)(b)", "$2$1$$"), kt.regex("x", "(", "y"))
  put("pack", kt.codec("hex", kt.pack("CnNMw", 65, 258, 16909060, 1, 300)))
  put("pack table", kt.codec("hex", kt.pack("c*", {1, 2, 3}, 4)))
  put("pack counts", kt.codec("hex", kt.pack("C2S", 1, 2, 3, 4)))
  -- "i"/"l" numbers go to unsigned C integers: a negative one is undefined behaviour there, and
  -- ktserver builds differ; the unsigned number of the same bits is defined on every build.
  put("pack le", kt.codec("hex", kt.pack("sil", -2, 4294967293, 5)))
  put("pack float", kt.codec("hex", kt.pack("fd", 1.5, -0.25)))
  put("unpack", kt.unpack("CnNMw", kt.pack("CnNMw", 65, 258, 16909060, 1, 300)))
  put("unpack signed", kt.unpack("csil", kt.pack("csil", -1, -2, 4294967293, 9223372036854775808)))
  put("unpack star", kt.unpack("C*", "abc"), kt.unpack("n", "\1"), kt.unpack("N2", "\0\0\0\1\0\0\0\2\9"))
  put("unpack float", kt.unpack("fd", kt.pack("fd", 1.5, -0.25)))
  return kt.RVSUCCESS
end

function errors(inmap, outmap)
  local put = recorder(outmap)
  local e = kt.Error:new()
  put("new", e:code(), e:name(), e:message(), tostring(e))
  e = kt.Error:new(kt.Error.NOREC, "gone")
  put("new args", e:code(), e:name(), e:message(), tostring(e))
  put("set", e:set(kt.Error.LOGIC, "odd"), e:code(), e:message(), tostring(e))
  put("unknown code", tostring(kt.Error:new(99, "x")))
  put("names", kt.Error:new(1, ""):name(), kt.Error:new(2, ""):name(), kt.Error:new(3, ""):name(),
      kt.Error:new(4, ""):name(), kt.Error:new(5, ""):name(), kt.Error:new(9, ""):name())
  db:clear()
  db:add("x", "1")
  db:add("x", "1")
  local de = db:error()
  put("db error", de:code(), de:name(), de:message(), tostring(de))
  return kt.RVSUCCESS
end

function misc(inmap, outmap)
  local put = recorder(outmap)
  db:clear()
  tree:clear()
  db:set_bulk({a = "1", b = "2"})
  tree:set_bulk({b = "tb", c = "tc"})
  put("merge", tree:merge({db}), tree:get_bulk({"a", "b", "c"}))
  tree:clear()
  tree:set_bulk({b = "tb", c = "tc"})
  put("merge add", tree:merge({db}, kt.DB.MADD), tree:get_bulk({"a", "b", "c"}))
  tree:clear()
  tree:set_bulk({b = "tb", c = "tc"})
  put("merge replace", tree:merge({db}, kt.DB.MREPLACE), tree:get_bulk({"a", "b", "c"}))
  tree:clear()
  tree:set_bulk({b = "tb", c = "tc"})
  put("merge append", tree:merge({db}, kt.DB.MAPPEND), tree:get_bulk({"a", "b", "c"}))
  put("merge none", tree:merge({}))
  local args = {}
  put("synchronize", db:synchronize(), db:synchronize(true, function(path, count, size)
    args[1] = path args[2] = count args[3] = type(size) return true end))
  put("sync args", args)
  put("sync false", db:synchronize(false, function() return false end), errinfo())
  put("occupy", db:occupy(), db:occupy(true, function(path, count) args[4] = count return true end), args[4])
  put("occupy false", db:occupy(false, function() return false end), errinfo())
  put("processor table", db:synchronize(false, kt.FileProcessor:new()), db:occupy(true, {process = 1}), errinfo())
  local st = db:status()
  put("status", st.count, st.path, type(st.size))
  return kt.RVSUCCESS
end

-- functions the stand-in does not run (each must fail the call, naming itself)
function mapreduce(inmap, outmap)
  db:mapreduce(function(k, v, emit) return true end, function(k, iter) return true end)
  outmap.ran = "yes"
  return kt.RVSUCCESS
end

function dump(inmap, outmap)
  db:dump_snapshot(inmap.path or "/nonexistent/x")
  outmap.ran = "yes"
  return kt.RVSUCCESS
end

function newdb(inmap, outmap)
  local d = kt.DB:new()
  outmap.ran = "yes"
  return kt.RVSUCCESS
end

-- an unsupported function fails the call even when the script catches errors
function catchunsupported(inmap, outmap)
  local ok = pcall(db.mapreduce, db, function() return true end, function() return true end)
  outmap.caught = tostring(ok)
  return kt.RVSUCCESS
end

-- a transaction the procedure leaves open (the stand-in aborts it and fails the call)
function txnopen(inmap, outmap)
  db:begin_transaction()
  db:set("txnopen", "1")
  return kt.RVSUCCESS
end

-- a runaway script: the stand-in stops it at its time limit
function spin(inmap, outmap)
  local n = 0
  while true do n = n + 1 end
end

-- a runaway script that catches errors: pcall does not save it from the time limit
function spincatch(inmap, outmap)
  while true do pcall(function() while true do end end) end
end

-- a runaway coroutine
function spinco(inmap, outmap)
  local co = coroutine.create(function() while true do end end)
  coroutine.resume(co)
  return kt.RVSUCCESS
end

-- a runaway allocation: the stand-in stops it at its memory limit
function hog(inmap, outmap)
  local s = "x"
  while true do s = s .. s end
end

function hogtable(inmap, outmap)
  local t = {}
  local i = 0
  while true do i = i + 1 t[i] = {i} end
end

-- calls back into the database from a runaway loop: still stopped
function spindb(inmap, outmap)
  while true do db:get("x") end
end

-- reads the record "huge" (past the stand-in's memory limit, the call fails)
function getbig(inmap, outmap)
  outmap.size = #db:get("huge")
  return kt.RVSUCCESS
end

-- sleeps past the stand-in's time limit
function sleeper(inmap, outmap)
  kt.sleep(tonumber(inmap.sec) or 30)
  return kt.RVSUCCESS
end
