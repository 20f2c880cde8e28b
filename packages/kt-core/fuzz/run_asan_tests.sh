#!/bin/sh
# Run the kt-core codec tests on a C module built with AddressSanitizer + UBSan.
#
# The sanitized module is built into a private copy of kt_core under a temporary folder and put
# first on PYTHONPATH, so the installed (normal) module is never replaced: other test runs on the
# same checkout keep working while this one runs.
set -e
cd "$(dirname "$0")/../../.."
PY=${PY:-python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/kt-asan.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -r packages/kt-core/src/kt_core "$work/kt_core"
rm -f "$work"/kt_core/codec/_ktcodec*.so
(cd packages/kt-core && KT_SANITIZE=address,undefined "$PY" -c "
import sys, ffi_build
built = ffi_build.make_ffi().compile(tmpdir=sys.argv[1] + '/build')
import shutil, os
shutil.copy2(built, os.path.join(sys.argv[1], 'kt_core', 'codec', os.path.basename(built)))
" "$work")
export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
PYTHONPATH="$work${PYTHONPATH:+:$PYTHONPATH}" "$PY" -c "import kt_core.codec._ktcodec as m; print('sanitized module:', m.__file__)"
KT_REQUIRE_C=1 PYTHONPATH="$work${PYTHONPATH:+:$PYTHONPATH}" \
  "$PY" -m pytest -c pyproject.toml -q -p no:cacheprovider "${@:-packages/kt-core/tests}"
