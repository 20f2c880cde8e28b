"""An explicit, bounded retry policy for requests that failed on the connection.

Off by default (``RetryPolicy()`` never retries). ``RetryPolicy(retries=2)`` retries an
*idempotent* operation up to twice after a :class:`~kt_core.errors.KtConnectionError` (which
includes timeouts), sleeping ``backoff``, then twice that, and so on up to ``max_backoff`` seconds.
The failed connection is already closed by :class:`~kt_core.io.connection.Connection`, so each attempt
runs on a fresh one.

Never retried, whatever the policy: operations whose repetition changes the result (``append``,
``incr``, ``incr_double``, ``cas``, ``add``, ``seize``, TT ``putcat``/``putshl``/``putkeep``/
``addint``/``adddouble``/``ext`` …). Their request may have been applied before the connection
failed; the error is raised so the caller decides. Server errors and protocol errors are never
retried either: the server answered (or the bytes were bad), repeating does not help.

Hook for a client (one line around each request)::

    return self._retry.call("get", lambda: self._conns.get().request(data, read_get_bulk))
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, TypeVar

from ..codec.table import CommandSpec
from ..errors import InvalidArgumentError, InvalidTypeError, KtConnectionError

__all__ = ["RetryPolicy", "NO_RETRY", "NON_IDEMPOTENT", "is_idempotent", "retry_policy"]

T = TypeVar("T")

#: Operation names (client method names, both clients) that are never retried.
NON_IDEMPOTENT = frozenset({
    "append", "incr", "incr_double", "cas", "add", "seize", "script", "play_script",
    "putcat", "putshl", "putkeep", "addint", "adddouble", "ext", "misc", "putnr", "iternext", "iterinit",
    "cur_step", "cur_step_back", "cur_seize", "cur_jump", "cur_jump_back",
})


def is_idempotent(operation: str | CommandSpec) -> bool:
    """True if repeating ``operation`` after an unknown outcome cannot change the result.

    ``operation`` is a command-table entry (its ``idempotent`` flag decides) or a client method's name.
    """
    if isinstance(operation, CommandSpec):
        return operation.idempotent
    return operation not in NON_IDEMPOTENT


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` extra attempts (0: off) with exponential ``backoff`` capped at ``max_backoff`` seconds."""

    retries: int = 0
    backoff: float = 0.05
    max_backoff: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or not 0 <= self.retries <= 100:
            raise InvalidArgumentError(f"retries must be an int in 0..100, not {self.retries!r}")
        for name in ("backoff", "max_backoff"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 60:
                raise InvalidArgumentError(f"{name} must be a number of seconds in 0..60, not {value!r}")

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        return float(min(self.max_backoff, self.backoff * (2 ** (attempt - 1))))

    def call(self, operation: str | CommandSpec, fn: Callable[[], T], sleep: Callable[[float], None] = time.sleep) -> T:
        """Run ``fn``; on a connection error retry it if ``operation`` is idempotent and attempts remain."""
        retries = self.retries if is_idempotent(operation) else 0
        attempt = 0
        while True:
            try:
                return fn()
            except KtConnectionError:
                if attempt >= retries:
                    raise
                attempt += 1
                sleep(self.delay(attempt))


#: The default: no retries.
NO_RETRY = RetryPolicy()


def retry_policy(retry: object) -> RetryPolicy:
    """A client's ``retry=`` option as a policy: None (no retries), an int (that many retries) or a RetryPolicy."""
    if retry is None:
        return NO_RETRY
    if isinstance(retry, RetryPolicy):
        return retry
    if type(retry) is int:
        return RetryPolicy(retries=retry)
    raise InvalidTypeError(f"retry must be None, an int or a RetryPolicy, not {type(retry).__name__}")
