"""Run a Kyoto Tycoon or Tokyo Tyrant server as a subprocess: the real one, or the stand-in.

``EmbeddedServer()`` runs ``ktserver`` when it is installed. When the default executable is not
on ``PATH`` it says so (a :class:`ServerNotInstalledWarning` naming the executable and how to
get it) and runs the bundled stand-in server instead, through the same interface. Pass
``server=STANDIN`` to choose the stand-in deliberately, or an explicit path to insist on a
real binary (a missing one is then an error, never a silent substitute).

kt 0.9.6's keyword options work too: ``serializer=`` (for the ``client`` property), ``quiet=``
and the ``pid`` property.
"""

from __future__ import annotations

import atexit
import collections
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import IO, Any

from kt_core.errors import KtError

__all__ = [
    "STANDIN",
    "EmbeddedServer",
    "EmbeddedTokyoTyrantServer",
    "EmbeddedServerError",
    "ServerNotInstalledWarning",
    "find_free_port",
    "real_server_available",
    "script_path",
]

STANDIN = "standin"

# ktserver refuses ports above 32767 ("invalid address expression"), so free ports are picked
# from a range both servers accept rather than from the kernel's ephemeral range.
_PORT_RANGE = (20000, 32767)

_RUNNING: weakref.WeakSet[_Manager] = weakref.WeakSet()


class EmbeddedServerError(KtError, RuntimeError):
    """The server could not be started, or is not running (the message carries its own output)."""


class ServerNotInstalledWarning(UserWarning):
    """The real server executable is not installed; the stand-in runs instead."""


def find_free_port(host: str = "127.0.0.1") -> int:
    """A port in 20000-32767 that nothing listens on now (both servers accept that range)."""
    for _ in range(200):
        port = random.randint(*_PORT_RANGE)
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise EmbeddedServerError(f"no free port found on {host} in {_PORT_RANGE}")


def script_path(name: str) -> Path:
    """Path of a script shipped in kt_embedded/scripts: ``kt_test.lua`` for ``-scr`` and ``tt_test.lua`` for
    ``-ext`` (the real servers and the stand-ins run the same files)."""
    return Path(str(resources.files("kt_embedded") / "scripts" / name))


def real_server_available(executable: str) -> bool:
    """True if ``executable`` (``ktserver``/``ttserver`` or a path) can be run."""
    return shutil.which(executable) is not None


def _looks_like_port_clash(output: str) -> bool:
    text = output.lower()
    return "address already in use" in text or "bind" in text or "invalid address" in text


def _stop_all_at_exit() -> None:
    for manager in list(_RUNNING):
        try:
            manager.stop()
        except Exception:
            pass


atexit.register(_stop_all_at_exit)


class _Manager:
    executable = ""
    product = ""
    standin_module = ""
    how_to_get = ""

    def __init__(
        self,
        server: str | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        database: str | Sequence[str] = "*",
        server_args: Sequence[str] | None = None,
        *,
        client_options: dict[str, Any] | None = None,
        startup_timeout: float = 15.0,
        stop_timeout: float = 5.0,
        cwd: str | None = None,
        output_lines: int = 200,
        serializer: Any = None,
        quiet: bool | None = None,
    ) -> None:
        self.server = self.executable if server is None else server
        self.host = host
        self.port = port
        self._port_given = port is not None
        self.database = database
        self.server_args = list(server_args or [])
        self.client_options = dict(client_options or {})
        if serializer is not None:
            self.client_options["serializer"] = serializer
        self.quiet = quiet
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None
        self.backend: str | None = None
        self._output: collections.deque[str] = collections.deque(maxlen=output_lines)
        self._drain: threading.Thread | None = None
        self._clients: list[Any] = []
        self._client: Any = None

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        return f"<{type(self).__name__} {self.backend or self.server} {self.host}:{self.port} {state}>"

    # -- what to run ----------------------------------------------------------------------
    def _databases(self) -> list[str]:
        return [self.database] if isinstance(self.database, str) else list(self.database)

    def _command(self) -> list[str]:
        if self.server == STANDIN:
            self.backend = STANDIN
            prefix = [sys.executable, "-m", self.standin_module]
        else:
            path = shutil.which(self.server)
            if path is None:
                if self.server != self.executable:
                    raise EmbeddedServerError(
                        f"{self.product} executable {self.server!r} not found. {self.how_to_get} "
                        f"Or pass server={STANDIN!r} to run the bundled stand-in server.")
                warnings.warn(
                    f"{self.executable} is not installed (not on PATH); running the bundled {self.product} stand-in "
                    f"server instead. {self.how_to_get}", ServerNotInstalledWarning, stacklevel=3)
                self.backend = STANDIN
                prefix = [sys.executable, "-m", self.standin_module]
            else:
                self.backend = "real"
                prefix = [path]
        assert self.port is not None
        return [*prefix, "-host", self.host, "-port", str(self.port), *self.server_args, *self._databases()]

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def output(self) -> str:
        """The last lines the server printed (none with ``quiet=True``)."""
        return "\n".join(self._output)

    @property
    def pid(self) -> int | None:
        """The server process's id while it runs, else None."""
        process = self.process
        return process.pid if process is not None and process.poll() is None else None

    def run(self) -> bool:
        """Start the server; return True once it accepts connections.

        Raises :class:`EmbeddedServerError` with the server's own output if it exits or does
        not accept connections within ``startup_timeout``.
        """
        if self.is_running:
            return True
        attempts = 1 if self._port_given else 3
        for attempt in range(attempts):
            if not self._port_given:
                self.port = find_free_port(self.host)
            try:
                self._start_once()
                return True
            except EmbeddedServerError as exc:
                # A port picked at random can be taken between the check and the bind; any other
                # failure (a bad argument, say) would only fail again.
                if attempt + 1 == attempts or not _looks_like_port_clash(str(exc)):
                    raise
        return False  # pragma: no cover - the loop returns or raises

    def _start_once(self) -> None:
        argv = self._command()
        port_taken = self._accepts_connections()
        self._output.clear()
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        self.process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=self.cwd, env=env)
        # Drain the pipe on a thread so a chatty server can never block on a full pipe.
        assert self.process.stdout is not None
        self._drain = threading.Thread(target=self._drain_output, args=(self.process.stdout,), daemon=True,
                                       name=f"{self.executable}-output")
        self._drain.start()
        _RUNNING.add(self)
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.process.poll() is not None:
                self._wait_for_output()
                code = self.process.returncode
                self.process = None
                raise EmbeddedServerError(
                    f"{self.backend} {self.product} server exited with code {code} during startup: "
                    f"{' '.join(argv)}\n{self.output}")
            if not port_taken and self._accepts_connections():
                return
            if port_taken and time.monotonic() > deadline - self.startup_timeout + 2.0:
                # Something else held the port before we started: whatever answers there is
                # not our server, which should be exiting with its bind error by now.
                self.stop()
                raise EmbeddedServerError(
                    f"port {self.port} on {self.host} was already in use; {self.backend} {self.product} server: "
                    f"{' '.join(argv)}\n{self.output}")
            if time.monotonic() > deadline:
                self.stop()
                raise EmbeddedServerError(
                    f"{self.backend} {self.product} server did not accept connections on {self.host}:{self.port} "
                    f"within {self.startup_timeout}s: {' '.join(argv)}\n{self.output}")
            time.sleep(0.02)

    def _accepts_connections(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def _drain_output(self, stream: IO[bytes]) -> None:
        # The pipe is read even with quiet=True: a server blocked on a full pipe would stop answering.
        quiet, echo = self.quiet is True, self.quiet is False
        for line in iter(stream.readline, b""):
            if quiet:
                continue
            text = line.decode("utf-8", "replace").rstrip("\n")
            self._output.append(text)
            if echo:
                print(text, file=sys.stderr, flush=True)
        stream.close()

    def _wait_for_output(self) -> None:
        if self._drain is not None:
            self._drain.join(2)

    def stop(self) -> bool:
        """Stop the server (terminate, then kill after ``stop_timeout``). False if not running."""
        for client in self._clients:
            try:
                client.close()
            except Exception:
                pass
        self._clients.clear()
        self._client = None
        process, self.process = self.process, None
        _RUNNING.discard(self)
        if process is None:
            return False
        was_running = process.poll() is None
        if was_running:
            process.terminate()
            try:
                process.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._wait_for_output()
        return was_running

    def __enter__(self) -> _Manager:
        self.run()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- clients --------------------------------------------------------------------------
    def _client_class(self) -> Any:
        raise NotImplementedError

    def make_client(self, **options: Any) -> Any:
        """A new client bound to this server; ``options`` go to the client (e.g. serializer)."""
        if self.port is None:
            raise EmbeddedServerError("the server is not running; call run() first")
        client = self._client_class()(host=self.host, port=self.port, **{**self.client_options, **options})
        self._clients.append(client)
        return client

    @property
    def client(self) -> Any:
        """A client bound to the server, made with ``client_options`` (created once)."""
        if not self.is_running:
            raise EmbeddedServerError("the server is not running; call run() first")
        if self._client is None:
            self._client = self.make_client()
        return self._client


class EmbeddedServer(_Manager):
    """Run a Kyoto Tycoon server (``ktserver``, or the stand-in) as a subprocess.

    ``database`` is one database spec or a list of them (``*`` in-memory hash, ``%`` in-memory
    tree, or a file name); ``server_args`` are extra command-line arguments (e.g.
    ``["-scr", "script.lua"]``). With no ``port``, a free port in 20000-32767 is used.

    Keyword options: ``serializer`` for the :attr:`client` (and :meth:`make_client`) clients;
    ``quiet=True`` discards the server's output, ``quiet=False`` echoes it to stderr as it comes,
    and the default keeps its last lines in :attr:`output` (shown in startup errors) without
    printing them; ``client_options``, ``startup_timeout``, ``stop_timeout``, ``cwd``.
    """

    executable = "ktserver"
    product = "Kyoto Tycoon"
    standin_module = "kt_embedded.standin.kyoto"
    how_to_get = ("Build Kyoto Tycoon 0.9.56 (with Kyoto Cabinet) from its source and put ktserver on PATH, "
                  "or pass server='/path/to/ktserver'.")

    def __init__(self, server: str = "ktserver", host: str = "127.0.0.1", port: int | None = None,
                 database: str | Sequence[str] = "*", server_args: Sequence[str] | None = None,
                 **options: Any) -> None:
        super().__init__(server, host, port, database, server_args, **options)

    def _client_class(self) -> Any:
        from kt_kyoto import KyotoTycoon

        return KyotoTycoon


class EmbeddedTokyoTyrantServer(_Manager):
    """Run a Tokyo Tyrant server (``ttserver``, or the stand-in) as a subprocess.

    ``database``: ``*`` in-memory hash (default), ``+`` in-memory tree, or a file name whose
    extension picks the type (``.tch`` hash, ``.tcb`` B+ tree, ``.tct`` table). Keyword options
    as for :class:`EmbeddedServer` (``serializer``, ``quiet``, ...).
    """

    executable = "ttserver"
    product = "Tokyo Tyrant"
    standin_module = "kt_embedded.standin.tyrant"
    how_to_get = ("Build Tokyo Tyrant 1.1.41 (with Tokyo Cabinet) from its source and put ttserver on PATH, "
                  "or pass server='/path/to/ttserver'.")

    def __init__(self, server: str = "ttserver", host: str = "127.0.0.1", port: int | None = None,
                 database: str = "*", server_args: Sequence[str] | None = None, **options: Any) -> None:
        super().__init__(server, host, port, database, server_args, **options)

    def _client_class(self) -> Any:
        from kt_tyrant import TokyoTyrant

        return TokyoTyrant
