-- kt's own test script for the real ktserver (-scr kt_test.lua).
-- kt_test.py holds the same functions in Python for the stand-in server.
-- Each procedure gets (inmap, outmap) and returns a kt.RV* code.
kt = __kyototycoon__

-- echo: copy every input record to the output
function echo(inmap, outmap)
  for key, value in pairs(inmap) do
    outmap[key] = value
  end
  return kt.RVSUCCESS
end

-- records: fixed records, one with an empty value and one holding a tab and a newline
function records(inmap, outmap)
  outmap["alpha"] = "1"
  outmap["beta"] = "two"
  outmap["ctl"] = "tab\there\nnewline"
  outmap["empty"] = ""
  return kt.RVSUCCESS
end

-- fail: a logical error (HTTP 450, binary 0xBF)
function fail(inmap, outmap)
  outmap["ignored"] = "set before failing"
  return kt.RVELOGIC
end

-- invalid: invalid arguments (HTTP 400, binary 0xBF)
function invalid(inmap, outmap)
  return kt.RVEINVALID
end

-- crash: a runtime error in the script (HTTP 500, binary 0xBF)
function crash(inmap, outmap)
  error("deliberate failure")
end

-- store: set every input record in the first database; outputs num = how many
function store(inmap, outmap)
  local db = kt.db
  local n = 0
  for key, value in pairs(inmap) do
    if not db:set(key, value) then
      return kt.RVEINTERNAL
    end
    n = n + 1
  end
  outmap["num"] = tostring(n)
  return kt.RVSUCCESS
end

-- fetch: the value of every input key that exists in the first database
function fetch(inmap, outmap)
  local db = kt.db
  for key, value in pairs(inmap) do
    local v = db:get(key)
    if v then
      outmap[key] = v
    end
  end
  return kt.RVSUCCESS
end
