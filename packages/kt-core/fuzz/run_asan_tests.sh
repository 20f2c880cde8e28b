#!/bin/sh
# Rebuild the C codec with AddressSanitizer + UBSan, run the kt-core scanner tests on it, then rebuild it normally.
set -e
cd "$(dirname "$0")/../../.."
PY=${PY:-/work/venv/bin/python}
KT_SANITIZE=address,undefined "$PY" -m pip install -q -e packages/kt-core
status=0
LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)" \
ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 KT_REQUIRE_C=1 \
  "$PY" -m pytest -q -p no:cacheprovider packages/kt-core/tests/test_scan.py \
  packages/kt-core/tests/test_scan_differential.py packages/kt-core/tests/test_reader.py || status=$?
"$PY" -m pip install -q -e packages/kt-core
exit $status
