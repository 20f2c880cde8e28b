-- a script that fails while it loads (test_standin_kyoto_lua.py)
kt = __kyototycoon__
function echo(inmap, outmap)
  for k, v in pairs(inmap) do outmap[k] = v end
  return kt.RVSUCCESS
end
error("kt_loaderror: failing at load")
