-- a script that does not compile (test_standin_kyoto_lua.py)
kt = __kyototycoon__
function broken(inmap, outmap
  return kt.RVSUCCESS
end
