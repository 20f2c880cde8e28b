"""Shared by kt-core's connection and pool tests: a tiny Tokyo Tyrant speaking server (threads on 127.0.0.1, port 0).

Tests take the ``make_server`` fixture: ``make_server(handler=None)`` starts a server (closed after the test) and
``make_server.answer`` is the default handler, for a custom handler to fall back on.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Callable

import pytest
from kt_core.codec import tyrant
from kt_core.codec.reader import NEED_MORE, Reader

Handler = Callable[[socket.socket, tyrant.Request, int], None]


class TtTestServer:
    """Accepts connections and decodes requests with the real codec (``tyrant.parse_request``).

    ``handler(sock, request, conn_id)`` answers one request; the default answers ``get`` with
    ``b"<key>@<conn_id>"`` so a test can tell which reply belongs to which request and which
    server-side connection carried it.
    """

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler = handler or self.answer
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted = 0
        self.requests: list[tuple[int, tyrant.Request]] = []
        self.conns: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept_loop, daemon=True).start()

    @staticmethod
    def answer(sock: socket.socket, request: tyrant.Request, conn_id: int) -> None:
        if request.command == "get":
            sock.sendall(tyrant.encode_data_reply(request.fields["key"] + b"@%d" % conn_id))
        elif request.command != "putnr":
            sock.sendall(tyrant.encode_code_reply(0))

    def _accept_loop(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                conn_id = self.accepted
                self.conns.append(sock)
            threading.Thread(target=self._serve, args=(sock, conn_id), daemon=True).start()

    def _serve(self, sock: socket.socket, conn_id: int) -> None:
        reader = Reader()
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    return
                reader.feed(data)
                while True:
                    parsed = reader.read(tyrant.parse_request)
                    if parsed is NEED_MORE:
                        break
                    with self._lock:
                        self.requests.append((conn_id, parsed[1]))
                    self.handler(sock, parsed[1], conn_id)
        except OSError:
            return
        finally:
            sock.close()

    def close(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() thread; close() alone does not
        except OSError:
            pass
        self.listener.close()
        with self._lock:
            for sock in self.conns:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()


class MakeServer:
    """``make_server(handler=None)``: a started TtTestServer; all of them are closed by the fixture."""

    answer = staticmethod(TtTestServer.answer)

    def __init__(self) -> None:
        self.servers: list[TtTestServer] = []

    def __call__(self, handler: Handler | None = None) -> TtTestServer:
        server = TtTestServer(handler)
        self.servers.append(server)
        return server


@pytest.fixture
def make_server() -> Iterator[MakeServer]:
    factory = MakeServer()
    yield factory
    for server in factory.servers:
        server.close()
