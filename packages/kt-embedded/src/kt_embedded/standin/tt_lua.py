"""Lua ext scripts (``-ext FILE.lua``) for the Tokyo Tyrant stand-in, in lupa's Lua 5.1.

ttserver 1.1.41 loads the ``-ext`` file into one Lua state per worker thread (``-thnum``, 8 by
default) and exposes its built-in Lua functions to it. This module does the same
with ``lupa.lua51`` (the optional extra ``kt-embedded[lua]``): :class:`LuaExt` keeps ``threads``
states, each call borrows a free one, and the built-ins act on the stand-in's database objects
(``tt_db`` / ``tt_table``), never through a client.

Every built-in of ttserver 1.1.41 is there, with its argument checks ("_put: invalid arguments"),
its conversions (numbers as ``%.14g`` text, C strings cut at a NUL where the C code uses them) and
its results, checked against the real server: ``_eval _log _put _putkeep _putcat _out _get _vsiz
_iterinit _iternext _fwmkeys _addint _adddouble _vanish _rnum _size _misc _foreach _mapreduce
_stashput _stashputkeep _stashputcat _stashout _stashget _stashvanish _stashforeach _lock _unlock
_pack _unpack _split _codec _hash _bit _strstr _regex _ucs _dist _isect _union _time _sleep _stat
_glob _remove _mkdir``, the globals ``_version _pid _sid _thnum _thid``, and ``_begin``/``_end``.
The codecs are ports of Tokyo Cabinet's (``tcbs`` included); ``_regex`` uses the C library's POSIX
regex in the C locale where it can be loaded (glibc), Python's ``re`` elsewhere.

Bounds, so that a script never takes the stand-in down (ttserver has none of them):

* time: an instruction-count hook (every :data:`HOOK_COUNT` VM instructions, in every coroutine)
  checks the call's deadline (``time_limit`` seconds of wall time, waits in ``_sleep``/``_lock``
  included). Past it the hook fires on every instruction, so no ``pcall`` can keep the script
  running; the call fails (code 1) and the state is reused.
* memory: each state is a ``LuaRuntime(max_memory=memory_limit)``; an allocation past it is Lua's
  "not enough memory" error. A state that is still nearly full after a failed call is replaced by a
  fresh one (the script is loaded again). What a call stores outside Lua (database writes, stash,
  ``_mapreduce`` emits) is bounded by the same figure per call.
* ``debug.sethook`` and ``os.exit`` raise an error naming them (one would remove the time limit's
  hook, the other would end the stand-in).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob as globmod
import hashlib
import math
import os
import platform
import queue
import re
import stat as statmod
import struct
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, Optional, Union

from .tt_db import Database, _compile_regex, _memory_hash_partition

__all__ = ["LuaExt", "LuaUnavailableError", "import_lua51", "DEFAULT_TIME_LIMIT", "DEFAULT_MEMORY_LIMIT",
           "DEFAULT_THREADS", "HOOK_COUNT"]

DEFAULT_THREADS = 8  # ttserver's DEFTHNUM
DEFAULT_TIME_LIMIT = 10.0  # seconds of wall time per call
DEFAULT_MEMORY_LIMIT = 128 * 1024 * 1024  # bytes per Lua state
HOOK_COUNT = 10000  # VM instructions between two deadline checks
RECMTXNUM = 31  # ttserver's record mutexes for the ext lock options
RDBXOLCKREC, RDBXOLCKGLB = 1, 2
_LOG_LEVELS = {0: "DEBUG", 1: "INFO", 2: "ERROR", 3: "SYSTEM"}
_LUA_EXTRA = "kt-embedded[lua]"
try:
    _CLOCK_TICK = 1.0 / os.sysconf("SC_CLK_TCK")
except (AttributeError, ValueError, OSError):
    _CLOCK_TICK = 0.01


class LuaUnavailableError(ImportError):
    """lupa (with its Lua 5.1 runtime) is not installed: ``pip install 'kt-embedded[lua]'``."""


class _TimeLimit(Exception):
    pass


class _MemoryLimit(Exception):
    pass


def import_lua51() -> Any:
    """``lupa.lua51``, or :class:`LuaUnavailableError` naming the extra that installs it."""
    try:
        import lupa.lua51 as lua51
    except ImportError as exc:
        raise LuaUnavailableError(
            f"running a Lua ext script (.lua) on the Tokyo Tyrant stand-in needs lupa's Lua 5.1: "
            f"pip install '{_LUA_EXTRA}' (or pass a Python ext script, .py)") from exc
    return lua51


# -- C conversions (x86-64 gcc, as ttserver is built) ------------------------------------------------

def _cstr(data: bytes) -> bytes:
    """What C sees of a Lua string passed as ``const char *``: up to the first NUL."""
    end = data.find(b"\0")
    return data if end < 0 else data[:end]


def _c_i64(num: float) -> int:
    if num != num or not -9.223372036854775808e18 <= num < 9.223372036854775808e18:
        return -(1 << 63)
    return int(num)


def _c_i32(num: float) -> int:
    if num != num or not -2147483648.0 <= num < 2147483648.0:
        return -(1 << 31)
    return int(num)


def _c_u64(num: float) -> int:
    if num != num or num < 9.223372036854775808e18:
        return _c_i64(num) & 0xFFFFFFFFFFFFFFFF
    return (_c_i64(num - 9.223372036854775808e18) ^ (1 << 63)) & 0xFFFFFFFFFFFFFFFF


def _c_u32(num: float) -> int:
    return _c_i64(num) & 0xFFFFFFFF


def _c_u16(num: float) -> int:
    return _c_i32(num) & 0xFFFF


def _c_u8(num: float) -> int:
    return _c_i32(num) & 0xFF


def _float32(num: float) -> bytes:
    try:
        return struct.pack("=f", num)
    except OverflowError:
        return struct.pack("=f", math.copysign(math.inf, num))


def _signed(byte: int) -> int:
    return byte - 256 if byte >= 128 else byte


# -- _pack / _unpack (serv_pack / serv_unpack) -----------------------------------------------------

def _format_items(fmt: bytes) -> Iterator[tuple[int, int]]:
    """(conversion character, repeat count) pairs of a _pack/_unpack format."""
    i = 0
    while i < len(fmt):
        c = fmt[i]
        loop = 1
        nxt = fmt[i + 1] if i + 1 < len(fmt) else 0
        if nxt == 0x2A:  # '*'
            loop = 2147483647
            i += 1
        elif 0x30 <= nxt <= 0x39:
            i += 1
            loop = 0
            while i < len(fmt) and 0x30 <= fmt[i] <= 0x39:
                loop = (loop * 10 + fmt[i] - 0x30) & 0xFFFFFFFF
                i += 1
            loop = loop - (1 << 32) if loop >= 1 << 31 else loop
            i -= 1
        yield c, loop
        i += 1


def _ber(num: int) -> bytes:
    """serv_pack's 'w' (its nine-byte form drops bits 56..62, as the C code does)."""
    if num < 1 << 7:
        return bytes([num])
    for width in range(2, 9):
        if num < 1 << (7 * width):
            return bytes([((num >> (7 * (width - 1 - k))) & 0x7F) | (0x80 if k < width - 1 else 0)
                          for k in range(width)])
    return bytes([((num >> 63) | 0x80) & 0xFF] + [((num >> s) & 0x7F) | 0x80 for s in (49, 42, 35, 28, 21, 14, 7)]
                 + [num & 0x7F])


def lua_pack(fmt: bytes, nums: list[float]) -> bytes:
    out = bytearray()
    emax = len(nums)
    eidx = 1
    for c, loop in _format_items(_cstr(fmt)):
        loop = min(loop, emax)
        end = min(eidx + loop - 1, emax)
        while eidx <= end:
            num = float(nums[eidx - 1])
            ch = chr(c)
            if ch in "cC":
                out.append(_c_u8(num))
            elif ch in "sS":
                out += struct.pack("=H", _c_u16(num))
            elif ch in "iI":
                out += struct.pack("=I", _c_u32(num))
            elif ch in "lL":
                out += struct.pack("=Q", _c_u64(num))
            elif ch in "fF":
                out += _float32(num)
            elif ch in "dD":
                out += struct.pack("=d", num)
            elif ch == "n":
                out += struct.pack(">H", _c_u16(num))
            elif ch == "N":
                out += struct.pack(">I", _c_u32(num))
            elif ch == "M":
                out += struct.pack(">Q", _c_u64(num))
            elif ch in "wW":
                out += _ber(_c_u64(num))
            eidx += 1
        if eidx > emax:
            break
    return bytes(out)


_UNPACK = {"c": ("=b", 1), "C": ("=B", 1), "s": ("=h", 2), "S": ("=H", 2), "i": ("=i", 4), "I": ("=I", 4),
           "l": ("=q", 8), "L": ("=Q", 8), "f": ("=f", 4), "F": ("=f", 4), "d": ("=d", 8), "D": ("=d", 8),
           "n": (">H", 2), "N": (">I", 4), "M": (">Q", 8)}


def lua_unpack(fmt: bytes, data: bytes) -> list[float]:
    out: list[float] = []
    pos = 0
    size = len(data)
    for c, loop in _format_items(_cstr(fmt)):
        loop = min(loop, size)
        ch = chr(c)
        i = 0
        while i < loop and size > 0:
            if ch in "wW":
                num = 0
                while True:
                    byte = data[pos]
                    num = (num * 0x80 + (byte & 0x7F)) & 0xFFFFFFFFFFFFFFFF
                    pos += 1
                    size -= 1
                    if byte < 0x80 or size <= 0:
                        break
                out.append(float(num))
            elif ch in _UNPACK:
                code, width = _UNPACK[ch]
                if size >= width:
                    out.append(float(struct.unpack_from(code, data, pos)[0]))
                    pos += width
                    size -= width
                else:
                    size = 0
            i += 1
        if size < 1:
            break
    return out


# -- _split ----------------------------------------------------------------------------------------

def lua_split(data: bytes, delims: Optional[bytes]) -> list[bytes]:
    if delims is None:  # split at every NUL of the whole string
        return data.split(b"\0")
    text = _cstr(data)
    seps = set(_cstr(delims))
    out: list[bytes] = []
    start = 0
    for i, byte in enumerate(text):
        if byte in seps:
            out.append(text[start:i])
            start = i + 1
    out.append(text[start:])
    return out


# -- _codec: ports of Tokyo Cabinet's tcutil.c encoders ------------------------------------------------

_URL_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.!~*'()")
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
_B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def url_encode(data: bytes) -> bytes:
    return b"".join(bytes([c]) if c in _URL_SAFE else b"%%%02X" % c for c in data)


def url_decode(data: bytes) -> bytes:
    text = _cstr(data)
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c == 0x25:  # '%': two hex digits, or the decoding stops here
            if i + 2 < len(text) and text[i + 1] in _HEX_DIGITS and text[i + 2] in _HEX_DIGITS:
                out.append(int(text[i + 1:i + 3], 16))
                i += 3
            else:
                break
        elif c == 0x2B:  # '+'
            out.append(0x20)
            i += 1
        else:
            out.append(c)
            i += 1
    return bytes(out)


def base_encode(data: bytes) -> bytes:
    out = bytearray()
    for i in range(0, len(data), 3):
        chunk = data[i:i + 3]
        if len(chunk) == 1:
            out += bytes([_B64[chunk[0] >> 2], _B64[(chunk[0] & 3) << 4]]) + b"=="
        elif len(chunk) == 2:
            out += bytes([_B64[chunk[0] >> 2], _B64[((chunk[0] & 3) << 4) + (chunk[1] >> 4)],
                          _B64[(chunk[1] & 0xF) << 2]]) + b"="
        else:
            out += bytes([_B64[chunk[0] >> 2], _B64[((chunk[0] & 3) << 4) + (chunk[1] >> 4)],
                          _B64[((chunk[1] & 0xF) << 2) + (chunk[2] >> 6)], _B64[chunk[2] & 0x3F]])
    return bytes(out)


def base_decode(data: bytes) -> bytes:
    text = _cstr(data)
    out = bytearray()
    bpos = 0
    eqcnt = 0
    while bpos < len(text) and eqcnt == 0:
        bits = 0
        i = 0
        while bpos < len(text) and i < 4:
            c = text[bpos]
            if 0x41 <= c <= 0x5A:
                bits, i = (bits << 6) | (c - 0x41), i + 1
            elif 0x61 <= c <= 0x7A:
                bits, i = (bits << 6) | (c - 0x61 + 26), i + 1
            elif 0x30 <= c <= 0x39:
                bits, i = (bits << 6) | (c - 0x30 + 52), i + 1
            elif c == 0x2B:
                bits, i = (bits << 6) | 62, i + 1
            elif c == 0x2F:
                bits, i = (bits << 6) | 63, i + 1
            elif c == 0x3D:
                bits, i = bits << 6, i + 1
                eqcnt += 1
            bpos += 1
        if i == 0 and bpos >= len(text):
            continue
        if eqcnt == 0:
            out += bytes([(bits >> 16) & 0xFF, (bits >> 8) & 0xFF, bits & 0xFF])
        elif eqcnt == 1:
            out += bytes([(bits >> 16) & 0xFF, (bits >> 8) & 0xFF])
        elif eqcnt == 2:
            out.append((bits >> 16) & 0xFF)
    return bytes(out)


def quote_encode(data: bytes) -> bytes:
    return b"".join(b"=%02X" % c if c == 0x3D or (c < 0x20 and c not in (0x0D, 0x0A, 0x09)) or c > 0x7E
                    else bytes([c]) for c in data)


def _quote_digit(c: int) -> int:
    c = _signed(c)
    if 0x41 <= c <= 0x5A:
        return c - 0x41 + 10
    if 0x61 <= c <= 0x7A:
        return c - 0x61 + 10
    return c - 0x30


def quote_decode(data: bytes) -> bytes:
    text = _cstr(data) + b"\0\0"
    out = bytearray()
    i = 0
    while text[i] != 0:
        if text[i] == 0x3D:  # '='
            i += 1
            if text[i] == 0:
                break
            if text[i] == 0x0D and text[i + 1] == 0x0A:
                i += 1
            elif text[i] not in (0x0A, 0x0D):
                byte = (_quote_digit(text[i]) * 16) & 0xFF
                i += 1
                if text[i] == 0:
                    break
                out.append((byte + _quote_digit(text[i])) & 0xFF)
        else:
            out.append(text[i])
        i += 1
    return bytes(out)


def hex_decode(data: bytes) -> bytes:
    text = _cstr(data)
    out = bytearray()
    i = 0
    n = len(text)
    while i < n:
        while i < n and 0 <= _signed(text[i]) <= 0x20:  # the C loop also skips the NUL: stop there instead
            i += 1
        if i >= n:
            break
        num = 0
        c = text[i]
        if c in _HEX_DIGITS:
            num = int(chr(c), 16)
        c = text[i + 1] if i + 1 < n else 0
        if c in _HEX_DIGITS:
            num = num * 16 + int(chr(c), 16)
        elif c == 0:
            break
        out.append(num & 0xFF)
        i += 2
    return bytes(out)


def pack_encode(data: bytes) -> bytes:
    """tcpackencode (PackBits)."""
    out = bytearray()
    end = len(data)
    p = 0
    while p < end:
        head = len(out)
        rp = p + 1
        step = 1
        while rp < end and step < 0x7F and data[rp] == data[p]:
            step += 1
            rp += 1
        if step <= 1 and rp < end:
            out += bytes([0, data[p]])
            while rp < end and step < 0x7F and data[rp] != data[rp - 1]:
                out.append(data[rp])
                step += 1
                rp += 1
            if rp < end and data[rp - 1] == data[rp]:
                out.pop()
                rp -= 1
                step -= 1
            out[head] = 1 if step == 1 else (-step) & 0xFF
        else:
            out += bytes([step, data[p]])
        p += step
    return bytes(out)


def pack_decode(data: bytes) -> bytes:
    out = bytearray()
    end = len(data)
    p = 0
    while p < end:
        head = _signed(data[p])
        step = abs(head)
        p += 1
        if head >= 0:
            out += bytes([data[p] if p < end else 0]) * step  # past the end C reads the string's NUL
            p += 1
        else:
            step = min(step, end - p)
            out += data[p:p + step]
            p += step
    return bytes(out)


def xml_escape(data: bytes) -> bytes:
    text = _cstr(data)
    return text.replace(b"&", b"&amp;").replace(b"<", b"&lt;").replace(b">", b"&gt;").replace(b'"', b"&quot;")


def xml_unescape(data: bytes) -> bytes:
    text = _cstr(data)
    out = bytearray()
    i = 0
    while i < len(text):
        if text[i] == 0x26:
            for ent, char in ((b"&amp;", b"&"), (b"&lt;", b"<"), (b"&gt;", b">"), (b"&quot;", b'"')):
                if text.startswith(ent, i):
                    out += char
                    i += len(ent)
                    break
            else:
                out.append(text[i])
                i += 1
        else:
            out.append(text[i])
            i += 1
    return bytes(out)


def _zlib_encode(data: bytes, wbits: int, memlevel: int) -> bytes:
    comp = zlib.compressobj(6, zlib.DEFLATED, wbits, memlevel, zlib.Z_DEFAULT_STRATEGY)
    return comp.compress(data) + comp.flush()


def _zlib_decode(data: bytes, wbits: int) -> Optional[bytes]:
    dec = zlib.decompressobj(wbits)
    try:
        out = dec.decompress(data)
    except zlib.error:
        return None
    return out if dec.eof else None


def _bzip_encode(data: bytes) -> Optional[bytes]:
    try:
        import bz2
    except ImportError:  # a Python built without bz2: as tcbzipencode without libbz2
        return None
    return bz2.compress(data, 9)


def _bzip_decode(data: bytes) -> Optional[bytes]:
    try:
        import bz2
    except ImportError:
        return None
    dec = bz2.BZ2Decompressor()
    try:
        out = dec.decompress(data)
    except (OSError, ValueError):
        return None
    return out if dec.eof else None


# TCBS: a Burrows-Wheeler transform per 8 KiB unit, move-to-front, then Elias gamma codes.

_BS_UNIT = 8192
_BWT_COUNT_MIN = 64
_BWT_COUNT_LEVELS = 4


def _rotation_ranks(unit: bytes) -> list[int]:
    """A rank per rotation start of ``unit``: equal ranks for equal rotations, in their byte order."""
    n = len(unit)
    rank = list(unit)
    length = 1
    while length < n:
        pairs = [(rank[i], rank[(i + length) % n]) for i in range(n)]
        order = {p: r for r, p in enumerate(sorted(set(pairs)))}
        rank = [order[p] for p in pairs]
        if len(order) == n:
            break
        length *= 2
    return rank


def _bwt_sort(unit: bytes) -> list[int]:
    """The rotation starts of ``unit`` in the order tcbsencode's sorts leave them (ties included)."""
    n = len(unit)
    arrays = list(range(n))
    if n < 2:
        return arrays
    rank = _rotation_ranks(unit)
    doubled = unit + unit

    def insert(arr: list[int], lo: int, hi: int) -> None:  # tcbwtsortstrinsert on arr[lo:hi]
        for i in range(lo + 1, hi):
            if rank[arr[i - 1]] - rank[arr[i]] > 0:
                swap = arr[i]
                j = i
                while j > lo:
                    if rank[arr[j - 1]] - rank[swap] < 0:
                        break
                    arr[j] = arr[j - 1]
                    j -= 1
                arr[j] = swap

    def heap(arr: list[int], lo: int, hi: int) -> None:  # tcbwtsortstrheap on arr[lo:hi]
        def cmp(a: int, b: int) -> int:
            return rank[arr[lo + a]] - rank[arr[lo + b]]

        def swap(a: int, b: int) -> None:
            arr[lo + a], arr[lo + b] = arr[lo + b], arr[lo + a]

        anum = hi - lo - 1
        bottom = (anum >> 1) + 1
        top = anum
        while bottom > 0:
            bottom -= 1
            mybot = bottom
            i = mybot * 2
            while i <= top:
                if i < top and cmp(i + 1, i) > 0:
                    i += 1
                if cmp(mybot, i) >= 0:
                    break
                swap(mybot, i)
                mybot = i
                i = mybot * 2
        while top > 0:
            swap(0, top)
            top -= 1
            mybot = bottom
            i = mybot * 2
            while i <= top:
                if i < top and cmp(i + 1, i) > 0:
                    i += 1
                if cmp(mybot, i) >= 0:
                    break
                swap(mybot, i)
                mybot = i
                i = mybot * 2

    def count(arr: list[int], lo: int, hi: int, level: int) -> None:  # tcbwtsortstrcount on arr[lo:hi]
        skip = max(level, 0)
        counts = [0] * 256
        for k in range(lo, hi):
            counts[doubled[arr[k] + skip]] += 1
        accum = counts[:]
        for c in range(1, 256):
            accum[c] += accum[c - 1]
        sorted_part = [0] * (hi - lo)
        for k in range(lo, hi):
            c = doubled[arr[k] + skip]
            accum[c] -= 1
            sorted_part[accum[c]] = arr[k]
        arr[lo:hi] = sorted_part
        off = lo
        for c in range(256):
            num = counts[c]
            if num > 1:
                if 0 <= level < _BWT_COUNT_LEVELS and num >= _BWT_COUNT_MIN:
                    count(arr, off, off + num, level + 1)
                elif num >= _BWT_COUNT_MIN:
                    heap(arr, off, off + num)
                else:
                    insert(arr, off, off + num)
            off += num

    if n >= _BWT_COUNT_MIN:
        count(arrays, 0, n, 0)
    else:
        insert(arrays, 0, n)
    return arrays


def _mtf(data: bytearray, decode: bool) -> None:
    table = list(range(256))
    for i, c in enumerate(data):
        if decode:
            idx = c
            c = table[idx]
            data[i] = c
        else:
            idx = table.index(c)
            data[i] = idx
        if idx > 0:
            del table[idx]
            table.insert(0, c)


def _gamma_encode(data: bytes) -> bytes:
    out = bytearray([0])
    idx = 3

    def put(bit: int) -> None:
        nonlocal idx
        if idx >= 8:
            out.append(0)
            idx = 0
        out[-1] |= bit << idx
        idx += 1

    for c in data:
        if not c:
            put(1)
            continue
        c += 1
        plen = 8
        while plen > 0 and not c & (1 << plen):
            plen -= 1
        for _ in range(plen):
            put(0)
        while plen >= 0:
            put(1 if c & (1 << plen) else 0)
            plen -= 1
    if idx >= 8:
        out.append(0)
        idx = 0
    out[0] |= idx & 7
    return bytes(out)


def _gamma_decode(data: bytes) -> bytearray:
    out = bytearray()
    if not data:
        return out
    bnum = ((len(data) - 1) << 3) + (data[0] & 7) - 3
    pos, idx = 0, 3

    def read() -> int:
        nonlocal pos, idx
        if idx >= 8:
            pos += 1
            idx = 0
        bit = (data[pos] >> idx) & 1 if pos < len(data) else 0
        idx += 1
        return bit

    while bnum > 0:
        sign = read()
        bnum -= 1
        if sign:
            out.append(0)
            continue
        plen = 1
        while bnum > 0:
            sign = read()
            bnum -= 1
            if sign:
                break
            plen += 1
        c = 1
        while bnum > 0 and plen > 0:
            plen -= 1
            sign = read()
            bnum -= 1
            c = (c << 1) + sign
        out.append((c - 1) & 0xFF)
    return out


def tcbs_encode(data: bytes) -> bytes:
    body = bytearray()
    for start in range(0, len(data), _BS_UNIT):
        unit = data[start:start + _BS_UNIT]
        usiz = len(unit)
        idx = 0
        chars = bytearray()
        for i, rot in enumerate(_bwt_sort(unit)):
            if rot == 0:
                idx = i
                chars.append(unit[usiz - 1])
            else:
                chars.append(unit[rot - 1])
        body += struct.pack("<H", idx & 0xFFFF) + chars
    _mtf(body, decode=False)
    return _gamma_encode(bytes(body))


def tcbs_decode(data: bytes) -> bytes:
    body = _gamma_decode(data)
    _mtf(body, decode=True)
    out = bytearray()
    p = 0
    end = len(body)
    while p < end:
        idx = body[p] | ((body[p + 1] if p + 1 < end else 0) << 8)
        p += 2
        usiz = min(_BS_UNIT, end - p)
        if usiz <= 0:
            break
        if idx >= usiz:
            idx = 0
        last = body[p:p + usiz]
        fnums = [0] * 256
        tnums = [0] * 256
        recs = []
        for fc, tc in zip(sorted(last), last):
            recs.append(((fc << 23) + fnums[fc], (tc << 23) + tnums[tc]))
            fnums[fc] += 1
            tnums[tc] += 1
        first = recs[idx][0]
        recs.sort(key=lambda r: r[1])
        where = {r[1]: i for i, r in enumerate(recs)}
        idx = next((i for i, r in enumerate(recs) if r[0] == first), 0)
        for _ in range(usiz):
            out.append(recs[idx][0] >> 23)
            nxt = where.get(recs[idx][0])
            if nxt is None:  # corrupt input: the C code would read outside its array
                break
            idx = nxt
        p += usiz
    return bytes(out)


def lua_codec(mode: bytes, data: bytes) -> Optional[bytes]:
    """serv_codec: None (nil) for an unknown mode or undecodable data."""
    mode = _cstr(mode)
    decode = mode.startswith(b"~")
    name = (mode[1:] if decode else mode).lower()
    if decode:
        if name == b"url":
            return url_decode(data)
        if name == b"base":
            return base_decode(data)
        if name == b"quote":
            return quote_decode(data)
        if name == b"hex":
            return hex_decode(data)
        if name == b"pack":
            return pack_decode(data)
        if name == b"tcbs":
            return tcbs_decode(data)
        if name == b"deflate":
            return _zlib_decode(data, 15)
        if name == b"gzip":
            return _zlib_decode(data, 31)
        if name == b"bzip":
            return _bzip_decode(data)
        if name == b"xml":
            return xml_unescape(data)
        return None
    if name == b"url":
        return url_encode(data)
    if name == b"base":
        return base_encode(data)
    if name == b"quote":
        return quote_encode(data)
    if name == b"hex":
        return data.hex().encode()
    if name == b"pack":
        return pack_encode(data)
    if name == b"tcbs":
        return tcbs_encode(data)
    if name == b"deflate":
        return _zlib_encode(data, 15, 8)
    if name == b"gzip":
        return _zlib_encode(data, 31, 9)
    if name == b"bzip":
        return _bzip_encode(data)
    if name == b"xml":
        return xml_escape(data)
    return None


def lua_hash(mode: bytes, data: bytes) -> Union[bytes, int, None]:
    name = _cstr(mode).lower()
    if name in (b"md5", b"md5raw"):
        digest = hashlib.md5(data, usedforsecurity=False)
        return digest.hexdigest().encode() if name == b"md5" else digest.digest()
    if name == b"crc32":
        return zlib.crc32(data) & 0xFFFFFFFF
    return None


_BIT_OPS: dict[bytes, Callable[[int, int], int]] = {
    b"and": lambda a, b: a & b, b"or": lambda a, b: a | b, b"xor": lambda a, b: a ^ b,
    b"not": lambda a, b: ~a, b"left": lambda a, b: a << (b & 31), b"right": lambda a, b: a >> (b & 31),
}


def lua_bit(mode: bytes, num: float, aux: float) -> Optional[int]:
    op = _BIT_OPS.get(_cstr(mode).lower())
    if op is None:
        return None
    return op(_c_u32(num), _c_u32(aux)) & 0xFFFFFFFF


def lua_strstr(text: bytes, pattern: bytes, alt: Optional[bytes]) -> Union[bytes, int]:
    text, pattern = _cstr(text), _cstr(pattern)
    if alt is None:
        return text.find(pattern) + 1
    alt = _cstr(alt)
    return text.replace(pattern, alt) if pattern else text


# -- _regex: POSIX extended regular expressions, as tcregexmatch / tcregexreplace ------------------------

class _PosixRegex:
    """regcomp/regexec of glibc through ctypes, in the C locale (ttserver never calls setlocale)."""

    REG_EXTENDED, REG_ICASE, REG_NOSUB, REG_NOTBOL = 1, 2, 8, 1
    LC_ALL_MASK = 8127

    def __init__(self) -> None:
        if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
            raise OSError("POSIX regex through ctypes is only wired for glibc")
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        self._regcomp = libc.regcomp
        self._regcomp.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        self._regcomp.restype = ctypes.c_int
        self._regexec = libc.regexec
        self._regexec.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_int]
        self._regexec.restype = ctypes.c_int
        self._regfree = libc.regfree
        self._regfree.argtypes = [ctypes.c_void_p]
        newlocale = libc.newlocale
        newlocale.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p]
        newlocale.restype = ctypes.c_void_p
        self._uselocale = libc.uselocale
        self._uselocale.argtypes = [ctypes.c_void_p]
        self._uselocale.restype = ctypes.c_void_p
        self._c_locale = newlocale(self.LC_ALL_MASK, b"C", None)
        if not self._c_locale:
            raise OSError("newlocale failed")

    def _compile(self, regex: bytes, flags: int) -> Optional[ctypes.Array[ctypes.c_char]]:
        buf = ctypes.create_string_buffer(256)  # regex_t is 64 bytes on glibc
        if self._regcomp(buf, regex, flags) != 0:
            return None
        return buf

    def match(self, text: bytes, regex: bytes) -> bool:
        flags = self.REG_EXTENDED | self.REG_NOSUB
        if regex.startswith(b"*"):
            flags |= self.REG_ICASE
            regex = regex[1:]
        old = self._uselocale(self._c_locale)
        try:
            compiled = self._compile(regex, flags)
            if compiled is None:
                return False
            try:
                return bool(self._regexec(compiled, text, 0, None, 0) == 0)
            finally:
                self._regfree(compiled)
        finally:
            self._uselocale(old)

    def replace(self, text: bytes, regex: bytes, alt: bytes) -> bytes:
        flags = self.REG_EXTENDED
        if regex.startswith(b"*"):
            flags |= self.REG_ICASE
            regex = regex[1:]
        if not regex:
            return text
        old = self._uselocale(self._c_locale)
        try:
            compiled = self._compile(regex, flags)
            if compiled is None:
                return text
            try:
                subs = (ctypes.c_int * 512)()
                if self._regexec(compiled, text, 32, subs, 0) != 0:
                    return text
                out = bytearray()
                pos = 0
                first = True
                while pos < len(text) and self._regexec(compiled, text[pos:], 10, subs,
                                                        0 if first else self.REG_NOTBOL) == 0:
                    first = False
                    if subs[0] == -1:
                        break
                    out += text[pos:pos + subs[0]]
                    _expand(out, alt, text, pos, [(subs[2 * k], subs[2 * k + 1]) for k in range(10)])
                    end = subs[1]
                    pos += end
                    if end < 1:
                        break
                out += text[pos:]
                return bytes(out)
            finally:
                self._regfree(compiled)
        finally:
            self._uselocale(old)


def _expand(out: bytearray, alt: bytes, text: bytes, base: int, groups: list[tuple[int, int]]) -> None:
    """tcregexreplace's alternative: ``&`` the match, ``\\0``..``\\9`` a group, ``\\x`` the byte x."""
    i = 0
    while i < len(alt):
        c = alt[i]
        if c == 0x5C:  # backslash
            nxt = alt[i + 1] if i + 1 < len(alt) else 0
            if 0x30 <= nxt <= 0x39:
                start, end = groups[nxt - 0x30]
                if start != -1 and end != -1:
                    out += text[base + start:base + end]
                i += 1
            elif nxt:
                out.append(nxt)
                i += 1
        elif c == 0x26:  # '&'
            start, end = groups[0]
            out += text[base + start:base + end]
        else:
            out.append(c)
        i += 1


class _PythonRegex:
    """The fallback where glibc's regex cannot be loaded: Python's ``re`` (not POSIX leftmost-longest)."""

    def match(self, text: bytes, regex: bytes) -> bool:
        try:
            return _compile_regex(regex).search(text) is not None
        except re.error:
            return False

    def replace(self, text: bytes, regex: bytes, alt: bytes) -> bytes:
        if regex in (b"", b"*"):
            return text
        try:
            pattern = _compile_regex(regex)
        except re.error:
            return text
        out = bytearray()
        pos = 0
        while pos < len(text):
            m = pattern.search(text, pos)  # from pos, `^` no longer matches: REG_NOTBOL
            if m is None:
                break
            groups = [(m.start(k) - pos, m.end(k) - pos) if k <= pattern.groups and m.start(k) >= 0 else (-1, -1)
                      for k in range(10)]
            out += text[pos:m.start()]
            _expand(out, alt, text, pos, groups)
            end = m.end() - pos
            pos = m.end()
            if end < 1:
                break
        out += text[pos:]
        return bytes(out)


_regex_engine: Optional[Union[_PosixRegex, _PythonRegex]] = None


def _regex() -> Union[_PosixRegex, _PythonRegex]:
    global _regex_engine
    if _regex_engine is None:
        try:
            _regex_engine = _PosixRegex()
        except (OSError, AttributeError):
            _regex_engine = _PythonRegex()
    return _regex_engine


def lua_regex(text: bytes, regex: bytes, alt: Optional[bytes]) -> Union[bytes, bool]:
    text, regex = _cstr(text), _cstr(regex)
    if alt is None:
        return _regex().match(text, regex)
    return _regex().replace(text, regex, _cstr(alt))


# -- _ucs / _dist ----------------------------------------------------------------------------------------

def utf_to_ucs(data: bytes) -> list[int]:
    """tcstrutftoucs (UCS-2: a four-byte sequence gives nothing for its lead byte)."""
    text = _cstr(data) + b"\0\0"
    out: list[int] = []
    i = 0
    while text[i] != 0:
        c = text[i]
        if c < 0x80:
            out.append(c)
        elif c < 0xE0:
            if text[i + 1] >= 0x80:
                out.append(((c & 0x1F) << 6) | (text[i + 1] & 0x3F))
                i += 1
        elif c < 0xF0:
            if text[i + 1] >= 0x80 and text[i + 2] >= 0x80:
                out.append(((c & 0xF) << 12) | ((text[i + 1] & 0x3F) << 6) | (text[i + 2] & 0x3F))
                i += 2
        i += 1
    return out


def ucs_to_utf(codes: list[int]) -> bytes:
    out = bytearray()
    for c in codes:
        if c < 0x80:
            out.append(c)
        elif c < 0x800:
            out += bytes([0xC0 | (c >> 6), 0x80 | (c & 0x3F)])
        else:
            out += bytes([0xE0 | (c >> 12), 0x80 | ((c & 0xFFF) >> 6), 0x80 | (c & 0x3F)])
    return _cstr(bytes(out))  # lua_pushstring: up to the first NUL


_DIST_MAX = 4096


def _levenshtein(a: Union[bytes, list[int]], b: Union[bytes, list[int]]) -> int:
    a, b = a[:_DIST_MAX], b[:_DIST_MAX]
    # A common prefix and suffix never change the distance; dropping them first keeps the table
    # small for the usual near-equal strings (the full table of two 4,096-byte strings is 16 million
    # steps of Python, long enough for a loaded machine to time a client out).
    start = 0
    limit = min(len(a), len(b))
    while start < limit and a[start] == b[start]:
        start += 1
    end_a, end_b = len(a), len(b)
    while end_a > start and end_b > start and a[end_a - 1] == b[end_b - 1]:
        end_a -= 1
        end_b -= 1
    a, b = a[start:end_a], b[start:end_b]
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
        prev = cur
    return prev[-1]


def lua_dist(a: bytes, b: bytes, utf: bool) -> int:
    if utf:
        return _levenshtein(utf_to_ucs(a), utf_to_ucs(b))
    return _levenshtein(_cstr(a), _cstr(b))


# -- files -----------------------------------------------------------------------------------------------

def _realpath(path: bytes) -> Optional[bytes]:
    """realpath(3): None where it fails (a path that does not exist)."""
    real = os.path.realpath(path)
    return real if os.path.exists(real) else None


def tc_realpath(path: bytes) -> Optional[bytes]:
    real = _realpath(path)
    if real is not None:
        return real
    cut = path.rfind(b"/")
    if cut == 0:
        return path
    if cut > 0:
        prefix = _realpath(path[:cut])
        rest = path[cut + 1:]
    else:
        prefix = _realpath(b".")
        rest = path
    if prefix is None:
        return None
    if prefix == b"/":
        prefix = b""
    return prefix + b"/" + rest


def lua_stat(path: bytes) -> Optional[dict[bytes, Any]]:
    path = _cstr(path)
    try:
        st = os.lstat(path)
    except (OSError, ValueError):
        return None
    mode = st.st_mode
    readable = writable = executable = False
    if st.st_uid == os.geteuid():
        readable, writable, executable = bool(mode & 0o400), bool(mode & 0o200), bool(mode & 0o100)
    if st.st_gid == os.getegid():
        readable, writable, executable = (readable or bool(mode & 0o040), writable or bool(mode & 0o020),
                                          executable or bool(mode & 0o010))
    readable, writable, executable = (readable or bool(mode & 0o004), writable or bool(mode & 0o002),
                                      executable or bool(mode & 0o001))
    out: dict[bytes, Any] = {
        b"dev": st.st_dev, b"ino": st.st_ino, b"mode": mode, b"nlink": st.st_nlink, b"uid": st.st_uid,
        b"gid": st.st_gid, b"rdev": getattr(st, "st_rdev", 0), b"size": st.st_size,
        b"blksize": getattr(st, "st_blksize", 0), b"blocks": getattr(st, "st_blocks", 0),
        b"atime": int(st.st_atime), b"mtime": int(st.st_mtime), b"ctime": int(st.st_ctime),
        b"_regular": statmod.S_ISREG(mode), b"_directory": statmod.S_ISDIR(mode), b"_readable": readable,
        b"_writable": writable, b"_executable": executable,
    }
    real = tc_realpath(path)
    if real is not None:
        out[b"_realpath"] = real
    return out


def lua_glob(pattern: bytes) -> list[bytes]:
    try:
        return globmod.glob(_cstr(pattern))
    except (OSError, ValueError):
        return []


def remove_link(path: bytes) -> bool:
    """tcremovelink: a file, or a directory with everything under it."""
    try:
        st = os.lstat(path)
    except (OSError, ValueError):
        return False
    try:
        os.unlink(path)
        return True
    except OSError:
        pass
    if not statmod.S_ISDIR(st.st_mode):
        return False
    try:
        names = os.listdir(path)
    except OSError:
        return False
    for name in names:
        remove_link(path + name if path.endswith(b"/") else path + b"/" + name)
    try:
        os.rmdir(path)
        return True
    except OSError:
        return False


def lua_mkdir(path: bytes) -> bool:
    try:
        os.mkdir(_cstr(path), 0o755)
        return True
    except (OSError, ValueError):
        return False


# -- the Lua side ------------------------------------------------------------------------------------------

# Runs once per state, before the user's script: installs the built-ins as globals and returns the
# functions Python calls. `host` holds the Python callables; every one of them is wrapped so that an
# error it raises is a plain Lua string error, as a C function's lua_error would be.
_PRELUDE = r"""
local host_raw, COUNT = ...
local now = os.time
local type, tostring, tonumber, select, error, pcall, rawget, pairs, unpack, loadstring =
      type, tostring, tonumber, select, error, pcall, rawget, pairs, unpack, loadstring
local G = _G
local sethook = debug.sethook
local co_create, co_resume = coroutine.create, coroutine.resume

local function reraise(ok, ...)
  if ok then return ... end
  error(tostring((...)), 0)
end
local host = {}
for name, fn in pairs(host_raw) do
  host[name] = function(...) return reraise(pcall(fn, ...)) end
end
local check = host_raw.deadline_passed
local expires = 0  -- the call's deadline in os.time() seconds (rounded up)

-- Past the deadline the hook fires on every instruction of the thread, so that no pcall can keep
-- the script going: the error reaches the call.
local hook
local function expire(message)
  sethook(hook, "", 1)
  error(message or check(), 0)
end
hook = function()
  local message = check()
  if message then expire(message) end
end
-- A C function runs no VM instruction: a loop calling a slow one (say pcall(string.rep, "x", 2^30)
-- under the memory limit) would rarely meet the hook. These check the clock first.
local function timed(fn)
  return function(...)
    if now() >= expires then expire() end
    return fn(...)
  end
end
string.rep, string.find, string.match, string.gsub = timed(string.rep), timed(string.find),
  timed(string.match), timed(string.gsub)
table.concat = timed(table.concat)

local function tostr(v)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then return tostring(v) end
  return nil
end
local function report(e)
  host.report(tostr(e) or "(null)")
end
local function bad(name)
  error(name .. ": invalid arguments", 0)
end
local function strings(name, count, ...)
  if select("#", ...) ~= count then bad(name) end
  local a, b = ...
  a = tostr(a)
  if not a then bad(name) end
  if count == 1 then return a end
  b = tostr(b)
  if not b then bad(name) end
  return a, b
end
local function none(name, ...)
  if select("#", ...) ~= 0 then bad(name) end
end

-- the database
_put = function(...) return host.put(strings("_put", 2, ...)) end
_putkeep = function(...) return host.putkeep(strings("_putkeep", 2, ...)) end
_putcat = function(...) return host.putcat(strings("_putcat", 2, ...)) end
_out = function(...) return host.out(strings("_out", 1, ...)) end
_get = function(...) return host.get(strings("_get", 1, ...)) end
_vsiz = function(...) return host.vsiz(strings("_vsiz", 1, ...)) end
_iterinit = function(...) none("_iterinit", ...) return host.iterinit() end
_iternext = function(...) none("_iternext", ...) return host.iternext() end
_vanish = function(...) none("_vanish", ...) return host.vanish() end
_rnum = function(...) none("_rnum", ...) return host.rnum() end
_size = function(...) none("_size", ...) return host.size() end
_fwmkeys = function(...)
  local argc = select("#", ...)
  if argc < 1 then bad("_fwmkeys") end
  local prefix, max = ...
  prefix = tostr(prefix)
  if not prefix then bad("_fwmkeys") end
  local num = -1
  if argc > 1 and tonumber(max) then num = tonumber(max) end
  return host.fwmkeys(prefix, num)
end
local function adder(name, fn)
  return function(...)
    if select("#", ...) ~= 2 then bad(name) end
    local key, num = ...
    key = tostr(key)
    num = tonumber(num)
    if not key or not num then bad(name) end
    return fn(key, num)
  end
end
_addint = adder("_addint", function(k, n) return host.addint(k, n) end)
_adddouble = adder("_adddouble", function(k, n) return host.adddouble(k, n) end)
_misc = function(...)
  local argc = select("#", ...)
  if argc < 1 then bad("_misc") end
  local name = tostr((...))
  if not name then bad("_misc") end
  local args = {}
  for i = 2, argc do
    local a = select(i, ...)
    local t = type(a)
    if t == "string" or t == "number" then
      args[#args + 1] = tostring(a)
    elseif t == "table" then
      for j = 1, #a do
        local e = tostr(rawget(a, j))
        if e then args[#args + 1] = e end
      end
    end
  end
  return host.misc(name, args, #args)
end

local function each(records, func)
  while true do
    local k, v = host.next_record(records)
    if k == nil then return end
    local ok, r = pcall(func, k, v)
    if not ok then report(r) return end
    if not r then return end
  end
end
_foreach = function(...)
  local func = ...
  if select("#", ...) ~= 1 or type(func) ~= "function" then bad("_foreach") end
  each(host.records(), func)
  return true
end
_mapreduce = function(...)
  local argc = select("#", ...)
  local mapper, reducer, keys = ...
  if argc < 2 or type(mapper) ~= "function" or type(reducer) ~= "function" then bad("_mapreduce") end
  local targets = nil
  if argc > 2 then
    local t = type(keys)
    if t == "string" or t == "number" then
      targets = {tostring(keys)}
    elseif t == "table" then
      targets = {}
      for i = 1, #keys do
        local k = tostr(rawget(keys, i))
        if k then targets[#targets + 1] = k end
      end
    end
  end
  local store = host.mr_new()
  local emit = function(...)
    if select("#", ...) ~= 2 then bad("_mapreducemapemit") end
    local k, v = ...
    k, v = tostr(k), tostr(v)
    if not k or not v then bad("_mapreducemapemit") end
    return host.mr_emit(store, k, v)
  end
  local err = false
  if targets then
    for i = 1, #targets do
      local v = host.get(targets[i])
      if v ~= nil then
        local ok, e = pcall(mapper, targets[i], v, emit)
        if not ok then report(e) err = true end
      end
      host.mr_dump(store)
      if err then break end
    end
  else
    local records = host.records()
    while true do
      local k, v = host.next_record(records)
      if k == nil then break end
      local ok, e = pcall(mapper, k, v, emit)
      if not ok then report(e) break end
    end
  end
  host.mr_dump(store)
  if not err then
    local groups = host.mr_groups(store)
    while true do
      local k, vals = host.mr_next(groups)
      if k == nil then break end
      local ok, r = pcall(reducer, k, vals)
      if not ok then report(r) err = true elseif not r then err = true end
      if err then
        -- serv_mapreduce has already begun the next key's values when it calls the reducer of a key:
        -- after a failure that next key is still reduced, with its first value only
        local k2, first = host.mr_next(groups, true)
        if k2 ~= nil then
          local ok2, r2 = pcall(reducer, k2, first)
          if not ok2 then report(r2) end
        end
        break
      end
    end
  end
  return not err
end

-- the stash and the user locks, shared by every state
_stashput = function(...) return host.stashput(strings("_stashput", 2, ...)) end
_stashputkeep = function(...) return host.stashputkeep(strings("_stashputkeep", 2, ...)) end
_stashputcat = function(...) return host.stashputcat(strings("_stashputcat", 2, ...)) end
_stashout = function(...) return host.stashout(strings("_stashout", 1, ...)) end
_stashget = function(...) return host.stashget(strings("_stashget", 1, ...)) end
_stashvanish = function(...) none("_stashvanish", ...) host.stashvanish() end
_stashforeach = function(...)
  local func = ...
  if select("#", ...) ~= 1 or type(func) ~= "function" then bad("_stashforeach") end
  each(host.stash_records(), func)
end
_lock = function(...) return host.lock(strings("_lock", 1, ...)) end
_unlock = function(...) return host.unlock(strings("_unlock", 1, ...)) end

-- the server
_eval = function(...)
  local chunk = ...
  if select("#", ...) ~= 1 then bad("_eval") end
  chunk = tostr(chunk)
  if not chunk then bad("_eval") end
  host.eval_others(chunk)
  local f, e = loadstring(chunk)
  if not f then report(e) else
    local ok, e2 = pcall(f)
    if not ok then report(e2) end
  end
  return true
end
_log = function(...)
  local argc = select("#", ...)
  if argc < 1 then bad("_log") end
  local msg, level = ...
  msg = tostr(msg)
  if not msg then bad("_log") end
  local num = 1
  if argc > 1 then num = tonumber(level) or 0 end
  host.log(msg, num)
end

-- utilities
local function numbers(...)
  local nums = {}
  for i = 1, select("#", ...) do
    local a = select(i, ...)
    local t = type(a)
    if t == "table" then
      for j = 1, #a do nums[#nums + 1] = tonumber(rawget(a, j)) or 0 end
    elseif t == "number" or t == "string" then
      nums[#nums + 1] = tonumber(a) or 0
    else
      nums[#nums + 1] = 0
    end
  end
  return nums
end
_pack = function(...)
  if select("#", ...) < 1 then bad("_pack") end
  local fmt = tostr((...))
  if not fmt then bad("_pack") end
  local nums = numbers(select(2, ...))
  return host.pack(fmt, nums, #nums)
end
_unpack = function(...)
  if select("#", ...) ~= 2 then bad("_unpack") end
  local fmt, data = ...
  fmt = tostr(fmt)
  if not fmt then bad("_unpack") end
  return host.unpack(fmt, tostr(data) or "")
end
_split = function(...)
  local argc = select("#", ...)
  if argc < 1 then bad("_split") end
  local str, delims = ...
  str = tostr(str)
  if not str then bad("_split") end
  if argc > 1 then delims = tostr(delims) else delims = nil end
  return host.split(str, delims)
end
_codec = function(...)
  local mode, data = strings("_codec", 2, ...)
  return host.codec(mode, data)
end
_hash = function(...)
  local mode, data = strings("_hash", 2, ...)
  return host.hash(mode, data)
end
_bit = function(...)
  local argc = select("#", ...)
  if argc < 2 then bad("_bit") end
  local mode, num, aux = ...
  mode = tostr(mode)
  if not mode then bad("_bit") end
  num = tonumber(num) or 0
  if argc > 2 then aux = tonumber(aux) or 0 else aux = 0 end
  local r = host.bit(mode, num, aux)
  if r == nil then bad("_bit") end
  return r
end
local function text_op(name, fn)
  return function(...)
    local argc = select("#", ...)
    if argc < 2 then bad(name) end
    local str, pat, alt = ...
    str, pat = tostr(str), tostr(pat)
    if not str or not pat then bad(name) end
    if argc > 2 then alt = tostr(alt) else alt = nil end
    return fn(str, pat, alt)
  end
end
_strstr = text_op("_strstr", function(s, p, a) return host.strstr(s, p, a) end)
_regex = text_op("_regex", function(s, p, a) return host.regex(s, p, a) end)
_ucs = function(...)
  if select("#", ...) ~= 1 then error("ucs: invalid arguments", 0) end
  local data = ...
  if type(data) == "table" then
    local codes = {}
    for i = 1, #data do codes[i] = tonumber(rawget(data, i)) or 0 end
    return host.ucs_to_utf(codes, #codes)
  end
  data = tostr(data)
  if not data then error("ucs: invalid arguments", 0) end
  return host.utf_to_ucs(data)
end
_dist = function(...)
  local argc = select("#", ...)
  if argc < 2 then error("dist: invalid arguments", 0) end
  local a, b, utf = ...
  a, b = tostr(a), tostr(b)
  if not a or not b then error("dist: invalid arguments", 0) end
  return host.dist(a, b, argc > 2 and utf and true or false)
end
local function sets(...)
  local args, argc = {...}, select("#", ...)
  if argc == 1 and type(args[1]) == "table" then
    local inner = {}
    local outer = args[1]
    for i = 1, #outer do
      local e = rawget(outer, i)
      if type(e) ~= "table" then break end
      inner[#inner + 1] = e
    end
    if #inner > 0 then args, argc = inner, #inner end
  end
  return args, argc
end
_isect = function(...)
  local args, argc = sets(...)
  local tnum = 0
  for i = 1, argc do
    local a = args[i]
    if type(a) == "table" then
      if #a < 1 then return {} end
      tnum = tnum + 1
    end
  end
  local result = {}
  if tnum == 2 then
    local former = nil
    for i = 1, argc do
      local a = args[i]
      if type(a) == "table" then
        if former then
          local seen = {}
          for j = 1, #a do
            local s = tostr(rawget(a, j))
            if s and former[s] and not seen[s] then seen[s] = true result[#result + 1] = s end
          end
          break
        end
        former = {}
        for j = 1, #a do
          local s = tostr(rawget(a, j))
          if s then former[s] = true end
        end
      end
    end
    return result
  end
  local order, freq = {}, {}
  for i = 1, argc do
    local a = args[i]
    if type(a) == "table" then
      local uniq = {}
      for j = 1, #a do
        local s = tostr(rawget(a, j))
        if s and not uniq[s] then
          uniq[s] = true
          if not freq[s] then freq[s] = 0 order[#order + 1] = s end
          freq[s] = freq[s] + 1
        end
      end
    end
  end
  for i = 1, #order do
    if freq[order[i]] == tnum then result[#result + 1] = order[i] end
  end
  return result
end
_union = function(...)
  local args, argc = sets(...)
  local result, seen = {}, {}
  for i = 1, argc do
    local a = args[i]
    if type(a) == "table" then
      for j = 1, #a do
        local s = tostr(rawget(a, j))
        if s and not seen[s] then seen[s] = true result[#result + 1] = s end
      end
    end
  end
  return result
end
_time = function(...) none("_time", ...) return host.time() end
_sleep = function(...)
  local sec = ...
  if select("#", ...) ~= 1 or not tonumber(sec) then bad("_sleep") end
  return host.sleep(tonumber(sec))
end
_stat = function(...) return host.stat(strings("_stat", 1, ...)) end
_glob = function(...) return host.glob(strings("_glob", 1, ...)) end
_remove = function(...) return host.remove(strings("_remove", 1, ...)) end
_mkdir = function(...) return host.mkdir(strings("_mkdir", 1, ...)) end

-- what the stand-in cannot offer: the time limit owns the debug hook; the stand-in must not exit
debug.sethook = function() error("debug.sethook is not supported by the Tokyo Tyrant stand-in " ..
  "(its ext time limit uses the hook)", 2) end
os.exit = function() error("os.exit is not supported by the Tokyo Tyrant stand-in", 2) end
coroutine.create = function(f)
  local co = co_create(f)
  sethook(co, hook, "", COUNT)
  return co
end
local function wrapped(ok, ...)
  if ok then return ... end
  local e = ...
  if type(e) == "string" or type(e) == "number" then error(e, 2) end
  error(e, 0)
end
coroutine.wrap = function(f)
  local co = coroutine.create(f)
  return function(...) return wrapped(co_resume(co, ...)) end
end
python = nil
package.loaded.python = nil

-- what Python calls
local arm_expires = host_raw.expires
local function arm()
  expires = arm_expires()
  sethook(hook, "", COUNT)
end
local function scalar(r)
  local t = type(r)
  if t == "string" then return r end
  if t == "number" then return tostring(r) end
  if t == "boolean" and r then return "true" end
  return nil
end
local function run(name, key, value)
  arm()
  local fn = G[name]
  if type(fn) ~= "function" then return nil, false end
  local r = fn(key, value)
  local late = check()  -- a coroutine may have met the deadline: the call fails all the same
  if late then expire(late) end
  if type(r) == "table" then
    if #r > 0 then return scalar(rawget(r, 1)), true end
    return nil, true
  end
  return scalar(r), true
end
local function load(source)
  arm()
  local f, e = loadstring(source)
  if not f then return e end
  f()
  return nil
end
local function call_hook(name)
  arm()
  local fn = G[name]
  if type(fn) == "function" then fn() end
end
local function eval(chunk)
  arm()
  local f, e = loadstring(chunk)
  if not f then return e end
  local ok, e2 = pcall(f)
  if not ok then return tostr(e2) or "(null)" end
  return nil
end
return run, load, call_hook, eval
"""


class _Records:
    """A snapshot of the database's records for _foreach / _mapreduce (taken under the lock)."""

    def __init__(self, items: list[tuple[bytes, bytes]]) -> None:
        self.items = items
        self.pos = 0


class _MapReduce:
    def __init__(self) -> None:
        self.batch: list[tuple[bytes, bytes]] = []
        self.values: dict[bytes, list[bytes]] = {}
        self.groups: Optional[Iterator[tuple[bytes, list[bytes]]]] = None


class _State:
    """One Lua state (one of ttserver's worker threads): its runtime and the calls into it."""

    def __init__(self, ext: LuaExt, thid: int) -> None:
        self.ext = ext
        self.thid = thid
        self.pending_evals: list[bytes] = []
        self.deadline = math.inf
        self.budget = 0  # bytes a call may still store outside Lua
        self._build()

    # -- life cycle ------------------------------------------------------------------------------------
    def _build(self) -> None:
        ext = self.ext

        def no_attributes(obj: Any, name: Any, is_setting: bool) -> Any:
            raise AttributeError("Python attributes are not reachable from an ext script")

        self.rt = ext.lua51.LuaRuntime(encoding=None, register_eval=False, register_builtins=False,
                                       unpack_returned_tuples=True, max_memory=ext.memory_limit,
                                       attribute_filter=no_attributes)
        g = self.rt.globals()
        g[b"_version"] = b"1.1.41"
        g[b"_pid"] = os.getpid()
        g[b"_sid"] = ext.sid
        g[b"_thnum"] = ext.threads
        g[b"_thid"] = self.thid + 1
        prelude = self.rt.compile(_PRELUDE.encode(), name=b"=tt_lua")
        host = self.rt.table_from({name.encode(): fn for name, fn in self._host_functions().items()})
        self._run, self._load, self._call_hook, self._eval = prelude(host, HOOK_COUNT)
        self._begin_call()
        try:
            error = self._load(ext.source)
        except ext.lua51.LuaError as exc:
            error = _message(exc)
        if error is not None:
            ext.log(f"Lua error: {_text(error)}")

    def _begin_call(self) -> None:
        self.deadline = time.monotonic() + self.ext.time_limit
        self.budget = self.ext.memory_limit

    def call(self, name: bytes, key: bytes, value: bytes) -> Optional[bytes]:
        lua51 = self.ext.lua51
        self._begin_call()
        try:
            if self._flush_evals():
                # ttserver's _eval leaves the error on the stack of each other state where the chunk
                # failed, and that state's next call fails on it (code 1) without running anything
                return None
            out, _found = self._run(name, key, value)
        except lua51.LuaError as exc:
            self.ext.log(f"Lua error: {_message(exc)}")
            self._after_error()
            return None
        except Exception as exc:  # a stand-in bug is that call's failure only
            self.ext.log(f"ext {_text(name)!r} failed in the stand-in: {exc!r}")
            return None
        return out if isinstance(out, bytes) else None

    def call_hook(self, name: bytes) -> None:
        self._begin_call()
        try:
            self._call_hook(name)
        except self.ext.lua51.LuaError as exc:
            self.ext.log(f"Lua error: {_message(exc)}")

    def _flush_evals(self) -> bool:
        """Run the chunks other states' _eval queued for this one; True if one of them failed."""
        failed = False
        while True:
            with self.ext.eval_lock:
                if not self.pending_evals:
                    return failed
                chunk = self.pending_evals.pop(0)
            error = self._eval(chunk)
            if error is not None:
                self.ext.log(f"Lua error: {_text(error)}")
                failed = True

    def _after_error(self) -> None:
        """A state still holding a quarter of its limit after a failed call (say a global keeping a huge
        table) is replaced by a fresh one, so that the next calls have room."""
        try:
            self.rt.gccollect()
            used = self.rt.get_memory_used() or 0
        except Exception:
            used = self.ext.memory_limit
        if used > self.ext.memory_limit // 4:
            self.ext.log(f"Lua state {self.thid + 1} still holds {used} bytes after a failed call: "
                         "replaced by a fresh one (the script is loaded again)")
            self._build()

    # -- the built-ins' Python side ------------------------------------------------------------------------
    def _table(self, values: Any) -> Any:
        return self.rt.table_from(values)

    def _charge(self, *parts: bytes) -> None:
        # Past the budget the hook's check fails the call too, so that a pcall cannot go on storing.
        self.budget -= sum(len(p) for p in parts)
        if self.budget < 0:
            raise _MemoryLimit(self._memory_message())

    def _memory_message(self) -> str:
        return (f"not enough memory: the Tokyo Tyrant stand-in stores at most {self.ext.memory_limit} bytes "
                "outside Lua (records, stash, mapreduce) per ext call")

    def deadline_passed(self) -> Optional[bytes]:
        """The hook's check: why the call must end now (its time is up, or it stored too much outside
        Lua), or None. Bytes: a Lua string (a Python str would reach Lua as an object)."""
        if self.budget < 0:
            return self._memory_message().encode()
        if time.monotonic() > self.deadline:
            return self._time_message().encode()
        return None

    def expires(self) -> int:
        """The deadline in os.time() seconds, for the checks of the slow C functions."""
        return math.ceil(time.time() + max(self.deadline - time.monotonic(), 0.0))

    def _host_functions(self) -> dict[str, Callable[..., Any]]:
        ext = self.ext
        db = ext.db

        def locked(fn: Callable[..., Any]) -> Callable[..., Any]:
            def call(*args: Any) -> Any:
                with db.lock:
                    return fn(*args)
            return call

        def put(kind: str) -> Callable[[bytes, bytes], bool]:
            method = getattr(db, kind)

            def store(key: bytes, value: bytes) -> bool:
                self._charge(key, value)
                with db.lock:
                    return bool(method(key, value))
            return store

        def vsiz(key: bytes) -> int:
            with db.lock:
                size = db.vsiz(key)
            return -1 if size is None else size

        def iternext() -> Optional[bytes]:
            with db.lock:
                rec = db.iternext()
            return None if rec is None else rec[0]

        def fwmkeys(prefix: bytes, num: float) -> Any:
            with db.lock:
                keys = db.fwmkeys(prefix, _c_i32(float(num)))
            return self._table(keys)

        def addint(key: bytes, num: float) -> Optional[int]:
            self._charge(key, b"1234")
            with db.lock:
                total = db.addint(key, _c_i32(float(num)))
            if total is None:
                return None
            total = _c_i32(float(total))  # tcadbaddint's int: a table's sum out of range is INT_MIN, failure
            return None if total == -(1 << 31) else total

        def adddouble(key: bytes, num: float) -> Optional[float]:
            self._charge(key, b"12345678")
            with db.lock:
                total = db.adddouble(key, float(num))
            return None if total is None or total != total else total

        def misc(name: bytes, args: Any, count: int) -> Any:
            name = _cstr(name)
            target = db
            if name.startswith(b"$"):  # "$name": ttserver's no-update-log form, as RDBMONOULOG
                name = name[1:]
                target = getattr(db, "inner", db)  # past the update log, where there is one
            values = [args[i] for i in range(1, count + 1)]
            self._charge(name, *values)
            with db.lock:
                code, out = target.misc(name.decode("latin-1"), values)
            return self._table(out) if code == 0 else None

        def records() -> _Records:
            with db.lock:
                return _Records(db.items())

        def next_record(recs: _Records) -> tuple[Optional[bytes], Optional[bytes]]:
            if recs.pos >= len(recs.items):
                return None, None
            recs.pos += 1
            return recs.items[recs.pos - 1]

        def mr_emit(store: _MapReduce, key: bytes, value: bytes) -> bool:
            self._charge(key, value, b"1234")
            store.batch.append((key, value))
            return True

        def mr_dump(store: _MapReduce) -> None:
            # tcadbmapbdbdump sorts a batch by key and value bytes together, then adds it to the tree
            store.batch.sort(key=lambda kv: kv[0] + kv[1])
            for key, value in store.batch:
                store.values.setdefault(key, []).append(value)
            store.batch.clear()

        def mr_groups(store: _MapReduce) -> _MapReduce:
            store.groups = iter(sorted(store.values.items()))
            return store

        def mr_next(store: _MapReduce, first_only: bool = False) -> tuple[Optional[bytes], Any]:
            assert store.groups is not None
            for key, values in store.groups:
                return key, self._table(values[:1] if first_only else values)
            return None, None

        def stash_put(kind: str) -> Callable[[bytes, bytes], bool]:
            def store(key: bytes, value: bytes) -> bool:
                self._charge(key, value)
                with ext.stash_lock:
                    old = ext.stash.get(key)
                    if kind == "put" or old is None:
                        ext.stash[key] = value
                    elif kind == "cat":
                        ext.stash[key] = old + value
                return True
            return store

        def stashout(key: bytes) -> bool:
            with ext.stash_lock:
                return ext.stash.pop(key, None) is not None

        def stashget(key: bytes) -> Optional[bytes]:
            with ext.stash_lock:
                return ext.stash.get(key)

        def stashvanish() -> None:
            with ext.stash_lock:
                ext.stash.clear()

        def stash_records() -> _Records:
            with ext.stash_lock:
                items = list(ext.stash.items())
            # the stash is partitioned like the on-memory hash; the sort is stable: insertion order within one
            items.sort(key=lambda kv: _memory_hash_partition(kv[0]))
            return _Records(items)

        def lock(key: bytes) -> bool:
            with ext.user_locks_cond:
                while key in ext.user_locks:
                    if ext.terminating:
                        return False
                    remaining = self.deadline - time.monotonic()
                    if remaining <= 0:
                        raise _TimeLimit(self._time_message())
                    ext.user_locks_cond.wait(min(remaining, 0.1))
                ext.user_locks.add(key)
                return True

        def unlock(key: bytes) -> bool:
            with ext.user_locks_cond:
                if key not in ext.user_locks:
                    return False
                ext.user_locks.discard(key)
                ext.user_locks_cond.notify_all()
                return True

        def sleep(sec: float) -> bool:
            sec = float(sec)
            if not math.isfinite(sec) or sec < sys.float_info.min:  # isnormal(sec) && sec > 0
                return False
            if sec <= _CLOCK_TICK:  # tcsleep yields for a clock tick or less
                time.sleep(0)
                return True
            remaining = self.deadline - time.monotonic()
            if sec > remaining:
                time.sleep(max(remaining, 0.0))
                raise _TimeLimit(self._time_message())
            time.sleep(sec)
            return True

        def log(message: bytes, level: float) -> None:
            name = _LOG_LEVELS.get(_c_i64(float(level)), str(_c_i64(float(level))))
            ext.log(f"{name}: {_text(message)}")

        def report(message: bytes) -> None:
            ext.log(f"Lua error: {_text(message)}")

        def eval_others(chunk: bytes) -> None:
            ext.queue_eval(self, chunk)

        def stat(path: bytes) -> Any:
            info = lua_stat(path)
            return None if info is None else self._table(info)

        def pack(fmt: bytes, nums: Any, count: int) -> bytes:
            return lua_pack(fmt, [nums[i] for i in range(1, count + 1)])

        def ucs_to(codes: Any, count: int) -> bytes:
            return ucs_to_utf([_c_i64(float(codes[i])) & 0xFFFF for i in range(1, count + 1)])

        return {
            "deadline_passed": self.deadline_passed, "expires": self.expires,
            "put": put("put"), "putkeep": put("putkeep"), "putcat": put("putcat"),
            "out": locked(lambda key: bool(db.out(key))), "get": locked(db.get), "vsiz": vsiz,
            "iterinit": locked(lambda: bool(db.iterinit())), "iternext": iternext,
            "vanish": locked(lambda: bool(db.vanish())), "rnum": locked(db.rnum), "size": locked(db.size),
            "fwmkeys": fwmkeys, "addint": addint, "adddouble": adddouble, "misc": misc,
            "records": records, "next_record": next_record,
            "mr_new": _MapReduce, "mr_emit": mr_emit, "mr_dump": mr_dump, "mr_groups": mr_groups, "mr_next": mr_next,
            "stashput": stash_put("put"), "stashputkeep": stash_put("keep"), "stashputcat": stash_put("cat"),
            "stashout": stashout, "stashget": stashget, "stashvanish": stashvanish, "stash_records": stash_records,
            "lock": lock, "unlock": unlock, "sleep": sleep, "time": time.time,
            "log": log, "report": report, "eval_others": eval_others,
            "pack": pack, "unpack": lambda fmt, data: self._table(lua_unpack(fmt, data)),
            "split": lambda text, delims: self._table(lua_split(text, delims)),
            "codec": lua_codec, "hash": lua_hash, "bit": lua_bit, "strstr": lua_strstr, "regex": lua_regex,
            "utf_to_ucs": lambda data: self._table(utf_to_ucs(data)), "ucs_to_utf": ucs_to,
            "dist": lua_dist,
            "stat": stat,
            "glob": lambda pattern: self._table(lua_glob(pattern)),
            "remove": lambda path: remove_link(_cstr(path)), "mkdir": lua_mkdir,
        }

    def _time_message(self) -> str:
        return f"the Tokyo Tyrant stand-in's ext time limit ({self.ext.time_limit:g} s) was exceeded"


def _text(data: Any) -> str:
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)


def _message(exc: BaseException) -> str:
    """A Lua error as ttserver logs it: the message, without lupa's stack traceback."""
    text = str(exc).split("\nstack traceback:", 1)[0]
    if not text and type(exc).__name__ == "LuaMemoryError":  # lupa's carries no message
        return "not enough memory"
    return text


class LuaExt:
    """A ``-ext FILE.lua`` script run as ttserver 1.1.41 runs it (see the module docstring).

    ``call(name, key, value, opts)`` answers an ext request: the bytes to send, or None for a
    failure (code 1). ``opts`` carries RDBXOLCKREC (1) / RDBXOLCKGLB (2): one of 31 record mutexes
    (by the key's hash, as ttserver's ``recmtxidx``) or all of them, held for the call. Other
    commands never take these mutexes, as on the real server.
    """

    def __init__(self, path: Union[str, os.PathLike[str]], db: Database, log: Callable[[str], None],
                 threads: int = DEFAULT_THREADS, time_limit: float = DEFAULT_TIME_LIMIT,
                 memory_limit: int = DEFAULT_MEMORY_LIMIT, sid: int = 0) -> None:
        self.lua51 = import_lua51()
        self.path = Path(path)
        self.source = self.path.read_bytes()  # a missing file fails here, before anything runs
        if threads < 1:
            raise ValueError("the Lua ext needs at least one thread")
        if not time_limit > 0 or not memory_limit > 0:
            raise ValueError("the Lua ext's time and memory limits must be positive")
        self.db = db
        self.log = log
        self.threads = threads
        self.time_limit = float(time_limit)
        self.memory_limit = int(memory_limit)
        self.sid = sid
        self.stash: dict[bytes, bytes] = {}
        self.stash_lock = threading.Lock()
        self.user_locks: set[bytes] = set()
        self.user_locks_cond = threading.Condition()
        self.terminating = False
        self._record_locks = [threading.Lock() for _ in range(RECMTXNUM)]
        self.eval_lock = threading.Lock()
        self._states = [_State(self, i) for i in range(threads)]
        self._idle: queue.LifoQueue[_State] = queue.LifoQueue()
        for state in reversed(self._states):
            self._idle.put(state)
        self._periodic: list[tuple[threading.Thread, threading.Event]] = []
        self._states[0].call_hook(b"_begin")

    def call(self, name: bytes, key: bytes, value: bytes, opts: int = 0) -> Optional[bytes]:
        name = _cstr(name)
        if name.startswith(b"_") or not name:
            return None
        state = self._idle.get()
        try:
            if opts & RDBXOLCKGLB:
                locks = self._record_locks
            elif opts & RDBXOLCKREC:
                locks = [self._record_locks[_record_lock_index(key)]]
            else:
                locks = []
            for lock in locks:
                lock.acquire()
            try:
                return state.call(name, key, value)
            finally:
                for lock in reversed(locks):
                    lock.release()
        finally:
            self._idle.put(state)

    def queue_eval(self, caller: _State, chunk: bytes) -> None:
        """_eval: the other states run ``chunk`` before their next call (the caller runs it at once)."""
        with self.eval_lock:
            for state in self._states:
                if state is not caller:
                    state.pending_evals.append(chunk)

    def add_periodic(self, name: str, period: float) -> None:
        """ttserver's ``-extpc NAME PERIOD``: call NAME with an empty key and value every PERIOD seconds,
        in a state of its own."""
        if not name or not period > 0:
            return
        state = _State(self, self.threads + len(self._periodic))
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(period):
                state.call(name.encode(), b"", b"")

        thread = threading.Thread(target=loop, name=f"tt-standin-extpc-{name}", daemon=True)
        self._periodic.append((thread, stop))
        thread.start()

    def close(self) -> None:
        """Stop the periodic calls, wake waiting ``_lock`` calls (they answer false), run ``_end``."""
        for _thread, stop in self._periodic:
            stop.set()
        with self.user_locks_cond:
            self.terminating = True
            self.user_locks_cond.notify_all()
        for thread, _stop in self._periodic:
            thread.join(self.time_limit + 1)
        held: list[_State] = []  # every state, so that none is running a call
        try:
            for _ in self._states:
                held.append(self._idle.get(timeout=self.time_limit + 1))
        except queue.Empty:
            pass
        try:
            if len(held) == len(self._states):  # _end runs in the first thread's state, as in scrextdel
                self._states[0].call_hook(b"_end")
        finally:
            for state in held:
                self._idle.put(state)


def _record_lock_index(key: bytes) -> int:
    """ttserver's recmtxidx."""
    h = 725
    for c in key:
        h = (h * 29 + c) & 0xFFFFFFFF
    return h % RECMTXNUM
