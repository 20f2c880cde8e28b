"""A loopback TCP proxy with switchable faults, for testing how a client survives a bad network.

Put it between a client and a server and switch faults on and off while the client runs::

    from kt_embedded.faultproxy import FaultProxy

    with FaultProxy("127.0.0.1", server_port) as proxy:
        client = KyotoTycoon(proxy.host, proxy.port, timeout=0.5)
        client.set("k", "v")          # pass-through
        proxy.stall()                 # replies are held back: the next call times out
        proxy.passthrough()           # held replies are released (late) and forwarding resumes
        proxy.close_after(5)          # each connection is cut after 5 more reply bytes
        proxy.corrupt({0: 0xFF})      # reply byte 0 (counted from now, per connection) is XORed with 0xFF
        proxy.refuse()                # the listening socket is closed: connecting is refused
        proxy.passthrough()           # listening again on the same port

Faults act on the reply direction (server to client); requests always pass unchanged. Offsets
and byte counts are per connection and counted from the moment the fault is switched on (or from
the connection's start, if it is newer). The proxy binds loopback unless told otherwise. It runs
on threads (one accept thread, one thread per proxied connection) and keeps counters in
:attr:`stats`.
"""

from __future__ import annotations

import selectors
import socket
import threading
from collections.abc import Mapping
from typing import Any

__all__ = ["FaultProxy", "PASSTHROUGH", "STALL", "CLOSE_AFTER", "CORRUPT", "REFUSE"]

PASSTHROUGH = "passthrough"
STALL = "stall"
CLOSE_AFTER = "close_after"
CORRUPT = "corrupt"
REFUSE = "refuse"

_CHUNK = 65536


class _Link:
    """One proxied connection: the client side, the server side, and the fault counters."""

    def __init__(self, client: socket.socket, server: socket.socket, epoch: int) -> None:
        self.client = client
        self.server = server
        self.epoch = epoch  # the fault generation its counters were reset for
        self.reply_bytes = 0  # reply bytes seen since the current fault was switched on
        self.held = bytearray()  # replies held back by STALL
        self.closed = False

    def close(self) -> None:
        self.closed = True
        for sock in (self.client, self.server):
            try:
                sock.close()
            except OSError:
                pass


class FaultProxy:
    """Forward ``host:port`` (``port=0``: a free one, see :attr:`port`) to ``target_host:target_port``.

    Switch faults with :meth:`passthrough`, :meth:`stall`, :meth:`close_after`, :meth:`corrupt`
    and :meth:`refuse`; :meth:`retarget` points new connections at another server (e.g. one
    restarted on a new port); :meth:`drop_connections` cuts every proxied connection at once.
    """

    def __init__(self, target_host: str, target_port: int, host: str = "127.0.0.1", port: int = 0) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.host = host
        self.port = port
        self.mode = PASSTHROUGH
        self._close_after = 0
        self._corrupt: dict[int, int] = {}
        self._epoch = 0
        self._lock = threading.Lock()
        self._links: set[_Link] = set()
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._stopped = threading.Event()
        #: Counters: connections accepted, bytes forwarded each way, faults applied.
        self.stats: dict[str, int] = {"connections": 0, "request_bytes": 0, "reply_bytes": 0, "stalled_bytes": 0,
                                      "closed_by_fault": 0, "corrupted_bytes": 0, "refused": 0}

    def __repr__(self) -> str:
        return f"<FaultProxy {self.host}:{self.port} -> {self.target_host}:{self.target_port} {self.mode}>"

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> FaultProxy:
        """Start listening (a free port if ``port`` was 0) and forwarding on background threads."""
        self._stopped.clear()
        self._listen()
        return self

    def stop(self) -> None:
        """Stop listening and close every proxied connection."""
        self._stopped.set()
        self._close_listener()
        self.drop_connections()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def open_connections(self) -> int:
        """Proxied connections currently open (a client's open sockets, as the server side sees them)."""
        with self._lock:
            return sum(1 for link in self._links if not link.closed)

    # -- faults ---------------------------------------------------------------------------
    def passthrough(self) -> None:
        """Forward everything. Replies held by :meth:`stall` are released (they arrive late); a
        refused listener listens again on the same port."""
        with self._lock:
            self._set_mode(PASSTHROUGH)
            links = list(self._links)
        for link in links:
            if link.held and not link.closed:
                held, link.held = bytes(link.held), bytearray()
                try:
                    link.client.sendall(held)
                except OSError:
                    link.close()
        if self._listener is None and not self._stopped.is_set():
            self._listen()

    def stall(self) -> None:
        """Stop forwarding replies: they are held (see :meth:`passthrough`); requests still pass."""
        with self._lock:
            self._set_mode(STALL)

    def close_after(self, nbytes: int) -> None:
        """Forward ``nbytes`` more reply bytes on each connection, then close it (both sides)."""
        if nbytes < 0:
            raise ValueError("nbytes must be >= 0")
        with self._lock:
            self._close_after = nbytes
            self._set_mode(CLOSE_AFTER)

    def corrupt(self, flips: Mapping[int, int]) -> None:
        """XOR reply byte ``offset`` with ``mask`` for each ``{offset: mask}`` (offsets per connection,
        counted from now). Every other byte passes unchanged."""
        if any(not 0 < mask <= 0xFF for mask in flips.values()) or any(off < 0 for off in flips):
            raise ValueError("offsets must be >= 0 and masks in 1..255")
        with self._lock:
            self._corrupt = dict(flips)
            self._set_mode(CORRUPT)

    def refuse(self, drop: bool = True) -> None:
        """Close the listening socket (connecting is refused); with ``drop``, cut open connections too."""
        with self._lock:
            self._set_mode(REFUSE)
        self._close_listener()
        if drop:
            self.drop_connections()

    def retarget(self, target_host: str, target_port: int) -> None:
        """Send new connections to another server (open ones keep their server)."""
        self.target_host = target_host
        self.target_port = target_port

    def drop_connections(self) -> int:
        """Close every proxied connection now; returns how many were open."""
        with self._lock:
            links, self._links = list(self._links), set()
        for link in links:
            link.close()
        return len(links)

    def _set_mode(self, mode: str) -> None:
        self.mode = mode
        self._epoch += 1

    # -- plumbing -------------------------------------------------------------------------
    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._accept_thread = threading.Thread(target=self._accept_loop, args=(listener,), daemon=True,
                                               name=f"faultproxy-{self.port}-accept")
        self._accept_thread.start()

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is None:
            return
        try:
            # shutdown wakes a thread blocked in accept() on Linux; close alone may not.
            listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        listener.close()
        thread = self._accept_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(2)

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if self._listener is not listener:
                client.close()
                return
            try:
                server = socket.create_connection((self.target_host, self.target_port), timeout=5)
            except OSError:
                # The server is down: the client sees its connection closed, as with a dead server.
                self.stats["refused"] += 1
                client.close()
                continue
            for sock in (client, server):
                sock.settimeout(None)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                link = _Link(client, server, self._epoch)
                self._links.add(link)
                self.stats["connections"] += 1
            threading.Thread(target=self._pump, args=(link,), daemon=True,
                             name=f"faultproxy-{self.port}-conn").start()

    def _pump(self, link: _Link) -> None:
        sel = selectors.DefaultSelector()
        try:
            sel.register(link.client, selectors.EVENT_READ, "request")
            sel.register(link.server, selectors.EVENT_READ, "reply")
            while not link.closed:
                for key, _ in sel.select(0.2):
                    data = key.fileobj.recv(_CHUNK)  # type: ignore[union-attr]
                    if not data:
                        return
                    if key.data == "request":
                        self.stats["request_bytes"] += len(data)
                        link.server.sendall(data)
                    elif not self._forward_reply(link, data):
                        return
        except (OSError, ValueError):
            pass  # either side closed (or the link was dropped): end this connection
        finally:
            sel.close()
            link.close()
            with self._lock:
                self._links.discard(link)

    def _forward_reply(self, link: _Link, data: bytes) -> bool:
        """Apply the current fault to reply bytes; False when the connection must be closed."""
        with self._lock:
            if link.epoch != self._epoch:
                link.epoch = self._epoch
                link.reply_bytes = 0
            mode = self.mode
            start = link.reply_bytes
            link.reply_bytes += len(data)
            limit = self._close_after
            flips = self._corrupt
        if mode == STALL:
            self.stats["stalled_bytes"] += len(data)
            link.held += data
            return True
        if mode == CLOSE_AFTER:
            keep = max(0, limit - start)
            if keep < len(data):
                if keep:
                    link.client.sendall(data[:keep])
                    self.stats["reply_bytes"] += keep
                self.stats["closed_by_fault"] += 1
                return False
        elif mode == CORRUPT:
            hits = [(off - start, mask) for off, mask in flips.items() if start <= off < start + len(data)]
            if hits:
                buf = bytearray(data)
                for pos, mask in hits:
                    buf[pos] ^= mask
                data = bytes(buf)
                self.stats["corrupted_bytes"] += len(hits)
        self.stats["reply_bytes"] += len(data)
        link.client.sendall(data)
        return True
