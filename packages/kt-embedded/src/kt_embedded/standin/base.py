"""The connection loop shared by the stand-in servers.

A stand-in is a threaded TCP server: one thread per connection reads bytes into a
:class:`kt_core.codec.reader.Reader`, asks the protocol for the next complete request, and writes the
reply. The protocol (Kyoto Tycoon or Tokyo Tyrant) supplies only ``parse`` and ``handle``; the
wire format comes from kt_core's codec, never written twice.

Malformed input ends that one connection (as the real servers do); it never takes the process
down.
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading
from typing import Any, Callable, Optional

from kt_core.codec.reader import NEED_MORE, Reader
from kt_core.errors import ProtocolError

__all__ = ["CLOSE", "CLOSE_IF_IDLE", "Session", "StandinServer", "common_arguments", "DEFAULT_MAX_REQUEST_SIZE"]

DEFAULT_MAX_REQUEST_SIZE = 256 * 1024 * 1024


class _Close:
    """Returned by ``handle`` to close the connection (after sending ``reply`` if any)."""

    __slots__ = ("reply",)

    def __init__(self, reply: bytes = b"") -> None:
        self.reply = reply


def CLOSE(reply: bytes = b"") -> _Close:
    return _Close(reply)


class _CloseIfIdle:
    """Type of :data:`CLOSE_IF_IDLE`."""

    __slots__ = ()


#: Returned by ``handle``: no reply; close the connection unless more bytes have already been received,
#: in which case the next request in them is served (ttserver's answer to an unknown command).
CLOSE_IF_IDLE = _CloseIfIdle()


class Session:
    """Per-connection state a protocol may use (Kyoto Tycoon keeps cursors per connection)."""

    def __init__(self, peer: Any) -> None:
        self.peer = peer
        self.data: dict[str, Any] = {}


ParseFn = Callable[[Any, int, int, int], Any]


class StandinServer:
    """Serve a protocol on ``host:port`` (port 0 picks a free one; see :attr:`port`).

    Subclasses implement :meth:`parse` (the codec's request decoder: returns an ``int`` while
    incomplete or ``(next_pos, request)``) and :meth:`handle` (returns reply bytes, ``None`` for
    no reply, ``CLOSE(...)`` or ``CLOSE_IF_IDLE``).

    Requests are served strictly in order, one at a time: pipelined requests (many in one segment, or
    one split over several) are answered in the order they were sent.
    """

    name = "stand-in"

    def __init__(self, host: str = "127.0.0.1", port: int = 0,
                 max_request_size: int = DEFAULT_MAX_REQUEST_SIZE) -> None:
        self.max_request_size = max_request_size
        self._listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, port))
        self._listener.listen(128)
        self.host = host
        self.port: int = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        self._threads: set[threading.Thread] = set()
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._accept_thread: Optional[threading.Thread] = None

    # -- protocol hooks -------------------------------------------------------------------
    def parse(self, buf: Any, pos: int, end: int, limit: int) -> Any:
        raise NotImplementedError

    def handle(self, request: Any, session: Session) -> Any:
        raise NotImplementedError

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> StandinServer:
        """Serve on a background thread (in-process use, e.g. in a user's tests)."""
        self._accept_thread = threading.Thread(target=self.serve_forever, name=f"{self.name}-accept", daemon=True)
        self._accept_thread.start()
        return self

    def serve_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, peer = self._listener.accept()
            except OSError:
                if self._stopping.is_set():
                    break
                continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            thread = threading.Thread(target=self._serve_connection, args=(conn, peer), daemon=True,
                                      name=f"{self.name}-conn")
            with self._lock:
                self._conns.add(conn)
                self._threads.add(thread)
            thread.start()

    def serve_until_interrupted(self) -> None:
        """Serve in the foreground (the command line's main loop) until Ctrl-C or stop()."""
        try:
            self.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self) -> None:
        self._stopping.set()
        try:
            self._listener.close()
        except OSError:
            pass
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._accept_thread is not None and self._accept_thread is not threading.current_thread():
            # accept() does not wake on close() everywhere: poke it.
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
            except OSError:
                pass
            self._accept_thread.join(2)

    def __enter__(self) -> StandinServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- one connection -------------------------------------------------------------------
    def _serve_connection(self, conn: socket.socket, peer: Any) -> None:
        reader = Reader(self.max_request_size)
        session = Session(peer)
        try:
            while not self._stopping.is_set():
                request = reader.read(self.parse)
                if request is NEED_MORE:
                    buf = reader.get_buffer(65536)
                    n = conn.recv_into(buf)
                    if n == 0:
                        return
                    reader.commit(n)
                    continue
                reply = self.handle(request[1], session)
                if reply is CLOSE_IF_IDLE:
                    if reader.pending:
                        continue
                    return
                if isinstance(reply, _Close):
                    if reply.reply:
                        conn.sendall(reply.reply)
                    return
                if reply:
                    conn.sendall(reply)
        except ProtocolError as exc:
            self.on_protocol_error(exc, peer)
        except OSError:
            pass
        except Exception as exc:  # a stand-in bug must not kill the server
            print(f"{self.name}: internal error on {peer}: {exc!r}", file=sys.stderr, flush=True)
        finally:
            with self._lock:
                self._conns.discard(conn)
                self._threads.discard(threading.current_thread())
            try:
                conn.close()
            except OSError:
                pass

    def on_protocol_error(self, exc: Exception, peer: Any) -> None:
        print(f"{self.name}: closing connection from {peer}: {exc}", file=sys.stderr, flush=True)


class SlaveThread(threading.Thread):
    """The thread of a stand-in replicating from a master: ``_alive`` while it should run, ``_sock``
    its stream's socket, which :meth:`stop` shuts down so a blocked read ends at once; :meth:`pause`
    waits between rounds and ends early at :meth:`stop`."""

    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._alive = threading.Event()
        self._alive.set()
        self._stopping = threading.Event()
        self._sock: Optional[socket.socket] = None

    def pause(self, seconds: float) -> None:
        # Not _alive.wait(): an event that is set returns at once, and the loop would spin.
        self._stopping.wait(seconds)

    def stop(self) -> None:
        self._alive.clear()
        self._stopping.set()
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self.is_alive() and self is not threading.current_thread():
            self.join(3)


def common_arguments(parser: argparse.ArgumentParser) -> None:
    """The options both stand-ins share, spelled as the real servers spell them."""
    parser.add_argument("-host", default="127.0.0.1", help="address to bind (default 127.0.0.1, loopback only)")
    parser.add_argument("-port", type=int, default=1978, help="port to listen on (default 1978)")
    parser.add_argument("-max-request-size", dest="max_request_size", type=int, default=DEFAULT_MAX_REQUEST_SIZE,
                        help="largest request accepted, in bytes")
