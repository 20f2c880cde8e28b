"""Pipelined batches: several requests sent in one write, the replies read back in order.

``testdata/vectors/tt-pipeline.json`` and ``kt-pipeline.json`` were recorded from the real servers by
running this file as a script::

    python packages/kt-embedded/tests/test_standin_pipelined_vectors.py --record

As tests, every recorded batch is replayed against the stand-in (one ``sendall`` per batch, and again in
small segments), and against the real servers when they are installed, which guards the recording
itself. The stress tests send 2000 requests in one write from a thread while the main thread reads, so
neither side's socket buffer can stall the test; a large value every tenth reply makes both buffers fill.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
from kt_core.codec import kyoto_binary as kb
from kt_core.codec import kyoto_http as kh
from kt_core.codec import tyrant as tt
from kt_core.codec.reader import NEED_MORE, Reader
from kt_embedded import EmbeddedServer, EmbeddedTokyoTyrantServer, real_server_available
from kt_embedded.standin.kyoto import KyotoTycoonStandin, load_scripts
from kt_embedded.standin.tyrant import TokyoTyrantStandin

VECTORS = Path(__file__).resolve().parents[3] / "testdata" / "vectors"
TT_FILE = VECTORS / "tt-pipeline.json"
KT_FILE = VECTORS / "kt-pipeline.json"
TT_SCRIPT = VECTORS / "tt-vectors.lua"
KT_SCRIPT = VECTORS / "kt-vectors.lua"

TT, KTB, HTTP = "tt", "kt-binary", "kt-http"  # the protocols; TT and KTB also name the products
ABS_XT = 4102444800  # 2100-01-01: an absolute expiry that is the same in every run
BIG = 128 * 1024  # the stress tests' large value: 200 of them overfill both sockets' buffers
STRESS_COUNT = 2000
# Replies whose values differ between runs, or between installations of the same version (Server).
HTTP_VOLATILE = ["header:Date", "header:Server"]
STATUS_VOLATILE = [*HTTP_VOLATILE, "header:Content-Length"] + [
    f"record:{name}" for name in ("bnum", "capcnt", "capsiz", "chksum", "fmtver", "ktcapcnt", "ktcapsiz", "ktopts",
                                  "librev", "libver", "opts", "realtype", "recovered", "reorganized", "size", "type")]


# ---------------------------------------------------------------------------------------------- reading

_KTB_READERS: dict[int, Callable[..., Any]] = {
    kb.MAGIC_SET_BULK: kb.read_set_bulk,
    kb.MAGIC_REMOVE_BULK: kb.read_remove_bulk,
    kb.MAGIC_GET_BULK: kb.read_get_bulk,
    kb.MAGIC_PLAY_SCRIPT: kb.read_play_script,
}


def _protocol_of(request: bytes) -> str:
    """The request's protocol, told by its first byte as the servers tell it."""
    if request[0] == tt.MAGIC:
        return TT
    return KTB if request[0] >= 0x80 else HTTP


def _reader_for(command: str, request: bytes) -> Callable[..., Any]:
    protocol = _protocol_of(request)
    if protocol == TT:
        return tt.READERS[command.split(" ", 1)[0]]  # "misc putlist" is read as any misc reply
    if protocol == KTB:
        return _KTB_READERS[request[0]]
    return kh.read_rpc


class _Stream:
    """The replies on one connection, each cut off with the codec's reader for its request.

    ``raw`` mirrors the bytes the Reader still holds, so every reply's exact bytes are known: the
    reply ends where the Reader's pending bytes begin.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = Reader()
        self.raw = bytearray()
        self.eof = False

    def _receive(self) -> None:
        try:
            chunk = self.sock.recv(1 << 20)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return
        self.reader.feed(chunk)
        self.raw += chunk

    def reply(self, fn: Callable[..., Any]) -> Optional[tuple[bytes, Any]]:
        """The next reply's bytes and the reader's result, or None if the connection closed first."""
        while True:
            result = self.reader.read(fn)
            if result is not NEED_MORE:
                n = len(self.raw) - self.reader.pending
                data = bytes(self.raw[:n])
                del self.raw[:n]
                return data, result
            if self.eof:
                return None
            self._receive()

    def settle(self, wait: float = 0.3) -> bool:
        """After the last reply: True if the server closes the connection, False if it stays silent."""
        if self.raw:
            raise AssertionError(f"bytes after the last reply: {bytes(self.raw[:80]).hex()}")
        if self.eof:
            return True
        self.sock.settimeout(wait)
        try:
            self._receive()
        except socket.timeout:
            return False
        finally:
            self.sock.settimeout(10)
        if self.eof:
            return True
        raise AssertionError(f"bytes after the last reply: {bytes(self.raw[:80]).hex()}")


def _never(buf: Any, pos: int, end: int, limit: int) -> int:
    """The reader for a request the server answers by closing: no reply ever completes."""
    return end + 1


@dataclass
class _Observed:
    replies: list[tuple[str, bytes, Any]]  # (state, bytes, reader result); state: reply | none | closed
    closed: bool


def _send(sock: socket.socket, data: bytes, chunk: int) -> threading.Thread:
    """Send from a thread, so a batch whose replies fill the socket buffers cannot stall the reader."""
    def run() -> None:
        with contextlib.suppress(OSError):  # the server may close early (the closing batches)
            if chunk <= 0:
                sock.sendall(data)
                return
            for i in range(0, len(data), chunk):
                sock.sendall(data[i : i + chunk])
                time.sleep(0.001)  # one segment each: a request arrives in pieces

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _play(sock: socket.socket, requests: Sequence[bytes], readers: Sequence[Optional[Callable[..., Any]]],
          chunk: int = 0) -> _Observed:
    """Send the batch (one write, or ``chunk``-byte segments) and read one reply per request that has a
    reader (None: a request that gets no reply)."""
    stream = _Stream(sock)
    sender = _send(sock, b"".join(requests), chunk)
    replies: list[tuple[str, bytes, Any]] = []
    closed = False
    for fn in readers:
        if closed:
            replies.append(("closed", b"", None))
        elif fn is None:
            replies.append(("none", b"", None))
        else:
            got = stream.reply(fn)
            if got is None:
                closed = True
                replies.append(("closed", b"", None))
            else:
                replies.append(("reply", got[0], got[1]))
    if not closed:
        closed = stream.settle()
    sender.join(10)
    return _Observed(replies, closed)


# ---------------------------------------------------------------------------------------------- comparing


def _mask(data: bytes, ranges: Sequence[Sequence[int]]) -> bytes:
    out = bytearray(data)
    for off, length in ranges:
        stop = len(out) if length < 0 else off + length
        out[off:stop] = bytes(max(0, min(stop, len(out)) - off))
    return bytes(out)


def _split_http(data: bytes) -> tuple[bytes, list[list[bytes]], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    return lines[0], [line.split(b": ", 1) for line in lines[1:]], body


def _compare_http(where: str, want: bytes, got: bytes, volatile: Sequence[str]) -> None:
    """Status line, header names in order and every header value but the volatile ones; the body byte for
    byte, or record by record when some records are volatile."""
    vol_headers = {v.split(":", 1)[1].lower().encode() for v in volatile if v.startswith("header:")}
    vol_records = {v.split(":", 1)[1].encode() for v in volatile if v.startswith("record:")}
    wline, wheaders, wbody = _split_http(want)
    gline, gheaders, gbody = _split_http(got)
    assert gline == wline, f"{where}: {gline!r} != {wline!r}"
    assert [h[0] for h in gheaders] == [h[0] for h in wheaders], f"{where}: headers {gheaders} != {wheaders}"
    for (name, gval), (_, wval) in zip(gheaders, wheaders):
        if name.lower() == b"server":
            assert gval.startswith(b"KyotoTycoon/0.9.56"), f"{where}: Server {gval!r}"
        if name.lower() not in vol_headers:
            assert gval == wval, f"{where}: header {name!r}: {gval!r} != {wval!r}"
    if not vol_records:
        assert gbody == wbody, f"{where}: body {gbody!r} != {wbody!r}"
        return
    grecs = [line.split(b"\t", 1) for line in gbody.split(b"\n") if line]
    wrecs = [line.split(b"\t", 1) for line in wbody.split(b"\n") if line]
    assert [r[0] for r in grecs] == [r[0] for r in wrecs], f"{where}: record keys {grecs} != {wrecs}"
    for (key, gval), (_, wval) in zip(grecs, wrecs):
        if key not in vol_records:
            assert gval == wval, f"{where}: record {key!r}: {gval!r} != {wval!r}"


def _compare(vec: dict[str, Any], seen: _Observed) -> None:
    name = vec["name"]
    assert len(seen.replies) == len(vec["replies"])
    for i, (want, (state, data, _result)) in enumerate(zip(vec["replies"], seen.replies)):
        where = f"{name}[{i}] {want['command']}"
        assert state == want["reply"], f"{where}: {state} != {want['reply']} (got {data[:60].hex()})"
        if state != "reply":
            continue
        expected = bytes.fromhex(want["hex"])
        if _protocol_of(bytes.fromhex(vec["requests"][i])) == HTTP:
            _compare_http(where, expected, data, want.get("volatile", []))
        else:
            ranges = want.get("volatile_ranges", [])
            got, exp = _mask(data, ranges), _mask(expected, ranges)
            assert got == exp, f"{where}: {data.hex()[:160]} != {expected.hex()[:160]}"
    assert seen.closed == vec["closed"], f"{name}: connection closed {seen.closed}, recorded {vec['closed']}"


def _readers(vec: dict[str, Any]) -> list[Optional[Callable[..., Any]]]:
    out: list[Optional[Callable[..., Any]]] = []
    for req, rep in zip(vec["requests"], vec["replies"]):
        if rep["reply"] == "none":
            out.append(None)
        elif rep["reply"] == "closed":
            out.append(_never)
        else:
            out.append(_reader_for(rep["command"], bytes.fromhex(req)))
    return out


# ---------------------------------------------------------------------------------------------- servers


def _real_available(product: str) -> bool:
    return real_server_available("ttserver" if product == TT else "ktserver")


@contextlib.contextmanager
def _server(product: str, backend: str, server_args: Sequence[str], workdir: Path) -> Iterator[int]:
    """A server with the vector's ``server_args`` (``-ext``/``-scr`` name the vector scripts), its port."""
    args = list(server_args)
    script = TT_SCRIPT if product == TT else KT_SCRIPT
    flag = "-ext" if product == TT else "-scr"
    has_script = flag in args
    if has_script:
        i = args.index(flag)
        assert args[i + 1] == script.name
        del args[i : i + 2]
    if backend == "standin":
        server: Any
        if product == TT:
            (database,) = args
            server = TokyoTyrantStandin(database=database, scripts=script if has_script else None, workdir=workdir)
        else:
            server = KyotoTycoonStandin(databases=args, scripts=load_scripts(str(script)) if has_script else None)
        server.start()
        try:
            yield server.port
        finally:
            server.stop()
        return
    shutil.copy(script, workdir / script.name)
    extra = ["-log", "server.log", *([flag, script.name] if has_script else [])]
    manager: Any
    if product == TT:
        (database,) = args
        manager = EmbeddedTokyoTyrantServer(server="ttserver", database=database, server_args=extra,
                                            cwd=str(workdir), quiet=True)
    else:
        manager = EmbeddedServer(server="ktserver", database=args, server_args=extra, cwd=str(workdir), quiet=True)
    manager.run()
    try:
        assert manager.backend == "real"
        yield manager.port
    finally:
        manager.stop()


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _groups(vectors: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for vec in vectors:
        groups.setdefault(vec["server"], []).append(vec)
    return groups


def _replay_group(product: str, backend: str, group: list[dict[str, Any]], workdir: Path, chunk: int = 0) -> int:
    """Replay one server's batches in file order, one connection per ``connection``; the batches compared."""
    compared = 0
    with _server(product, backend, group[0]["server_args"], workdir) as port:
        conns: dict[str, socket.socket] = {}
        try:
            for vec in group:
                if chunk and vec.get("one_write"):
                    continue  # its outcome depends on the whole batch arriving at once
                sock = conns.get(vec["connection"])
                if sock is None:
                    sock = conns[vec["connection"]] = _connect(port)
                seen = _play(sock, [bytes.fromhex(r) for r in vec["requests"]], _readers(vec), chunk)
                _compare(vec, seen)
                if seen.closed:
                    conns.pop(vec["connection"]).close()
                compared += 1
        finally:
            for sock in conns.values():
                sock.close()
    return compared


# ---------------------------------------------------------------------------------------------- the batches


@dataclass
class Req:
    data: bytes
    command: str
    expect: str = "reply"  # reply | none (no reply by design) | closed (the server closes instead)
    volatile: list[str] = field(default_factory=list)


@dataclass
class Batch:
    name: str
    description: str
    connection: str
    requests: list[Req]
    setup: list[str] = field(default_factory=list)
    one_write: bool = False


def _t(command: str, *args: Any, **kwargs: Any) -> Req:
    data = tt.ENCODERS[command](*args, **kwargs)
    label = f"{command} {args[0].decode()}" if command in ("misc", "ext") else command  # e.g. "misc putlist"
    return Req(data, label, "none" if command == "putnr" else "reply")


def _unknown_tt(byte: int, expect: str) -> Req:
    return Req(bytes((tt.MAGIC, byte)), f"unknown 0x{byte:02x}", expect)


def _pipe_value(i: int) -> bytes:
    """Value i of the 100-record batch: 0 to 10 bytes, binary (NUL and 0xFF among them)."""
    return bytes((i * 7 + j * 13) % 256 for j in range(i % 11))


def _table_args(pk: bytes, **cols: bytes) -> list[bytes]:
    return tt.table_misc_args(pk, [(k.encode(), v) for k, v in cols.items()])


def tt_batches() -> dict[str, tuple[list[str], list[Batch]]]:
    keys = [b"p%03d" % i for i in range(100)]
    main = [
        Batch("put100_get100", "100 puts then 100 gets of their keys in one write: 100 codes, then the 100 values in "
              "order (values 0-10 bytes, binary)", "t1",
              [_t("put", k, _pipe_value(i)) for i, k in enumerate(keys)] + [_t("get", k) for k in keys]),
        Batch("mixed_commands", "put, putkeep of an existing key (code 1) and of a new one, get of a missing key "
              "(code 1), putnr (no reply) then a get that sees it, vsiz, addint twice and on a 1-byte value (code 1), "
              "adddouble, putcat, out twice (code 1), mget with misses, fwmkeys (in the in-memory hash's order), "
              "rnum, and a last putnr (nothing follows)", "t1", [
                  _t("put", b"a", b"1"), _t("putkeep", b"a", b"2"), _t("putkeep", b"b0", b"new"),
                  _t("get", b"missing"), _t("putnr", b"nr", b"no reply"), _t("get", b"nr"), _t("vsiz", b"p005"),
                  _t("vsiz", b"missing"), _t("addint", b"counter", 5), _t("addint", b"counter", -2),
                  _t("addint", b"a", 1), _t("adddouble", b"dbl", -0.75), _t("putcat", b"a", b"+"), _t("get", b"a"),
                  _t("out", b"a"), _t("out", b"a"), _t("mget", [b"p000", b"missing", b"nr", b"p099", b"b0"]),
                  _t("fwmkeys", b"p00", 5), _t("fwmkeys", b"p", -1), _t("rnum"), _t("putnr", b"nr2", b"x"),
              ], setup=["put100_get100"]),
        Batch("misc_putlist_getlist", "misc putlist, getlist with a missing key, outlist, getlist again, putlist "
              "without update log, misc put/get/out, misc iterinit + iternext, an unknown misc function (code 1, "
              "count 0) and plain gets in between", "t1", [
                  _t("misc", b"putlist", [b"l1", b"v1", b"l2", b"", b"l3", b"\x00\xff\t\n"]),
                  _t("misc", b"getlist", [b"l1", b"nosuch", b"l3", b"l2"]),
                  _t("get", b"l3"),
                  _t("misc", b"outlist", [b"l2", b"nosuch"]),
                  _t("misc", b"getlist", [b"l1", b"l2", b"l3"]),
                  _t("misc", b"putlist", [b"l4", b"v4"], opts=tt.RDBMONOULOG),
                  _t("misc", b"put", [b"m1", b"mv"]),
                  _t("misc", b"get", [b"m1"]),
                  _t("misc", b"out", [b"m1"]),
                  _t("misc", b"get", [b"m1"]),
                  _t("misc", b"iterinit"),
                  _t("misc", b"iternext"),
                  _t("misc", b"iternext"),
                  _t("misc", b"nosuchfunction", [b"x"]),
                  _t("get", b"l4"),
              ]),
        Batch("ext_mixed", "Lua ext calls between plain commands: echo, swap (returns the old value, stores the "
              "new one, which the next get sees), fail (code 1), records, binary, an undefined function (code 1), "
              "echo with the record lock and with the global lock, rnum", "t1", [
                  _t("put", b"ek", b"old"), _t("ext", b"echo", b"k", b"v"), _t("ext", b"swap", b"ek", b"new"),
                  _t("get", b"ek"), _t("ext", b"fail", b"k", b"v"), _t("ext", b"records"), _t("ext", b"binary"),
                  _t("ext", b"nosuchfunction", b"k", b"v"), _t("ext", b"echo", b"lk", b"lv", opts=tt.RDBXOLCKREC),
                  _t("ext", b"echo", b"gk", b"gv", opts=tt.RDBXOLCKGLB), _t("rnum"),
              ]),
        Batch("unknown_command_mid_batch", "an unknown command byte with more bytes already received behind it is "
              "skipped (no reply, the connection stays open) and the next request is answered", "t2", [
                  _t("get", b"p000"), _unknown_tt(0xFF, "none"), _t("vsiz", b"p001"), _unknown_tt(0x01, "none"),
                  _t("get", b"p002"),
              ], setup=["put100_get100"], one_write=True),
        Batch("unknown_command_ends_batch", "an unknown command byte last in the batch: the earlier requests are "
              "answered, then the server closes the connection", "t3", [
                  _t("put", b"z", b"1"), _t("get", b"z"), _unknown_tt(0xFF, "closed"),
              ]),
    ]
    iter_keys = [b"apple", b"banana", b"cherry", b"\x00\xff", b"k1", b"k2", b"k3", b"k10", b"zz", b"Z", b"mid",
                 b"long-key-" * 4]
    iterate = [
        Batch("iterinit_20_iternext", "12 puts on a fresh in-memory hash, iterinit and 20 iternext in one write: "
              "the 12 keys in the hash's iteration order, then code 1 past the end; fwmkeys '' in the same order", "i1",
              [_t("put", k, b"v" + k) for k in iter_keys] + [_t("iterinit")] + [_t("iternext")] * 20
              + [_t("fwmkeys", b"", -1), _t("rnum")]),
    ]
    table = [
        Batch("table_put_get_search", "a table database: setindex, misc put x3, putkeep of an existing pk (code 1), "
              "plain get (NUL-joined columns), misc get, searches (a condition with order, count, get), misc out, "
              "misc get of the removed pk (code 1), genuid, rnum, iterinit + iternext past the end", "x1", [
                  _t("misc", b"setindex", [b"age", b"dec"]),
                  _t("misc", b"put", _table_args(b"1", name=b"alice", age=b"30", city=b"tokyo")),
                  _t("misc", b"put", _table_args(b"2", name=b"bob", age=b"25", city=b"osaka")),
                  _t("misc", b"put", _table_args(b"3", name=b"carol", age=b"35", city=b"tokyo")),
                  _t("misc", b"putkeep", _table_args(b"1", name=b"again")),
                  _t("get", b"1"),
                  _t("misc", b"get", [b"2"]),
                  _t("misc", b"search", [b"addcond\x00city\x00STREQ\x00tokyo", b"setorder\x00age\x00NUMDESC"]),
                  _t("misc", b"search", [b"addcond\x00age\x00NUMGE\x0030", b"count"]),
                  _t("misc", b"search", [b"setorder\x00name\x00STRASC", b"setlimit\x002\x000", b"get"]),
                  _t("misc", b"out", [b"2"]),
                  _t("misc", b"get", [b"2"]),
                  _t("misc", b"genuid"),
                  _t("rnum"),
                  _t("iterinit"), _t("iternext"), _t("iternext"), _t("iternext"),
              ]),
    ]
    return {
        "tt-pipe": (["-ext", TT_SCRIPT.name, "*"], main),
        "tt-pipe-iter": (["*"], iterate),
        "tt-pipe-table": (["pipeline-table.tct"], table),
    }


def _b(command: str, *args: Any, **kwargs: Any) -> Req:
    encoders: dict[str, Callable[..., bytes]] = {
        "set_bulk": kb.encode_set_bulk, "get_bulk": kb.encode_get_bulk, "remove_bulk": kb.encode_remove_bulk,
        "play_script": kb.encode_play_script}
    fn = encoders[command]
    data = fn(*args, **kwargs)
    no_reply = kwargs.get("flags", 0) & kb.FLAG_NOREPLY and command != "get_bulk"  # get_bulk ignores the flag
    return Req(data, command, "none" if no_reply else "reply")


def _h(procedure: str, params: Sequence[tuple[bytes, bytes]] = (), volatile: Sequence[str] = ()) -> Req:
    return Req(kh.encode_rpc(procedure, list(params)), procedure, volatile=[*HTTP_VOLATILE, *volatile])


def _h10(procedure: str, params: Sequence[tuple[bytes, bytes]] = ()) -> Req:
    req = _h(procedure, params)
    req.data = req.data.replace(b" HTTP/1.1\r\n", b" HTTP/1.0\r\n", 1)
    req.command += " (HTTP/1.0)"
    return req


def _h_close(procedure: str) -> Req:
    req = _h(procedure)
    req.data = req.data.replace(b"\r\nHost: ", b"\r\nConnection: close\r\nHost: ", 1)
    req.command += " (Connection: close)"
    return req


def _unknown_magic(expect: str) -> Req:
    return Req(b"\xb5" + bytes(8), "unknown 0xb5", expect)


def _grid_value(i: int) -> bytes:
    return b"value-%02d-" % i + bytes(range(i % 7))


def kt_batches() -> dict[str, tuple[list[str], list[Batch]]]:
    grid = [b"g%02d" % i for i in range(20)]
    none = kb.XT_NONE
    batches = [
        Batch("binary_set_get_20", "set_bulk of 20 records, then 20 single-key get_bulk (18 hits, a missing key, "
              "a key of the other db) in one write", "b1",
              [_b("set_bulk", [(0, k, _grid_value(i), none) for i, k in enumerate(grid)])]
              + [_b("get_bulk", [(0, k)]) for k in grid[:18]]
              + [_b("get_bulk", [(0, b"missing")]), _b("get_bulk", [(1, b"g00")])]),
        Batch("binary_bulk_interleaved", "set_bulk (no expiry, absolute and relative expiry, two dbs), get_bulk, "
              "play_script echo, remove_bulk, no-reply set_bulk/remove_bulk/play_script between the others, "
              "play_script errors (0xBF) in the middle of the batch, get_bulk with the no-reply flag (answered)",
              "b1", [
                  _b("set_bulk", [(0, b"x1", b"one", none), (1, b"x2", b"two", -ABS_XT), (0, b"rel", b"r", 3600)]),
                  _b("get_bulk", [(0, b"x1"), (1, b"x2"), (0, b"nope")]),
                  _b("play_script", b"echo", [(b"k", b"v"), (b"a", b"\x00\xff")]),
                  _b("remove_bulk", [(0, b"x1"), (0, b"nope")]),
                  _b("get_bulk", [(0, b"x1"), (1, b"x2")]),
                  _b("set_bulk", [(0, b"nr", b"q", none)], flags=kb.FLAG_NOREPLY),
                  _b("get_bulk", [(0, b"nr")]),
                  _b("play_script", b"records", []),
                  _b("play_script", b"fail", [(b"k", b"v")]),
                  _b("get_bulk", [(0, b"rel")]),
                  _b("play_script", b"nosuchfunction", []),
                  _b("remove_bulk", [(0, b"nr")], flags=kb.FLAG_NOREPLY),
                  _b("get_bulk", [(0, b"nr")]),
                  _b("play_script", b"echo", [(b"k", b"v")], flags=kb.FLAG_NOREPLY),
                  _b("get_bulk", [(0, b"g00"), (1, b"x2")], flags=kb.FLAG_NOREPLY),
              ], setup=["binary_set_get_20"]),
        Batch("http_increment_x10", "10 HTTP increment requests back to back on one keep-alive connection: "
              "num 1 to 10", "h1", [_h("increment", [(b"key", b"cnt"), (b"num", b"1")]) for _ in range(10)]),
        Batch("http_keepalive_misc", "HTTP requests back to back: set, get, add of an existing key (450), add, "
              "remove, get and remove of a missing key (450), append, replace of a missing key (450), cas, "
              "increment of a non-numeric value (450), increment_double, check, seize, set_bulk, get_bulk, "
              "match_prefix, echo, void, play_script, an unknown procedure (501), status", "h1", [
                  _h("set", [(b"key", b"k"), (b"value", b"v")]),
                  _h("get", [(b"key", b"k")]),
                  _h("add", [(b"key", b"k"), (b"value", b"again")]),
                  _h("add", [(b"key", b"k2"), (b"value", b"v2"), (b"DB", b"1")]),
                  _h("remove", [(b"key", b"k")]),
                  _h("get", [(b"key", b"k")]),
                  _h("remove", [(b"key", b"k")]),
                  _h("append", [(b"key", b"ap"), (b"value", b"abc")]),
                  _h("replace", [(b"key", b"nosuch"), (b"value", b"x")]),
                  _h("cas", [(b"key", b"ap"), (b"oval", b"abc"), (b"nval", b"xyz")]),
                  _h("increment", [(b"key", b"ap"), (b"num", b"1")]),
                  _h("increment_double", [(b"key", b"d"), (b"num", b"-2.25")]),
                  _h("check", [(b"key", b"ap")]),
                  _h("seize", [(b"key", b"ap")]),
                  _h("set_bulk", [(b"_b1", b"1"), (b"_b2", b"\t2"), (b"xt", b"-%d" % ABS_XT)]),
                  _h("get_bulk", [(b"_b1", b""), (b"_b2", b""), (b"_nosuch", b"")]),
                  _h("match_prefix", [(b"prefix", b"b")]),
                  _h("echo", [(b"a", b"1"), (b"b", b"\x00\xff")]),
                  _h("void"),
                  _h("play_script", [(b"name", b"echo"), (b"_x", b"y")]),
                  _h("nosuchproc"),
                  _h("status", volatile=STATUS_VOLATILE[len(HTTP_VOLATILE):]),
              ], setup=["http_increment_x10"]),
        Batch("binary_http_interleaved", "binary and HTTP requests alternating in one write on one connection: the "
              "server answers each in order, in its own protocol", "m1", [
                  _b("get_bulk", [(0, b"g00")]),
                  _h("get", [(b"key", b"g01")]),
                  _b("set_bulk", [(0, b"mix", b"1", none)]),
                  _h("get", [(b"key", b"mix")]),
                  _b("play_script", b"echo", [(b"m", b"n")]),
                  _h("increment", [(b"key", b"mixn"), (b"num", b"7")]),
                  _b("set_bulk", [(0, b"mixnr", b"2", none)], flags=kb.FLAG_NOREPLY),
                  _h("remove", [(b"key", b"mix")]),
                  _b("get_bulk", [(0, b"mix"), (0, b"mixnr")]),
                  _h("void"),
                  _b("remove_bulk", [(0, b"mixnr")]),
                  _h("echo", [(b"e", b"f")]),
              ], setup=["binary_set_get_20"]),
        Batch("ends_with_http10", "HTTP/1.1 requests then an HTTP/1.0 one last: its reply carries "
              "'Connection: close' and the server closes the connection", "c1", [
                  _h("set", [(b"key", b"c1"), (b"value", b"v")]),
                  _h("get", [(b"key", b"c1")]),
                  _h10("get", [(b"key", b"c1")]),
              ]),
        Batch("connection_close_mid_batch", "a 'Connection: close' request in the middle: answered, then the server "
              "closes the connection; the requests after it are never answered", "c2", [
                  _h("get", [(b"key", b"c1")]),
                  _h_close("void"),
                  Req(kb.encode_get_bulk([(0, b"c1")]), "get_bulk", "closed"),
                  Req(kh.encode_rpc("void"), "void", "closed"),
              ], setup=["ends_with_http10"]),
        Batch("ends_with_unknown_magic", "set_bulk and get_bulk, then an unknown binary magic byte: the first two "
              "are answered, then the server closes without a reply", "c3", [
                  _b("set_bulk", [(0, b"c3", b"v", none)]),
                  _b("get_bulk", [(0, b"c3")]),
                  _unknown_magic("closed"),
              ]),
        Batch("unknown_magic_mid_batch", "an unknown binary magic byte in the middle: the server closes the "
              "connection there; the request after it is never answered", "c4", [
                  _b("get_bulk", [(0, b"c3")]),
                  _unknown_magic("closed"),
                  Req(kb.encode_get_bulk([(0, b"c3")]), "get_bulk", "closed"),
              ], setup=["ends_with_unknown_magic"]),
    ]
    return {"kt-pipe": (["-scr", KT_SCRIPT.name, "*", "%"], batches)}


# ---------------------------------------------------------------------------------------------- recording


def _jsonable(value: Any) -> Any:
    """A reader's result for ``decoded``: byte strings as latin-1 JSON strings (see VECTORS.md)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("latin-1")
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, kh.RpcResult):
        return {"status": value.status, "records": _jsonable(value.records)}
    if isinstance(value, Exception):
        return {"error": type(value).__name__}
    return value


def _decoded(protocol: str, result: Any) -> Any:
    if protocol == TT:  # the code, and the reader's result when there is one
        return {"code": result[1]} if result[2] is None else {"code": result[1], "result": _jsonable(result[2])}
    return _jsonable(result[1])


def _volatile_ranges(req: Req, data: bytes) -> list[list[int]]:
    """get_bulk records stored with a relative expiry: their xt (now + seconds) varies."""
    if _protocol_of(req.data) != KTB or data[:1] != bytes((kb.MAGIC_GET_BULK,)) or b"rel" not in req.data:
        return []
    ranges = []
    pos = 5
    for _ in range(int.from_bytes(data[1:5], "big")):
        ksiz, vsiz = int.from_bytes(data[pos + 2 : pos + 6], "big"), int.from_bytes(data[pos + 6 : pos + 10], "big")
        if data[pos + 18 : pos + 18 + ksiz] == b"rel":
            ranges.append([pos + 10, 8])
        pos += 18 + ksiz + vsiz
    return ranges


def _record_group(product: str, server: str, server_args: list[str], batches: list[Batch],
                  workdir: Path) -> list[dict[str, Any]]:
    vectors: list[dict[str, Any]] = []
    with _server(product, "real", server_args, workdir) as port:
        conns: dict[str, socket.socket] = {}
        for batch in batches:
            sock = conns.get(batch.connection)
            if sock is None:
                sock = conns[batch.connection] = _connect(port)
            readers: list[Optional[Callable[..., Any]]] = [
                None if r.expect == "none" else _never if r.expect == "closed" else
                _reader_for(r.command, r.data) for r in batch.requests]
            seen = _play(sock, [r.data for r in batch.requests], readers)
            replies = []
            for req, (state, data, result) in zip(batch.requests, seen.replies):
                if state != req.expect:
                    raise AssertionError(f"{batch.name}: {req.command}: the server gave {state}, expected {req.expect}")
                entry: dict[str, Any] = {"command": req.command, "reply": state,
                                         "hex": data.hex()}
                if req.volatile:
                    entry["volatile"] = list(req.volatile)
                if state == "reply":
                    ranges = _volatile_ranges(req, data)
                    if ranges:
                        entry["volatile"] = ["records[*].xt"]
                        entry["volatile_ranges"] = ranges
                    entry["decoded"] = _decoded(_protocol_of(req.data), result)
                replies.append(entry)
            if seen.closed:
                conns.pop(batch.connection).close()
            vec: dict[str, Any] = {
                "name": batch.name, "description": batch.description, "server": server, "server_args": server_args,
                "connection": batch.connection, "setup": batch.setup,
                "requests": [r.data.hex() for r in batch.requests],
                "response_hex": "".join(r["hex"] for r in replies),
                "replies": replies, "closed": seen.closed,
            }
            if batch.one_write:
                vec["one_write"] = True
            vectors.append(vec)
        for sock in conns.values():
            sock.close()
    return vectors


def _dump(vectors: list[dict[str, Any]]) -> str:
    """JSON with one line per field, per request and per reply: readable, and a fraction of indent=1's size."""
    out = ["["]
    for n, vec in enumerate(vectors):
        out.append(" {")
        for i, (key, value) in enumerate(vec.items()):
            comma = "," if i < len(vec) - 1 else ""
            if key in ("requests", "replies"):
                out.append(f"  {json.dumps(key)}: [")
                out += ["   " + json.dumps(item) + ("," if j < len(value) - 1 else "") for j, item in enumerate(value)]
                out.append("  ]" + comma)
            else:
                out.append(f"  {json.dumps(key)}: {json.dumps(value)}{comma}")
        out.append(" }" + ("," if n < len(vectors) - 1 else ""))
    return "\n".join([*out, "]", ""])


def record() -> None:
    for product, path, groups in ((TT, TT_FILE, tt_batches()), (KTB, KT_FILE, kt_batches())):
        vectors: list[dict[str, Any]] = []
        for server, (server_args, batches) in groups.items():
            with tempfile.TemporaryDirectory(prefix="kt-pipeline-") as work:
                vectors += _record_group(product, server, server_args, batches, Path(work))
        path.write_text(_dump(vectors), encoding="utf-8")
        print(f"wrote {path} ({len(vectors)} batches, {path.stat().st_size} bytes)")


# ---------------------------------------------------------------------------------------------- tests


def _load(path: Path) -> list[dict[str, Any]]:
    assert path.is_file(), f"missing vector file {path}"  # fail, never skip
    return json.loads(path.read_text(encoding="utf-8"))


_PRODUCTS = [(TT, TT_FILE), (KTB, KT_FILE)]


def _group_params() -> list[Any]:
    params = []
    for product, path in _PRODUCTS:
        # A missing file still gives one test, which then fails on loading it (never a silent skip).
        servers = _groups(_load(path)) if path.is_file() else [f"missing {path.name}"]
        params += [pytest.param(product, server, id=f"{path.stem}:{server}") for server in servers]
    return params


_GROUPS = _group_params()


def _skip_without_real(product: str) -> None:
    if not _real_available(product):
        name = "ttserver" if product == TT else "ktserver"
        if os.environ.get("KT_REQUIRE_REAL") == "1":
            pytest.fail(f"{name} is not installed")
        pytest.skip(f"{name} is not installed")


def _group(product: str, server: str) -> list[dict[str, Any]]:
    return _groups(_load(TT_FILE if product == TT else KT_FILE))[server]


@pytest.mark.server
@pytest.mark.parametrize(("product", "server"), _GROUPS)
def test_standin_answers_pipelined_batches_as_recorded(product: str, server: str, tmp_path: Path) -> None:
    group = _group(product, server)
    assert _replay_group(product, "standin", group, tmp_path) == len(group)


@pytest.mark.server
@pytest.mark.parametrize(("product", "server"), _GROUPS)
def test_standin_answers_batches_arriving_in_small_segments(product: str, server: str, tmp_path: Path) -> None:
    """The same batches sent 7 bytes at a time: requests split across segments are answered the same."""
    group = _group(product, server)
    _replay_group(product, "standin", group, tmp_path, chunk=7)


@pytest.mark.server
@pytest.mark.real
@pytest.mark.parametrize(("product", "server"), _GROUPS)
def test_real_server_answers_pipelined_batches_as_recorded(product: str, server: str, tmp_path: Path) -> None:
    _skip_without_real(product)
    group = _group(product, server)
    assert _replay_group(product, "real", group, tmp_path) == len(group)


@pytest.mark.server
@pytest.mark.real
@pytest.mark.parametrize(("product", "server"), _GROUPS)
def test_real_server_answers_batches_arriving_in_small_segments(product: str, server: str, tmp_path: Path) -> None:
    """What the stand-in is held to in small segments is what the real server does with them."""
    _skip_without_real(product)
    _replay_group(product, "real", _group(product, server), tmp_path, chunk=7)


def test_recorded_batches_are_consistent() -> None:
    """Each batch has one reply entry per request, ``response_hex`` is their concatenation, and the codec's
    readers cut ``response_hex`` into exactly the recorded replies."""
    for _product, path in _PRODUCTS:
        for vec in _load(path):
            assert len(vec["replies"]) == len(vec["requests"]) > 1, vec["name"]
            assert vec["response_hex"] == "".join(r["hex"] for r in vec["replies"]), vec["name"]
            data = bytes.fromhex(vec["response_hex"])
            pos = 0
            for req, rep in zip(vec["requests"], vec["replies"]):
                if rep["reply"] != "reply":
                    assert rep["hex"] == "", vec["name"]
                    continue
                fn = _reader_for(rep["command"], bytes.fromhex(req))
                r = fn(data, pos, len(data), len(data))
                assert isinstance(r, tuple), (vec["name"], rep["command"])
                assert data[pos : r[0]].hex() == rep["hex"], (vec["name"], rep["command"])
                pos = r[0]
            assert pos == len(data), vec["name"]
            states = [r["reply"] for r in vec["replies"]]
            if "closed" in states:  # everything after the closing request is unanswered
                assert set(states[states.index("closed"):]) == {"closed"} and vec["closed"], vec["name"]


# -- stress: 2000 requests in one write ------------------------------------------------------------------


def _big_value() -> bytes:
    return bytes((7 * i + 3) % 251 for i in range(BIG))


def _tt_stress_expected() -> tuple[list[bytes], list[bytes]]:
    """2000 gets over the recorded 100 keys with a large value every tenth: the requests, and the replies the
    recording gives (the large one built like the recorded get replies, which are checked to be built so)."""
    vec = next(v for v in _load(TT_FILE) if v["name"] == "put100_get100")
    values = {}
    for req_hex in vec["requests"][:100]:
        fields = _parse(tt.parse_request, req_hex).fields
        values[fields["key"]] = fields["value"]
    replies = {}
    for req_hex, rep in zip(vec["requests"][100:], vec["replies"][100:]):
        key = _parse(tt.parse_request, req_hex).fields["key"]
        replies[key] = bytes.fromhex(rep["hex"])
        assert replies[key] == _tt_get_reply(values[key])
    replies[b"big"] = _tt_get_reply(_big_value())
    keys = [b"big" if i % 10 == 9 else b"p%03d" % (i * 37 % 100) for i in range(STRESS_COUNT)]
    return [tt.encode_get(k) for k in keys], [replies[k] for k in keys]


def _tt_get_reply(value: bytes) -> bytes:
    return b"\x00" + len(value).to_bytes(4, "big") + value  # code 0, the value's size, the value


def _kt_stress_expected() -> tuple[list[bytes], list[bytes]]:
    """2000 single-key get_bulk over the recorded records with a large value every tenth (as for TT)."""
    vec = next(v for v in _load(KT_FILE) if v["name"] == "binary_set_get_20")
    replies: dict[tuple[int, bytes], bytes] = {}
    for req_hex, rep in zip(vec["requests"][1:], vec["replies"][1:]):
        (record,) = _parse(kb.parse_request, req_hex).records
        replies[record] = bytes.fromhex(rep["hex"])
    for dbidx, key, value, _xt in _parse(kb.parse_request, vec["requests"][0]).records:
        if (dbidx, key) in replies:
            assert replies[dbidx, key] == _kt_get_reply(dbidx, key, value)
    replies[0, b"big"] = _kt_get_reply(0, b"big", _big_value())
    keys = [b"big" if i % 10 == 9 else b"g%02d" % (i * 7 % 18) for i in range(STRESS_COUNT)]
    return [kb.encode_get_bulk([(0, k)]) for k in keys], [replies[0, k] for k in keys]


def _parse(fn: Callable[..., Any], request_hex: str) -> Any:
    data = bytes.fromhex(request_hex)
    r = fn(data, 0, len(data), len(data))
    assert isinstance(r, tuple) and r[0] == len(data)
    return r[1]


def _kt_get_reply(dbidx: int, key: bytes, value: bytes) -> bytes:
    # One hit with no expiry, as the recorded replies are: magic, hits, dbidx, ksiz, vsiz, xt (2^40 - 1).
    return (bytes((kb.MAGIC_GET_BULK,)) + (1).to_bytes(4, "big") + dbidx.to_bytes(2, "big")
            + len(key).to_bytes(4, "big") + len(value).to_bytes(4, "big") + kb.XT_MAX_REPLY.to_bytes(8, "big")
            + key + value)


def _stress(product: str, backend: str, tmp_path: Path) -> None:
    name = "put100_get100" if product == TT else "binary_set_get_20"
    (setup,) = [v for v in _load(TT_FILE if product == TT else KT_FILE) if v["name"] == name]
    requests, expected = _tt_stress_expected() if product == TT else _kt_stress_expected()
    fn: Callable[..., Any]
    put_reader: Callable[..., Any]
    if product == TT:
        big_put, big_reply, fn = tt.encode_put(b"big", _big_value()), b"\x00", tt.READERS["get"]
        put_reader = tt.READERS["put"]
    else:
        big_put = kb.encode_set_bulk([(0, b"big", _big_value(), kb.XT_NONE)])
        big_reply, fn, put_reader = b"\xb8\x00\x00\x00\x01", kb.read_get_bulk, kb.read_set_bulk
    with _server(product, backend, setup["server_args"], tmp_path) as port, _connect(port) as sock:
        sock.settimeout(60)
        _compare(setup, _play(sock, [bytes.fromhex(r) for r in setup["requests"]], _readers(setup)))
        assert _play(sock, [big_put], [put_reader]).replies[0][1] == big_reply
        seen = _play(sock, requests, [fn] * len(requests))
        assert not seen.closed
        for i, ((state, data, _r), want) in enumerate(zip(seen.replies, expected)):
            assert state == "reply" and data == want, f"reply {i}: {data[:40].hex()} != {want[:40].hex()}"


@pytest.mark.server
@pytest.mark.parametrize("product", [TT, KTB])
def test_standin_answers_2000_requests_in_one_write_in_order(product: str, tmp_path: Path) -> None:
    _stress(product, "standin", tmp_path)


@pytest.mark.server
@pytest.mark.real
@pytest.mark.parametrize("product", [TT, KTB])
def test_real_server_answers_2000_requests_in_one_write_in_order(product: str, tmp_path: Path) -> None:
    _skip_without_real(product)
    _stress(product, "real", tmp_path)


def _main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--record", action="store_true", help="record both files from the real servers")
    args = parser.parse_args(argv)
    if not args.record:
        parser.print_help()
        return 2
    for exe in ("ttserver", "ktserver"):
        if not real_server_available(exe):
            print(f"{exe} is not installed: cannot record", file=sys.stderr)
            return 1
    record()
    return 0


if __name__ == "__main__":
    sys.exit(_main())
