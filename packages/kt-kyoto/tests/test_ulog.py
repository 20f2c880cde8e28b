"""KyotoTycoon.ulog_list() / ulog_remove(max_dt): against servers started with ``-ulog DIR -sid N``
(the real ktserver where installed, and the stand-in), and the request/reply handling without one."""

from __future__ import annotations

import datetime
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
from kt_core.codec.kyoto_http import encode_reply, parse_request
from kt_core.errors import BadRequestError, InvalidArgumentError, InvalidTypeError, KyotoServerError
from kt_embedded.managers import STANDIN, EmbeddedServer, real_server_available
from kt_kyoto import KyotoTycoon

HEAD = 17  # an update log file's head: magic, size, newest time stamp
EPOCH_LOCAL = datetime.datetime.fromtimestamp(0)


def set_record_size(key: bytes, value: bytes) -> int:
    """Bytes one logged set adds to a file (short key and value): the record's 14 bytes of framing, the
    server and database ids (4), USET and two one-byte sizes (3), the key, a 5-byte expiry, the value."""
    return 14 + 4 + 3 + len(key) + 5 + len(value)


def wait_for(probe: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll ``probe`` until it answers something true (the server writes its log every 0.1 s)."""
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting; last answer {got!r}")
        time.sleep(0.02)


@pytest.fixture
def ulog_server(request: pytest.FixtureRequest, kt_backend: str,
                tmp_path: Path) -> Iterator[Callable[..., tuple[KyotoTycoon, Path]]]:
    """``start(*extra_args, **client_options)``: a server with ``-ulog <tmp>/ulog -sid 7`` and a client of it."""
    if kt_backend == "real" and not real_server_available("ktserver"):
        message = "ktserver is not installed; the real-server half of this test cannot run"
        if request.config.getoption("--kt-require-real") or os.environ.get("KT_REQUIRE_REAL") == "1":
            pytest.fail(message)
        pytest.skip(message)
    started: list[tuple[EmbeddedServer, KyotoTycoon]] = []

    def start(*extra_args: str, **client_options: Any) -> tuple[KyotoTycoon, Path]:
        ulog_dir = tmp_path / f"ulog{len(started)}"
        manager = EmbeddedServer(server="ktserver" if kt_backend == "real" else STANDIN, database=["*", "%"],
                                 server_args=["-ulog", str(ulog_dir), "-sid", "7", *extra_args])
        manager.run()
        assert manager.port is not None
        client = KyotoTycoon(host=manager.host, port=manager.port, **client_options)
        started.append((manager, client))
        return client, ulog_dir

    yield start
    for manager, client in started:
        client.close()
        manager.stop()


def test_ulog_list_fresh_log_is_one_empty_file(ulog_server: Any) -> None:
    client, ulog_dir = ulog_server()
    files = client.ulog_list()
    assert files == [(str(ulog_dir / "0000000001.ulog"), HEAD, EPOCH_LOCAL)]
    path, size, last_update = files[0]
    assert type(path) is str and type(size) is int and type(last_update) is datetime.datetime
    assert last_update.tzinfo is None  # naive local time, as kt 0.9.6 gives it
    assert os.path.getsize(path) == size


def test_ulog_list_paths_are_bytes_with_decode_keys_false(ulog_server: Any) -> None:
    client, ulog_dir = ulog_server(decode_keys=False)
    assert client.ulog_list() == [(os.fsencode(ulog_dir / "0000000001.ulog"), HEAD, EPOCH_LOCAL)]


def test_ulog_list_shows_each_write_with_its_size_and_time(ulog_server: Any) -> None:
    client, ulog_dir = ulog_server()
    before = datetime.datetime.now() - datetime.timedelta(seconds=1)
    client.set("a", "1")
    expected = HEAD + set_record_size(b"a", b"1")
    [(path, size, last_update)] = wait_for(lambda: [f for f in client.ulog_list() if f[1] > HEAD])
    assert (path, size) == (str(ulog_dir / "0000000001.ulog"), expected)
    assert before <= last_update <= datetime.datetime.now() + datetime.timedelta(seconds=1)
    client.set("bb", "22", db=1)  # a write to the other database goes to the same log
    expected += set_record_size(b"bb", b"22")
    [(_, size, later)] = wait_for(lambda: [f for f in client.ulog_list() if f[1] == expected])
    assert later >= last_update
    assert os.path.getsize(path) == expected
    client.get("a")
    client.exists("a")
    time.sleep(0.3)
    assert client.ulog_list()[0][1] == expected  # reads are not logged


def test_ulog_remove_drops_old_files_keeps_the_newest(ulog_server: Any) -> None:
    # -ulim 1: every flush of the log finds its file full and starts the next one.
    client, ulog_dir = ulog_server("-ulim", "1")
    client.set("k1", "v1")
    wait_for(lambda: len(client.ulog_list()) == 2)
    client.set("k2", "v2")
    files = wait_for(lambda: len(client.ulog_list()) == 3 and client.ulog_list())
    names = [os.path.basename(f[0]) for f in files]
    assert names == ["0000000001.ulog", "0000000002.ulog", "0000000003.ulog"]
    first, second, third = files
    assert first[1:] == (HEAD, EPOCH_LOCAL)  # the file the log started with, never written to
    assert second[2] <= third[2]

    # A datetime before the second file's newest update: only the never-written first file goes.
    assert client.ulog_remove(second[2] - datetime.timedelta(milliseconds=1)) is True
    assert client.ulog_list() == [second, third]
    assert not os.path.exists(first[0])
    # Past every update: all but the newest file, which the server keeps writing.
    assert client.ulog_remove(datetime.datetime.now() + datetime.timedelta(days=1)) is True
    assert client.ulog_list() == [third]
    assert client.ulog_remove(None) is True  # None: now
    assert client.ulog_list() == [third]
    assert sorted(os.listdir(ulog_dir)) == ["0000000003.ulog"]
    client.set("k3", "v3")  # the log goes on
    assert wait_for(lambda: len(client.ulog_list()) == 2)


def test_ulog_remove_accepts_an_aware_datetime(ulog_server: Any) -> None:
    client, _ = ulog_server("-ulim", "1")
    client.set("k", "v")
    files = wait_for(lambda: len(client.ulog_list()) == 2 and client.ulog_list())
    assert client.ulog_remove(datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)) is True
    assert client.ulog_list() == files[1:]  # the first file's time stamp is 0


def test_ulog_on_a_server_without_ulog_raises(kt_client: KyotoTycoon) -> None:
    with pytest.raises(BadRequestError, match="no update log"):
        kt_client.ulog_list()
    with pytest.raises(BadRequestError, match="no update log"):
        kt_client.ulog_remove(datetime.datetime.now())


# ------------------------------------------------------------------ no server: request and reply


class Canned:
    """A connection answering every request with one reply, recording what was sent."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.sent: list[bytes] = []

    def request(self, data: bytes, read_fn: Any, *args: Any) -> Any:
        self.sent.append(data)
        return read_fn(self.reply, 0, len(self.reply), 1 << 30, *args)

    def close(self) -> None:
        pass

    def params(self, i: int = -1) -> tuple[str, dict[bytes, bytes]]:
        r = parse_request(self.sent[i], 0, len(self.sent[i]), 1 << 30)
        assert type(r) is tuple
        return r[1].procedure, r[1].params()


def canned(reply: bytes, **options: Any) -> tuple[KyotoTycoon, Canned]:
    client = KyotoTycoon(**options)
    conn = Canned(reply)
    client._conns.get = lambda: conn  # type: ignore[method-assign]
    return client, conn


def test_ulog_list_reply_parsed_to_int_sizes_and_exact_datetimes() -> None:
    ts = 1_577_934_245_678_901_234  # ns; the datetime keeps the microseconds
    client, conn = canned(encode_reply(200, {b"u/0000000001.ulog": b"17:0", b"u/0000000002.ulog": b"%d:%d" % (45, ts)}))
    files = client.ulog_list()
    last_update = datetime.datetime.fromtimestamp(1_577_934_245).replace(microsecond=678_901)
    assert files == [("u/0000000001.ulog", 17, EPOCH_LOCAL), ("u/0000000002.ulog", 45, last_update)]
    assert conn.params() == ("ulog_list", {})


@pytest.mark.parametrize("meta", [b"17", b"x:1", b"17:", b"-1:5", b"17:1.5"])
def test_ulog_list_malformed_reply_raises(meta: bytes) -> None:
    client, _ = canned(encode_reply(200, {b"u/0000000001.ulog": meta}))
    with pytest.raises(KyotoServerError, match="ulog_list"):
        client.ulog_list()


def test_ulog_remove_sends_the_time_in_nanoseconds() -> None:
    client, conn = canned(encode_reply(200, {}))
    aware = datetime.datetime(2020, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.timezone.utc)
    assert client.ulog_remove(aware) is True
    assert conn.params() == ("ulog_remove", {b"ts": b"1577934245678901000"})
    naive = datetime.datetime(2021, 6, 7, 8, 9, 10, 123456)  # local time
    client.ulog_remove(naive)
    assert conn.params()[1] == {b"ts": b"%d" % (int(naive.timestamp()) * 10**9 + 123_456_000)}
    before = time.time_ns()
    client.ulog_remove(None)
    sent = int(conn.params()[1][b"ts"])
    assert before - 10**6 <= sent <= time.time_ns()
    # Past the signed 64-bit range the server reads (2262): no ts, which removes all but the newest file.
    client.ulog_remove(datetime.datetime(3000, 1, 1))
    assert conn.params() == ("ulog_remove", {})


@pytest.mark.parametrize(("max_dt", "error"), [
    (datetime.date(2020, 1, 1), InvalidTypeError),
    (1577934245, InvalidTypeError),
    ("2020-01-01", InvalidTypeError),
    (datetime.datetime(1969, 12, 31, tzinfo=datetime.timezone.utc), InvalidArgumentError),
])
def test_ulog_remove_bad_max_dt_raises_before_sending(max_dt: Any, error: type) -> None:
    client, conn = canned(encode_reply(200, {}))
    with pytest.raises(error):
        client.ulog_remove(max_dt)
    assert conn.sent == []
