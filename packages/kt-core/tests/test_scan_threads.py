"""Scanners are called from many threads at once (one connection per thread); cffi releases the
GIL around C calls, so no scanner may share result or scratch space between calls."""

from __future__ import annotations

import struct
import threading

from kt_core.codec import _scan


def _get_bulk_reply(tag: int, records: int) -> bytes:
    parts = [struct.pack(">BI", 0xBA, records)]
    for i in range(records):
        key = f"t{tag}-k{i}".encode()
        value = f"t{tag}-v{i}".encode() * (1 + i % 3)
        parts.append(struct.pack(">HIIq", tag % 7, len(key), len(value), tag) + key + value)
    return b"".join(parts)


def _tsv(tag: int) -> bytes:
    return b"".join(f"key{tag}-{i}\tvalue{tag}-{i}\n".encode() for i in range(50))


def test_concurrent_scans_do_not_cross_talk() -> None:
    errors: list[str] = []
    start = threading.Barrier(8)

    def work(tag: int) -> None:
        reply = _get_bulk_reply(tag, 200 + tag)  # different sizes: some grow the scratch space
        expected = _scan.scan_ktb(reply, 0, len(reply), 0xBA, 1 << 30)
        body = _tsv(tag)
        expected_tsv = _scan.decode_tsv(body, 0, len(body), 0)
        start.wait()
        for _ in range(300):
            if _scan.scan_ktb(reply, 0, len(reply), 0xBA, 1 << 30) != expected:
                errors.append(f"scan_ktb result changed in thread {tag}")
                return
            if _scan.decode_tsv(body, 0, len(body), 0) != expected_tsv:
                errors.append(f"decode_tsv result changed in thread {tag}")
                return

    threads = [threading.Thread(target=work, args=(tag,)) for tag in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_concurrent_record_splits_do_not_cross_talk() -> None:
    # split_records' C path writes a struct format into a per-call workspace and reuses the last compiled
    # format: threads cutting replies of different shapes at once must each get their own records.
    errors: list[str] = []
    start = threading.Barrier(8)

    def work(tag: int) -> None:
        reply = _get_bulk_reply(tag, 300 + 500 * tag)  # up to 3,800 records of varied sizes
        expected = _scan.split_records(reply, 5, len(reply), _scan.REC_GET_BULK, 300 + 500 * tag, 1 << 30)
        assert expected[1][0] == f"t{tag}-k0".encode()
        start.wait()
        for _ in range(100):
            if _scan.split_records(reply, 5, len(reply), _scan.REC_GET_BULK, 300 + 500 * tag, 1 << 30) != expected:
                errors.append(f"split_records result changed in thread {tag}")
                return

    threads = [threading.Thread(target=work, args=(tag,)) for tag in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
