"""Codec failure paths under the garbage collector and threads (found by the fault-injection suite)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

# A protocol error raised while the C scanner held an export of the reader's memoryview left that
# export pinned by the traceback; collecting the cycle then crashed the interpreter (SIGSEGV).
_GC_AFTER_PROTOCOL_ERROR = textwrap.dedent("""
    import gc
    from kt_core.errors import ProtocolError
    from kt_core.codec.kyoto_binary import read_get_bulk
    from kt_core.codec.reader import Reader
    from kt_core.codec.tyrant import read_get

    class Holder:
        pass

    def fail_once(data, fn):
        reader = Reader()
        reader.feed(data)
        holder = Holder()
        holder.reader = reader
        try:
            reader.read(fn)
        except ProtocolError as exc:
            holder.exc = exc  # a cycle: holder -> exc -> traceback -> this frame -> holder
        else:
            raise SystemExit("no ProtocolError")

    for _ in range(100):
        fail_once(b"\\x00" * 40, read_get_bulk)
        fail_once(b"\\x00\\xff\\xff\\xff\\xff" + b"\\x00" * 40, read_get)
        gc.collect()
    print("survived")
""")


def test_protocol_error_cycles_are_collected_without_crashing() -> None:
    proc = subprocess.run([sys.executable, "-c", _GC_AFTER_PROTOCOL_ERROR], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ))
    assert proc.returncode == 0, f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert proc.stdout.strip() == "survived"
    assert "BufferError" not in proc.stderr
