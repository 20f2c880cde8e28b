-- Procedures the kt 0.9.6 sample program calls through client.lua (ktserver -scr kt_example.lua).
-- kt's Kyoto Tycoon stand-in runs this same file.
kt = __kyototycoon__

-- greet: answers greeting = "hello, " .. name
function greet(inmap, outmap)
  outmap["greeting"] = "hello, " .. (inmap["name"] or "nobody")
  return kt.RVSUCCESS
end

-- hits: adds 1 to the counter stored under key (as text) and answers it
function hits(inmap, outmap)
  local key = inmap["key"]
  if key == nil then
    return kt.RVEINVALID
  end
  local count = tonumber(kt.db:get(key) or "0") + 1
  kt.db:set(key, tostring(count))
  outmap["hits"] = tostring(count)
  return kt.RVSUCCESS
end
