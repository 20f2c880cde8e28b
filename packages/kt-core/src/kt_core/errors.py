"""The one exception tree of kt.

Every exception kt raises derives from :class:`KtError`. Where a builtin fits, the
exception also inherits it, so ``except ConnectionError`` or ``except ValueError`` in a
caller's code keeps working.

::

    KtError (kt 0.9.6: KyotoTycoonError)
    ├── ImproperlyConfigured (ValueError)     unusable configuration: unknown serializer, missing extra
    ├── InvalidArgumentError (ValueError)     bad input from the caller, raised before sending
    │   └── InvalidTypeError (TypeError)      ...of the wrong type
    ├── ProtocolError (ValueError)            bad bytes from the network
    │   └── ResponseTooLargeError             a frame over the configured maximum size
    ├── KtConnectionError (ConnectionError)   connect/send/recv failed, connection closed
    │   │                                     (kt 0.9.6: ServerConnectionError)
    │   └── KtTimeoutError (TimeoutError)     connect or read timed out
    └── ServerError                           the server answered with an error
        ├── ScriptError                       a server-side script is missing or failed
        ├── KyotoServerError                  Kyoto Tycoon (HTTP status or binary 0xBF)
        │   ├── LogicalInconsistencyError     HTTP 450
        │   ├── BadRequestError               HTTP 400
        │   ├── NotImplementedByServerError   HTTP 501
        │   ├── InternalServerError           HTTP 500
        │   └── KyotoScriptError (ScriptError)  play_script failed
        └── TokyoTyrantError                  Tokyo Tyrant non-zero reply code
            └── TokyoTyrantScriptError (ScriptError)  ext failed

kt 0.9.6's names are aliases here: ``KyotoTycoonError`` is :class:`KtError` (it caught every kt
error there too) and ``ServerConnectionError`` is :class:`KtConnectionError`.
"""

from __future__ import annotations

__all__ = [
    "KtError",
    "KyotoTycoonError",
    "ImproperlyConfigured",
    "ServerConnectionError",
    "ScriptError",
    "KyotoScriptError",
    "TokyoTyrantScriptError",
    "InvalidArgumentError",
    "InvalidTypeError",
    "ProtocolError",
    "ResponseTooLargeError",
    "KtConnectionError",
    "KtTimeoutError",
    "ServerError",
    "KyotoServerError",
    "LogicalInconsistencyError",
    "BadRequestError",
    "NotImplementedByServerError",
    "InternalServerError",
    "TokyoTyrantError",
    "PipelineError",
    "kyoto_error_for_status",
]


class KtError(Exception):
    """Base class of every exception raised by kt."""


#: kt 0.9.6's name for the root of its tree.
KyotoTycoonError = KtError


class ImproperlyConfigured(KtError, ValueError):
    """A client or server manager was given a configuration it cannot use (an unknown serializer, an
    optional dependency that is not installed, a server program that is not there)."""


class InvalidArgumentError(KtError, ValueError):
    """A caller passed a value that cannot be sent; nothing was sent."""


class InvalidTypeError(InvalidArgumentError, TypeError):
    """A caller passed an argument of the wrong type; nothing was sent."""


class ProtocolError(KtError, ValueError):
    """The bytes received are not a valid reply. The connection is out of step and is dropped."""


class ResponseTooLargeError(ProtocolError):
    """A reply announced more bytes than the configured maximum response size."""


class KtConnectionError(KtError, ConnectionError):
    """Connecting, sending or receiving failed, or the server closed the connection."""


class KtTimeoutError(KtConnectionError, TimeoutError):
    """Connecting or waiting for a reply took longer than the configured timeout."""


#: kt 0.9.6's name for a connection failure.
ServerConnectionError = KtConnectionError


class PipelineError(KtConnectionError):
    """A pipeline's connection failed (or its bytes went bad) before every reply was read.

    ``replies_read`` of ``commands`` replies were read; the commands beyond may or may not have been
    applied, so nothing is retried. The connection was discarded. ``__cause__`` is the error itself.
    """

    def __init__(self, message: str, replies_read: int, commands: int) -> None:
        super().__init__(message)
        self.replies_read = replies_read
        self.commands = commands


class ServerError(KtError):
    """The server answered with an error.

    ``code`` is the server's code (an HTTP status for Kyoto Tycoon's HTTP protocol, the reply
    code for Tokyo Tyrant, ``None`` for Kyoto Tycoon's binary error reply) and ``message`` its
    message where it sent one.
    """

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self) -> str:
        if self.code is None:
            return self.message
        return f"{self.message} (code {self.code})"


class ScriptError(ServerError):
    """A server-side script is missing, failed, or the server runs no scripts."""


class KyotoServerError(ServerError):
    """Kyoto Tycoon reported an error."""


class LogicalInconsistencyError(KyotoServerError):
    """HTTP 450: missing record, duplicate, cas mismatch, non-numeric increment, bad regex."""


class BadRequestError(KyotoServerError):
    """HTTP 400: missing or invalid parameters, unknown database or cursor."""


class NotImplementedByServerError(KyotoServerError):
    """HTTP 501: unknown procedure, undefined script function, scripting disabled."""


class InternalServerError(KyotoServerError):
    """HTTP 500: for example a Lua runtime error."""


class KyotoScriptError(KyotoServerError, ScriptError):
    """Kyoto Tycoon's play_script failed: an undefined function, an error it returned, no scripting."""


class TokyoTyrantError(ServerError):
    """Tokyo Tyrant answered with a non-zero reply code."""


class TokyoTyrantScriptError(TokyoTyrantError, ScriptError):
    """Tokyo Tyrant's ext failed: a missing function, one that returned nil, or no extension loaded."""


_KT_STATUS: dict[int, type[KyotoServerError]] = {
    450: LogicalInconsistencyError,
    400: BadRequestError,
    501: NotImplementedByServerError,
    500: InternalServerError,
}


def kyoto_error_for_status(status: int, message: str) -> KyotoServerError:
    """Return the exception for a Kyoto Tycoon HTTP error status (not raised)."""
    return _KT_STATUS.get(status, KyotoServerError)(message, status)
