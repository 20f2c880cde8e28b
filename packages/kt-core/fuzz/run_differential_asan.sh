#!/bin/sh
# Build an ASan+UBSan copy of kt_core (with its C module) outside the source tree, so the shared editable
# install is left alone, and run fuzz_differential.py on it. Arguments go to fuzz_differential.py
# (default: --seconds 600). OUT (default /tmp/kt-asan) holds the copy.
set -e
HERE=$(cd "$(dirname "$0")" && pwd)
PKG=$(dirname "$HERE")
PY=${PY:-python3}
OUT=${OUT:-/tmp/kt-asan}
rm -rf "$OUT" && mkdir -p "$OUT" "$OUT/build"
cp -r "$PKG"/src/kt_core "$OUT/kt_core"
rm -f "$OUT"/kt_core/codec/_ktcodec*.so
(cd "$PKG" && KT_SANITIZE=address,undefined "$PY" -c "
import sys; sys.path.insert(0, '.')
from ffi_build import ffibuilder
print(ffibuilder.compile(tmpdir='$OUT/build'))")
cp "$OUT"/build/kt_core/codec/_ktcodec*.so "$OUT/kt_core/codec/"
[ $# -eq 0 ] && set -- --seconds 600
PYTHONPATH="$OUT" LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)" \
ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 KT_REQUIRE_C=1 \
  "$PY" "$HERE/fuzz_differential.py" "$@"
