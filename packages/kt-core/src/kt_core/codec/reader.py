"""Sans-I/O receive buffer for the codec's reader functions (see docs/codec.md, "Reader functions").

A connection either feeds received bytes with :meth:`Reader.feed`, or (cheaper) receives straight
into the buffer::

    view = reader.get_buffer(65536)
    n = sock.recv_into(view)
    del view
    reader.commit(n)
    result = reader.read(read_get, ...)   # a tuple, or NEED_MORE

``read`` passes the reader function a ``memoryview`` of the whole buffer, so a message reader
that does ``bytes(buf[a:b])`` copies a payload exactly once. The buffer is never resized in place
(it is replaced when it must grow), so a view a caller still holds never blocks it.

A reader function may also answer a frame that is still arriving with a :class:`Partial`: it has
decoded the frame's first part, those bytes are dropped, and its ``resume`` continues the frame
(the bulk readers do this for large replies, so a huge reply never sits whole in the buffer).
"""

from __future__ import annotations

from typing import Any, Callable, Final

__all__ = ["NEED_MORE", "Partial", "Reader", "DEFAULT_MAX_RESPONSE_SIZE"]

DEFAULT_MAX_RESPONSE_SIZE: Final = 256 * 1024 * 1024
_INITIAL_SIZE = 65536
#: After a frame larger than this is consumed the buffer is replaced by a fresh small one, so an idle
#: connection does not keep a large reply's buffer alive.
SHRINK_ABOVE: Final = 1024 * 1024


class _NeedMore:
    """Type of :data:`NEED_MORE`."""

    __slots__ = ()
    _instance: _NeedMore | None = None

    def __new__(cls) -> _NeedMore:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NEED_MORE"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "NEED_MORE"


#: Returned by :meth:`Reader.read` while the frame is incomplete.
NEED_MORE: Final = _NeedMore()


class Partial:
    """A reader function's answer for a frame still arriving whose first part it has decoded
    (docs/codec.md, "Reader functions"): the bytes before the absolute position ``consumed`` are
    done with; call ``resume(buf, pos, end, limit)``, instead of the reader function, once the
    buffer holds ``need`` (absolute, counted like ``consumed``), with ``pos`` at the first byte
    after the consumed ones (the buffer may have moved them). ``resume`` answers like a reader
    function: a ``need``, another Partial, or the complete result."""

    __slots__ = ("consumed", "need", "resume")

    def __init__(self, consumed: int, need: int, resume: Callable[..., Any]) -> None:
        self.consumed = consumed
        self.need = need
        self.resume = resume

    def __repr__(self) -> str:
        return f"Partial(consumed={self.consumed}, need={self.need})"


class Reader:
    """A byte buffer holding received, not yet consumed bytes, and the frame-scanning loop over it.

    ``max_response_size`` is the ``limit`` passed to every reader function: a frame announcing more
    bytes raises :class:`~kt_core.errors.ResponseTooLargeError` (from the reader function).
    """

    __slots__ = ("_buf", "_end", "_need", "_resume", "_start", "_view", "max_response_size")

    def __init__(self, max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE, initial_size: int = _INITIAL_SIZE) -> None:
        if max_response_size < 0:
            raise ValueError("max_response_size must be >= 0")
        self.max_response_size = max_response_size
        self._buf = bytearray(max(initial_size, 16))
        self._view = memoryview(self._buf)
        self._start = 0  # first unconsumed byte
        self._end = 0  # one past the last received byte
        self._need = 0  # pending byte count below which scanning again is pointless
        self._resume: Callable[..., Any] | None = None  # continues a frame a reader answered with a Partial

    @property
    def pending(self) -> int:
        """Bytes received and not yet consumed."""
        return self._end - self._start

    def clear(self) -> None:
        """Drop every buffered byte (e.g. after the connection was reset)."""
        self._start = self._end = self._need = 0
        self._resume = None
        if len(self._buf) > SHRINK_ABOVE:
            self._shrink()

    def _shrink(self) -> None:
        # Only called when nothing is pending; a view a caller still holds keeps the old buffer alive, not this one.
        self._buf = bytearray(_INITIAL_SIZE)
        self._view = memoryview(self._buf)

    def _make_room(self, extra: int) -> None:
        """Ensure at least ``extra`` free bytes after ``_end``, compacting or replacing the buffer."""
        start, end = self._start, self._end
        size = len(self._buf)
        if size - end >= extra:
            return
        n = end - start
        if size >= n + extra and start > 0:
            # Moving the pending bytes to the front frees enough room.
            view = self._view
            view[0:n] = view[start:end]
        else:
            # 1.5x, not 2x: a large frame of unknown length (KT get_bulk) overshoots less, and old plus new
            # buffer at a growth step hold 2.5x, not 3x, the old size.
            new = bytearray(max(n + extra, size + (size >> 1)))
            new[0:n] = self._view[start:end]
            self._buf = new
            self._view = memoryview(new)
        self._start = 0
        self._end = n

    def get_buffer(self, min_size: int = _INITIAL_SIZE) -> memoryview:
        """A writable view of the free space after the buffered bytes (at least ``min_size`` bytes).

        When a frame is known to need more bytes than that, the space covers the whole frame, so a
        large reply is received without repeated growth. Fill it, drop the view, then :meth:`commit`.
        """
        want = max(min_size, 1, self._start + self._need - self._end)
        self._make_room(want)
        return self._view[self._end :]

    def commit(self, n: int) -> None:
        """Record that ``n`` bytes were written at the start of the last :meth:`get_buffer` view."""
        if n < 0 or self._end + n > len(self._buf):
            raise ValueError(f"commit({n}) exceeds the buffer handed out")
        self._end += n

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Append received bytes."""
        n = len(data)
        if not n:
            return
        self._make_room(n)
        end = self._end
        self._view[end : end + n] = data
        self._end = end + n

    def read(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call ``fn(buf, pos, end, limit, *args)`` on the buffered bytes.

        Returns its result tuple and consumes exactly the frame, or returns :data:`NEED_MORE`
        (without calling ``fn`` again until the bytes it asked for have arrived). Exceptions from
        ``fn`` propagate; the buffer is then out of step and the connection should be dropped.
        """
        start, end = self._start, self._end
        if end - start < self._need:
            return NEED_MORE
        resume = self._resume
        if resume is None:
            result = fn(self._view, start, end, self.max_response_size, *args)
        else:
            result = resume(self._view, start, end, self.max_response_size)
        if type(result) is int:
            if result <= end:
                raise AssertionError(f"reader function {fn!r} returned need={result} <= end={end}")
            self._need = result - start
            return NEED_MORE
        if type(result) is Partial:
            self.take_partial(result, end)
            return NEED_MORE
        self._resume = None
        self._need = 0
        nxt = result[0]
        if nxt == end:
            # Everything consumed: restart at the front without moving any byte.
            self._start = self._end = 0
            if len(self._buf) > SHRINK_ABOVE:
                self._shrink()
        else:
            self._start = nxt
        return result

    def take_partial(self, partial: Partial, end: int) -> None:
        """Record a reader function's :class:`Partial` for the bytes up to ``end``: drop the consumed
        bytes and continue the frame with its ``resume``."""
        consumed, need = partial.consumed, partial.need
        if not self._start <= consumed <= end < need:
            raise AssertionError(f"reader returned {partial!r} for buffered bytes {self._start}..{end}")
        self._end = end
        self._resume = partial.resume
        if consumed == end:
            self._start = self._end = 0  # nothing pending: restart at the front without moving a byte
        else:
            self._start = consumed
        self._need = need - consumed
