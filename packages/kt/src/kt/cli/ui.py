"""What the commands show: plain, pipe-friendly output off a terminal; colour, tables and progress bars on one.

Data goes to stdout, progress and errors to stderr, so ``kt dump URL > file`` shows its progress bar
on the terminal while the file gets only records. ``--json`` makes every command print JSON instead
(one object, or one object a line for the commands that stream records).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, Callable

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

from .formats import json_field, tsv_field


@dataclass
class Settings:
    """The options every command shares (given before or after the command's name)."""

    json: bool = False
    debug: bool = False
    timeout: float | None = 30.0
    progress: bool | None = None  # None: only when stderr is a terminal


def settings() -> Settings:
    ctx = click.get_current_context()
    found = ctx.find_object(Settings)
    if found is None:
        found = ctx.ensure_object(Settings)
    return found


def _isatty(stream: IO[Any]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def stdout_is_terminal() -> bool:
    return _isatty(sys.stdout)


def stderr_is_terminal() -> bool:
    return _isatty(sys.stderr)


def binary_stdout() -> IO[bytes]:
    """stdout for bytes, after whatever text was written to it (sys.stdout is looked up at each call:
    click's test runner replaces it)."""
    sys.stdout.flush()
    return sys.stdout.buffer


def binary_stdin() -> IO[bytes]:
    return sys.stdin.buffer


class OperationError(click.ClickException):
    """An operation failed (the server refused, a connection broke, a file is bad): one line, exit code 1."""

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(click.style("kt: error: ", fg="red", bold=True) + self.format_message(), err=True)


class OneLineUsageError(click.UsageError):
    """A usage error on one line (exit code 2), naming the help to read."""

    def show(self, file: IO[Any] | None = None) -> None:
        where = self.ctx.command_path if self.ctx is not None else "kt"
        message = " ".join(self.format_message().split())  # click lists choices on lines of their own
        click.echo(click.style("kt: usage error: ", fg="yellow", bold=True) + message + f" (see '{where} --help')",
                   err=True)


# ------------------------------------------------------------------ writing results

def write_bytes(data: bytes) -> None:
    stream = binary_stdout()
    stream.write(data)
    stream.flush()


def write_line(text: str) -> None:
    click.echo(text)


def write_json(obj: Any) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, sort_keys=False))


def record_json(key: bytes, value: bytes | None = None, **extra: Any) -> dict[str, Any]:
    """A record as JSON: ``key``/``value`` text, or ``key_b64``/``value_b64`` for bytes that are not UTF-8."""
    out = json_field("key", key, {})
    if value is not None:
        json_field("value", value, out)
    out.update(extra)
    return out


def field(data: bytes) -> str:
    """A key or value on a plain output line: text escaped as in TSV, bytes that are not UTF-8 as \\B + base64."""
    return tsv_field(data)


def field_map(data: Mapping[Any, Any]) -> dict[str, Any]:
    """A mapping of names to bytes/str/numbers, JSON-ready: a bytes value that is not UTF-8 goes under
    ``NAME_b64`` in base64, as in the dump format."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = key.decode("utf-8", "backslashreplace") if isinstance(key, bytes) else str(key)
        if isinstance(value, bytes):
            json_field(name, value, out)
        else:
            out[name] = value
    return out


def show_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[int] = ()) -> None:
    """A table: rich's on a terminal, TSV (a header line, then rows) in a pipe."""
    if stdout_is_terminal():
        table = Table(title=title, title_justify="left", header_style="bold cyan")
        for i, name in enumerate(headers):
            table.add_column(name, justify="right" if i in right else "left")
        for row in rows:
            table.add_row(*(Text(str(cell)) for cell in row))
        Console(soft_wrap=False).print(table)
    else:
        write_line("\t".join(headers))
        for row in rows:
            write_line("\t".join(str(cell) for cell in row))


def show_fields(fields: Mapping[str, Any]) -> None:
    """``name<TAB>value`` lines (names bold on a terminal)."""
    for name, value in fields.items():
        write_line(click.style(name, bold=True) + "\t" + str(value))


def note(message: str) -> None:
    """A remark for the person at the terminal (stderr; nothing in a pipe, so scripts see only data)."""
    if stderr_is_terminal():
        click.echo(click.style(message, dim=True), err=True)


# ------------------------------------------------------------------ progress

class RateColumn(ProgressColumn):
    """Records a second (rich's own speed column counts bytes)."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if speed is None:
            return Text(f"? {self.unit}/s", style="progress.data.speed")
        return Text(f"{speed:,.0f} {self.unit}/s", style="progress.data.speed")


def progress_enabled() -> bool:
    chosen = settings().progress
    return stderr_is_terminal() if chosen is None else chosen


@contextmanager
def progress(description: str, total: int | None, unit: str = "records", *, by_bytes: bool = False,
             completed: int = 0) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr with the count, the rate and the time left; ``advance(n)`` moves it.

    Off a terminal (or with ``--no-progress``) nothing is drawn and ``advance`` costs one call.
    ``by_bytes``: the bar counts bytes (a file being read) and shows a byte rate.
    """
    if not progress_enabled():
        yield _no_progress
        return
    columns: list[ProgressColumn | str] = [TextColumn("[bold]{task.description}"), BarColumn()]
    if by_bytes:
        columns += [TaskProgressColumn(), TransferSpeedColumn()]
    else:
        columns += [MofNCompleteColumn(), TaskProgressColumn(), RateColumn(unit)]
    columns += [TextColumn("eta"), TimeRemainingColumn(), TimeElapsedColumn()]
    console = Console(file=sys.stderr, force_terminal=True if settings().progress else None)
    with Progress(*columns, console=console, transient=False, refresh_per_second=8) as bar:
        task = bar.add_task(description, total=total, completed=completed)

        def advance(n: int) -> None:
            bar.advance(task, n)

        yield advance
        done = bar.tasks[0].completed
        if done and total != done:
            # The total was the server's count before the walk: records written meanwhile move the end.
            bar.update(task, total=done)


def _no_progress(n: int) -> None:
    pass

