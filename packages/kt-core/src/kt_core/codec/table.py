"""The entry type of the per-protocol command tables (``tyrant.TABLE``, ``kyoto_binary.TABLE``,
``kyoto_http.TABLE``).

One entry per command says what the wire needs to know (its code, the layout of its request, the
shape of its reply) and what the layers above need to know (may it be repeated after an unknown
outcome; may it be queued in a pipeline). The encoders, the readers, the stand-ins' request parsers
and reply encoders, the retry policy and the pipeline all read the same entry, so a new command is
one entry plus whatever is truly special about it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["CommandSpec"]


@dataclass(frozen=True)
class CommandSpec:
    """One command of one protocol.

    ``name`` is the command's own name on the wire (TT ``putkeep``, KT binary ``get_bulk``, KT RPC
    ``cur_jump_back``): searching it finds the entry, its encoder, reader, stand-in handler and tests.
    ``code`` is its command byte (TT), magic byte (KT binary) or procedure name (KT HTTP).
    ``request`` is its request layout after the header, field by field, as ``(name, kind)`` pairs;
    ``reply`` is its reply shape (the protocol module says which values it takes).
    ``idempotent``: repeating it after a connection failure cannot change the result (the retry
    policy retries only these). ``pipelined``: a pipeline may queue it.
    """

    name: str
    code: Any
    request: tuple[tuple[str, str], ...] = ()
    reply: Any = None
    idempotent: bool = True
    pipelined: bool = True

    def __repr__(self) -> str:
        return f"CommandSpec({self.name!r})"
