-- Procedures kt's client tests call with play_script (ktserver -scr kt_test.lua; the stand-in runs
-- this same file). A procedure fills outmap and returns a kt.RV* code. Names have no "_":
-- ktserver 0.9.56 answers 400 to an HTTP play_script naming one (the binary protocol runs it).
kt = __kyototycoon__

-- echo: answers with the records it was given, so a test can round-trip any key and value
function echo(inmap, outmap)
  for name, data in pairs(inmap) do
    outmap[name] = data
  end
  return kt.RVSUCCESS
end

-- sample: a fixed answer holding the values an encoder gets wrong first: an empty one,
-- TAB and LF, other control bytes, bytes >= 0x80 (no NUL: Lua strings keep it, but keys can't)
function sample(inmap, outmap)
  outmap["empty"] = ""
  outmap["tab_lf"] = "a\tb\nc"
  outmap["controls"] = "\1\8\13\27\127"
  outmap["high"] = "\128\255"
  outmap["text"] = "kt"
  return kt.RVSUCCESS
end

-- conflict: RVELOGIC, what a procedure returns when the data says no (HTTP 450, binary 0xBF)
function conflict(inmap, outmap)
  outmap["dropped"] = "the server discards the output of a failed call"
  return kt.RVELOGIC
end

-- badinput: RVEINVALID, what a procedure returns for arguments it rejects (HTTP 400, binary 0xBF)
function badinput(inmap, outmap)
  return kt.RVEINVALID
end

-- broken: a Lua error inside the procedure (HTTP 500, binary 0xBF)
function broken(inmap, outmap)
  error("kt_test.broken")
end

-- store: sets every input record in the first database; answers stored = how many
function store(inmap, outmap)
  local stored = 0
  for name, data in pairs(inmap) do
    if not kt.db:set(name, data) then
      return kt.RVEINTERNAL
    end
    stored = stored + 1
  end
  outmap["stored"] = tostring(stored)
  return kt.RVSUCCESS
end

-- fetch: answers the records of the first database whose keys were given; absent keys are left out
function fetch(inmap, outmap)
  for name in pairs(inmap) do
    local data = kt.db:get(name)
    if data ~= nil then
      outmap[name] = data
    end
  end
  return kt.RVSUCCESS
end

-- count: answers count = the number of records in the first database
function count(inmap, outmap)
  outmap["count"] = tostring(kt.db:count())
  return kt.RVSUCCESS
end

-- listdump: answers dump = kt.arraydump of the input values, in the order of their keys
function listdump(inmap, outmap)
  local names = {}
  for name in pairs(inmap) do
    table.insert(names, name)
  end
  table.sort(names)
  local values = {}
  for i, name in ipairs(names) do
    values[i] = inmap[name]
  end
  outmap["dump"] = kt.arraydump(values)
  return kt.RVSUCCESS
end

-- listload: answers the elements of kt.arrayload(dump) under their positions "1", "2", ...
function listload(inmap, outmap)
  for i, data in ipairs(kt.arrayload(inmap["dump"])) do
    outmap[tostring(i)] = data
  end
  return kt.RVSUCCESS
end

-- mapdump: answers dump = kt.mapdump of the input records
function mapdump(inmap, outmap)
  outmap["dump"] = kt.mapdump(inmap)
  return kt.RVSUCCESS
end

-- mapload: answers the entries of kt.mapload(dump)
function mapload(inmap, outmap)
  for name, data in pairs(kt.mapload(inmap["dump"])) do
    outmap[name] = data
  end
  return kt.RVSUCCESS
end
