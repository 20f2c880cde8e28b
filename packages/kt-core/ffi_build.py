"""cffi builder for kt_core's C codec (API mode, out of line).

The C code owns no Python objects: it scans buffers and writes offsets, lengths and codes into
arrays the Python side allocated. See docs/codec.md at the repository root.
"""

from __future__ import annotations

import os

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join(HERE, "csrc")


def _read(name: str) -> str:
    with open(os.path.join(CSRC, name), encoding="utf-8") as f:
        return f.read()


# KT_SANITIZE=address (or address,undefined) builds the module instrumented; see fuzz/README.md.
_SANITIZE = os.environ.get("KT_SANITIZE")
_sanitize = [f"-fsanitize={_SANITIZE}", "-fno-omit-frame-pointer", "-g"] if _SANITIZE else []


def make_ffi() -> FFI:
    ffi = FFI()
    # ktcodec_cdef.h holds only declarations cffi can parse (no preprocessor directives).
    ffi.cdef(_read("ktcodec_cdef.h"))
    ffi.set_source(
        "kt_core.codec._ktcodec",
        '#include "ktcodec.h"',
        sources=[os.path.join(CSRC, name) for name in sorted(os.listdir(CSRC)) if name.endswith(".c")],
        include_dirs=[CSRC],
        extra_compile_args=["-O2", "-std=c99", "-Wall", "-Wextra", "-Werror=implicit-function-declaration", *_sanitize],
        extra_link_args=_sanitize,
    )
    return ffi


ffibuilder = make_ffi()

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
