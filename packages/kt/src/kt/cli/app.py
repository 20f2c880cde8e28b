"""The ``kt`` commands (click). :func:`kt.cli.main` runs them; ``python -m kt`` too."""

from __future__ import annotations

import base64
import binascii
import os
import re
import stat
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any, Callable

import click
from kt_cluster import RebalanceProgress
from kt_cluster import rebalance as rebalance_cluster
from kt_core.errors import KtError, TokyoTyrantError
from kt_tyrant import QueryBuilder
from kt_tyrant import constants as tt_constants

from . import bench as bench_mod
from . import transfer, ui
from .formats import FORMATS, FormatError, guess_format
from .targets import KyotoTarget, Target, TyrantTarget, URLError, open_target
from .ui import OneLineUsageError, OperationError, Settings, settings

SECTIONS = [
    ("Inspect and edit", ["get", "set", "rm", "keys", "count", "status", "report", "script", "query"]),
    ("Move data", ["dump", "load", "copy", "rebalance"]),
    ("Servers", ["bench", "serve"]),
]

TT_ITERATOR_NOTE = (
    "A Tokyo Tyrant server has ONE iterator, shared by every client: a dump or copy from tt:// "
    "walks it, so run one dump or copy per server at a time, and let no other client iterate "
    "(keys()/items(), tcrmgr list, iterinit) meanwhile, or records are silently skipped or "
    "repeated. kt keys on tt:// uses fwmkeys and never touches the iterator."
)


def _describe(exc: BaseException) -> str:
    """One line for an error: the library's own message, or the file and reason for an OS error."""
    if isinstance(exc, OSError) and not isinstance(exc, KtError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    if isinstance(exc, (KtError, FormatError, OSError)):
        return " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {' '.join(str(exc).split())} (run with --debug for the traceback)"


class KtGroup(click.Group):
    """The ``kt`` group: its commands listed in sections, every error on one line (no traceback
    unless ``--debug``), exit code 1 for a failed operation and 2 for a usage error."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for _, names in SECTIONS for name in names if name in self.commands]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        width = max(len(name) for name in self.list_commands(ctx))
        for title, names in SECTIONS:
            # Names padded to the longest of all, so that the sections line up.
            rows = [(name.ljust(width), self.commands[name].get_short_help_str(limit=70)) for name in names
                    if name in self.commands]
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as exc:
            if isinstance(exc, OneLineUsageError):
                raise
            raise OneLineUsageError(exc.format_message(), exc.ctx) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (OneLineUsageError, click.exceptions.NoArgsIsHelpError):
            raise
        except click.UsageError as exc:
            raise OneLineUsageError(exc.format_message(), exc.ctx) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort, BrokenPipeError, KeyboardInterrupt):
            raise
        except Exception as exc:
            found = ctx.find_object(Settings)
            if found is not None and found.debug:
                raise
            raise OperationError(_describe(exc)) from None


def _set_setting(name: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value:
            setattr(ctx.ensure_object(Settings), name, value)
        return value

    return callback


def shared_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--json`` and ``--debug``, accepted after the command's name as well as before it."""
    command = click.option("--debug", is_flag=True, expose_value=False, is_eager=True,
                           callback=_set_setting("debug"),
                           help="Show the full traceback of an error.")(command)
    command = click.option("--json", "json_", is_flag=True, expose_value=False, is_eager=True,
                           callback=_set_setting("json"),
                           help="Print JSON (records: one object a line).")(command)
    return command


def progress_option(command: Callable[..., Any]) -> Callable[..., Any]:
    def callback(ctx: click.Context, param: click.Parameter, value: bool | None) -> bool | None:
        if value is not None:
            ctx.ensure_object(Settings).progress = value
        return value

    return click.option("--progress/--no-progress", default=None, expose_value=False, callback=callback,
                        help="Draw the progress bar (default: only when stderr is a terminal).")(command)


class ServerURL(click.ParamType):
    """A kt:// or tt:// URL, opened as a :class:`Target` (closed when the command ends)."""

    name = "URL"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Target:
        if isinstance(value, Target):
            return value
        found = ctx.find_object(Settings) if ctx is not None else None
        timeout = found.timeout if found is not None else Settings().timeout
        try:
            target = open_target(str(value), timeout)
        except URLError as exc:
            self.fail(str(exc), param, ctx)
        if ctx is not None:
            ctx.call_on_close(target.close)
        return target


URL = ServerURL()


def _key(text: str) -> bytes:
    # click decodes argv with the file-system encoding (surrogateescape): this gives back its bytes.
    return os.fsencode(text)


def _usage(message: str) -> OneLineUsageError:
    return OneLineUsageError(message, click.get_current_context())


@contextmanager
def _resume_hint(what: str, hint: Callable[[], str]) -> Iterator[None]:
    """Errors and Ctrl-C in the middle of a long operation say how far it got and how to go on."""
    try:
        yield
    except KeyboardInterrupt:
        raise OperationError(f"{what} interrupted; {hint()}") from None
    except (OperationError, click.exceptions.Exit):
        raise
    except Exception as exc:
        if settings().debug:
            raise
        raise OperationError(f"{_describe(exc)}; {hint()}") from None


# ------------------------------------------------------------------ the group

def _timeout(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if value < 0:
        raise click.BadParameter("must be 0 (no timeout) or more seconds")
    ctx.ensure_object(Settings).timeout = value or None
    return value


@click.group("kt", cls=KtGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--json", "json_", is_flag=True, expose_value=False, is_eager=True, callback=_set_setting("json"),
              help="Print JSON instead of text (records: one object a line).")
@click.option("--debug", is_flag=True, expose_value=False, is_eager=True, callback=_set_setting("debug"),
              help="Show the full traceback of an error.")
@click.option("--timeout", type=float, default=30.0, show_default=True, callback=_timeout, expose_value=False,
              metavar="SECONDS", help="Give up on a server that does not answer (0: wait forever).")
@click.version_option(package_name="kt", prog_name="kt", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Inspect, move and benchmark data on Kyoto Tycoon and Tokyo Tyrant servers.

    \b
    Servers are URLs:
      kt://host:port/db    Kyoto Tycoon; db is an index (0, 1...) or a name (*, %25 for %, users.kct)
      tt://host:port       Tokyo Tyrant
      kt+cluster://host:port,host:port/db, tt+cluster://host:port,host:port
                           several servers, sharded as kt_cluster places keys
    The host defaults to 127.0.0.1 and the port to 1978; ?timeout=SECONDS may follow.

    \b
    Examples:
      kt get kt://127.0.0.1:1978 user:1
      kt keys kt://cache:1978/1 --prefix user: --limit 20
      kt dump tt://old:1978 -o backup.jsonl
      kt copy tt://old:1978 kt://new:1978/users.kct --verify
      kt bench kt://127.0.0.1:1978

    Output is plain text when stdout is not a terminal (--json for JSON), colour and progress bars
    only on a terminal. Exit codes: 0 success, 1 the operation failed, 2 bad usage.
    """
    ctx.ensure_object(Settings)


# ------------------------------------------------------------------ inspect and edit

@cli.command()
@click.argument("url", type=URL)
@click.argument("key")
@click.option("-n", "--no-newline", is_flag=True, help="Write the value's bytes exactly, no newline after them.")
@shared_options
def get(url: Target, key: str, no_newline: bool) -> None:
    """Print the value of KEY (exit code 1 if there is none).

    The value's bytes are written as they are, then a newline (-n: none); --json gives text or base64.
    """
    raw = _key(key)
    value = url.get(raw)
    if value is None:
        raise OperationError(f"no record for key {key!r} in {url.url}")
    if settings().json:
        ui.write_json(ui.record_json(raw, value))
    else:
        ui.write_bytes(value if no_newline else value + b"\n")


@cli.command("set")
@click.argument("url", type=URL)
@click.argument("key")
@click.argument("value")
@click.option("--expire", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Kyoto Tycoon: the record expires after SECONDS.")
@click.option("--base64", "is_base64", is_flag=True, help="VALUE is base64 (for bytes that are not text).")
@shared_options
def set_(url: Target, key: str, value: str, expire: float | None, is_base64: bool) -> None:
    """Store VALUE at KEY (- reads the value from stdin)."""
    if value == "-":
        data = ui.binary_stdin().read()
    else:
        data = _key(value)
    if is_base64:
        try:
            data = base64.b64decode(data, validate=True)
        except binascii.Error:
            raise _usage("VALUE is not valid base64") from None
    if expire is not None and not isinstance(url, KyotoTarget):
        raise _usage("--expire: Tokyo Tyrant keeps no expiry times")
    if isinstance(url, KyotoTarget):
        url.client.set(_key(key), data, expire_time=expire)
    elif not url.client.set(_key(key), data):
        raise OperationError(f"{url.url} refused the write")
    if settings().json:
        ui.write_json(ui.record_json(_key(key), stored=True, bytes=len(data)))


@cli.command()
@click.argument("url", type=URL)
@click.argument("keys", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="Keys that do not exist are no error.")
@shared_options
def rm(url: Target, keys: Sequence[str], force: bool) -> None:
    """Remove KEYS and print how many were removed.

    Exit code 1 if one of them did not exist, unless --force.
    """
    raw = list(dict.fromkeys(_key(k) for k in keys))
    removed = url.remove(raw)
    if settings().json:
        ui.write_json({"removed": removed, "missing": len(raw) - removed})
    else:
        ui.write_line(str(removed))
    if removed < len(raw) and not force:
        raise OperationError(f"{len(raw) - removed} of {len(raw)} keys had no record (--force: no error)")


@cli.command()
@click.argument("url", type=URL)
@click.option("--prefix", help="Only keys starting with PREFIX.")
@click.option("--regex", help="Only keys matching the regular expression (the server's dialect).")
@click.option("--limit", type=click.IntRange(min=0), metavar="N", help="At most N keys.")
@shared_options
def keys(url: Target, prefix: str | None, regex: str | None, limit: int | None) -> None:
    """List keys, one a line.

    Bytes that are not text show as \\B + base64, tabs and newlines escaped as in a TSV dump.

    Without a filter, Kyoto Tycoon streams them with a cursor walk; Tokyo Tyrant's list comes
    from fwmkeys (no shared iterator) in one reply.
    """
    if prefix is not None and regex is not None:
        raise _usage("give --prefix or --regex, not both")
    as_json = settings().json
    for key in url.keys(None if prefix is None else _key(prefix), None if regex is None else _key(regex), limit):
        if as_json:
            ui.write_json(ui.record_json(key))
        else:
            ui.write_line(ui.field(key))


@cli.command()
@click.argument("url", type=URL)
@shared_options
def count(url: Target) -> None:
    """Print the number of records."""
    n = url.count()
    if settings().json:
        ui.write_json({"count": n})
    else:
        ui.write_line(str(n))


def _show_mapping(title: str, fields: dict[Any, Any]) -> None:
    if fields and all(isinstance(v, dict) for v in fields.values()):
        # A cluster answers for each shard: the fields are named "shard/field".
        fields = {f"{shard}/{_text(name)}": value for shard, per in fields.items() for name, value in per.items()}
    shown = ui.field_map(fields)
    if settings().json:
        ui.write_json(shown)
    elif ui.stdout_is_terminal():
        ui.show_table(title, ["field", "value"], list(shown.items()))
    else:
        ui.show_fields(shown)


def _text(name: Any) -> str:
    return name.decode("utf-8", "backslashreplace") if isinstance(name, bytes) else str(name)


@cli.command()
@click.argument("url", type=URL)
@shared_options
def status(url: Target) -> None:
    """Show the database's status (count, size, path...)."""
    _show_mapping(f"status of {url.url}", url.client.status())


@cli.command()
@click.argument("url", type=URL)
@shared_options
def report(url: Target) -> None:
    """Show the server's report (Tokyo Tyrant: its stat, all it has)."""
    fields = url.client.report() if isinstance(url, KyotoTarget) else url.client.status()
    _show_mapping(f"report of {url.url}", fields)


@cli.command()
@click.argument("url", type=URL)
@click.argument("name")
@click.argument("params", nargs=-1, metavar="[NAME=VALUE]...")
@click.option("--lock-records", is_flag=True, help="Tokyo Tyrant: lock the record while the function runs.")
@click.option("--lock-all", is_flag=True, help="Tokyo Tyrant: lock the database while the function runs.")
@shared_options
def script(url: Target, name: str, params: Sequence[str], lock_records: bool, lock_all: bool) -> None:
    """Run the server's Lua function NAME with NAME=VALUE inputs.

    Kyoto Tycoon passes every NAME=VALUE as a record and prints the function's output records.
    Tokyo Tyrant functions take key=K and value=V and print their result.
    """
    records: dict[bytes, bytes] = {}
    for param in params:
        field_name, sep, value = param.partition("=")
        if not sep or not field_name:
            raise _usage(f"{param!r} is not NAME=VALUE")
        records[_key(field_name)] = _key(value)
    as_json = settings().json
    if isinstance(url, KyotoTarget):
        if lock_records or lock_all:
            raise _usage("--lock-records/--lock-all are Tokyo Tyrant options")
        out = url.client.script(name, records, encode_values=False)
        if as_json:
            ui.write_json(ui.field_map(out))
        else:
            for key, value in out.items():
                ui.write_line(f"{ui.field(key)}\t{ui.field(value)}")
        return
    unknown = set(records) - {b"key", b"value"}
    if unknown:
        raise _usage(f"Tokyo Tyrant functions take key= and value= only, not {sorted(unknown)[0].decode()}=")
    result = url.client.script(name, records.get(b"key"), records.get(b"value"), lock_records=lock_records,
                               lock_all=lock_all, encode_value=False)
    if as_json:
        ui.write_json(ui.field_map({"result": result}))
    else:
        ui.write_bytes(result + b"\n")


# query: the operators a condition on the command line may use, longest first so ">=" wins over ">".
_CONDITION = re.compile(r"^(?P<column>[^=!<>^$*~]+)(?P<op>!=|>=|<=|==|\^=|\$=|\*=|~=|=|>|<)(?P<value>.*)$", re.S)
_SHORT_OPS = {
    "=": tt_constants.OP_STR_EQ, "!=": tt_constants.OP_STR_EQ | tt_constants.OP_NEGATE,
    "^=": tt_constants.OP_STR_STARTSWITH, "$=": tt_constants.OP_STR_ENDSWITH,
    "*=": tt_constants.OP_STR_CONTAINS, "~=": tt_constants.OP_STR_REGEX,
    "==": tt_constants.OP_NUM_EQ, ">": tt_constants.OP_NUM_GT, ">=": tt_constants.OP_NUM_GE,
    "<": tt_constants.OP_NUM_LT, "<=": tt_constants.OP_NUM_LE,
}
_NAMED_OPS = {name[3:].lower(): getattr(tt_constants, name) for name in tt_constants.__all__
              if name.startswith("OP_") and name not in ("OP_NEGATE", "OP_NOINDEX")}
_LIST_OPS = {tt_constants.OP_STR_ALL, tt_constants.OP_STR_ANY, tt_constants.OP_STR_ANYEXACT,
             tt_constants.OP_NUM_BETWEEN, tt_constants.OP_NUM_ANYEXACT, tt_constants.OP_FTS_ALL,
             tt_constants.OP_FTS_ANY}
_ORDERS = {"asc": tt_constants.ORDER_STR_ASC, "str": tt_constants.ORDER_STR_ASC,
           "desc": tt_constants.ORDER_STR_DESC, "strdesc": tt_constants.ORDER_STR_DESC,
           "num": tt_constants.ORDER_NUM_ASC, "numasc": tt_constants.ORDER_NUM_ASC,
           "numdesc": tt_constants.ORDER_NUM_DESC}


def _named_op(name: str) -> int:
    negate = name.startswith("not_")
    op = _NAMED_OPS.get(name[4:] if negate else name)
    if op is None:
        raise _usage(f"unknown operator {name!r} (one of {', '.join(sorted(_NAMED_OPS))}; not_ before one negates)")
    return op | tt_constants.OP_NEGATE if negate else op


def _condition_value(op: int, value: str) -> Any:
    # The token and range operators take lists: on the command line, comma-separated.
    return value.split(",") if op & ~(tt_constants.OP_NEGATE | tt_constants.OP_NOINDEX) in _LIST_OPS else value


@cli.command(epilog="Examples:  kt query tt://h:1978 'age>=30' 'name^=a' --order age:num --limit 10\n\n"
                    "           kt query tt://h:1978 --where tags str_any red,blue --count")
@click.argument("url", type=URL)
@click.argument("conditions", nargs=-1, metavar="[CONDITION]...")
@click.option("-w", "--where", "wheres", multiple=True, type=(str, str, str), metavar="COLUMN OP VALUE",
              help="A condition with any operator by name: str_eq, num_between (VALUE 10,20), fts_phrase... "
                   "(not_str_eq negates).")
@click.option("--order", metavar="COLUMN[:asc|desc|num|numdesc]", help="Order by a column.")
@click.option("--limit", type=click.IntRange(min=0), metavar="N", help="At most N records.")
@click.option("--offset", type=click.IntRange(min=0), metavar="N", help="Skip the first N records.")
@click.option("--count", "only_count", is_flag=True, help="Print the number of matching records only.")
@click.option("--keys", "only_keys", is_flag=True, help="Print the matching keys only.")
@shared_options
def query(url: Target, conditions: Sequence[str], wheres: Sequence[tuple[str, str, str]], order: str | None,
          limit: int | None, offset: int | None, only_count: bool, only_keys: bool) -> None:
    """Search a Tokyo Tyrant table database (.tct).

    \b
    CONDITION is COLUMN OP VALUE with no spaces:
      =  != (string equal, not equal)   ^=  $=  *= (starts with, ends with, contains)
      ~= (regular expression)           == > >= < <= (numbers)
    Records print as KEY<TAB>COLUMN<TAB>VALUE..., or --json: one {"key", "value": {columns}} a line.
    """
    if not isinstance(url, TyrantTarget):
        raise _usage("query searches Tokyo Tyrant table databases: give a tt:// URL")
    if only_count and only_keys:
        raise _usage("give --count or --keys, not both")
    builder = QueryBuilder()
    for condition in conditions:
        match = _CONDITION.match(condition)
        if match is None:
            raise _usage(f"{condition!r} is not COLUMN OP VALUE (e.g. age>=30, name=alice)")
        op = _SHORT_OPS[match["op"]]
        builder = builder.filter(match["column"], op, _condition_value(op, match["value"]))
    for column, name, value in wheres:
        op = _named_op(name.lower())
        builder = builder.filter(column, op, _condition_value(op, value))
    if order is not None:
        column, _, kind = order.partition(":")
        if kind.lower() not in ("", *_ORDERS):
            raise _usage(f"--order {order!r}: the order is one of {', '.join(_ORDERS)}")
        builder = builder.order_by(column, _ORDERS.get(kind.lower(), tt_constants.ORDER_STR_ASC))
    if limit is not None:
        builder = builder.limit(limit)
    if offset is not None:
        builder = builder.offset(offset)
    table = url.table_client()
    as_json = settings().json
    try:
        if only_count:
            n = builder.count(table)
            if as_json:
                ui.write_json({"count": n})
            else:
                ui.write_line(str(n))
        elif only_keys:
            for key in builder.execute(table):
                raw = _bytes(key)
                if as_json:
                    ui.write_json(ui.record_json(raw))
                else:
                    ui.write_line(ui.field(raw))
        else:
            for key, columns in builder.get(table):
                raw = _bytes(key)
                if as_json:
                    ui.write_json({**ui.record_json(raw), "value": ui.field_map(columns)})
                else:
                    cells = [ui.field(raw)]
                    for name, value in columns.items():
                        cells += [ui.field(_bytes(name)), ui.field(_bytes(value))]
                    ui.write_line("\t".join(cells))
    except TokyoTyrantError as exc:
        raise OperationError(f"{_describe(exc)} (is {url.url} a table database, .tct?)") from None
    finally:
        table.close()


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("utf-8")


# ------------------------------------------------------------------ move data

def _batch_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--batch", type=click.IntRange(min=1), metavar="N", default=transfer.DEFAULT_BATCH,
                        show_default=True, help="Records a write (one set_bulk).")(command)


def _sample_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--sample", type=click.IntRange(min=1), metavar="N", default=transfer.DEFAULT_SAMPLE,
                        show_default=True, help="Records --verify reads back and compares.")(command)


def _verification(result: transfer.Verification) -> None:
    if not result.ok:
        raise OperationError("verification failed: " + "; ".join(result.problems))


@cli.command(epilog=TT_ITERATOR_NOTE)
@click.argument("url", type=URL)
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), default="-", show_default=True,
              help="The file to write (- is stdout). It appears once complete: FILE.part until then.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="jsonl or tsv (default: from the file name, "
              ".tsv is TSV; else JSON Lines).")
@progress_option
@shared_options
def dump(url: Target, output: str, fmt: str | None) -> None:
    """Write every record to a JSON Lines or TSV file.

    Records stream from the server to the file: memory holds a few of them at a time.

    \b
    JSON Lines: {"key": "k", "value": "v"}, key_b64/value_b64 for bytes that are not UTF-8.
    TSV: KEY<TAB>VALUE with \\\\ \\t \\n \\r escaped, and \\B + base64 for bytes that are not UTF-8.
    Kyoto Tycoon expiry times are not kept. The bar's total is the server's count.
    """
    fmt = fmt or guess_format(output)
    total = url.count() if ui.progress_enabled() else None
    started = time.monotonic()
    with ui.progress(f"dump {url.url}", total) as advance:
        if output == "-":
            written = transfer.dump(url, ui.binary_stdout(), fmt, advance)
        else:
            part = output + ".part"
            try:
                with open(part, "wb", buffering=1 << 18) as out:
                    written = transfer.dump(url, out, fmt, advance)
            except BaseException:
                # A dump cut short is no dump: leave no file that looks like one.
                _unlink_quietly(part)
                raise
            os.replace(part, output)
    summary = {"records": written, "output": output, "format": fmt, "seconds": round(time.monotonic() - started, 3)}
    if output == "-":
        # stdout holds the records: a summary there would corrupt them.
        ui.note(f"dumped {written} records")
    elif settings().json:
        ui.write_json(summary)
    else:
        ui.note(f"dumped {written} records to {output}")


@cli.command()
@click.argument("url", type=URL)
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True), default="-")
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="jsonl or tsv (default: from the file name).")
@_batch_option
@click.option("--verify", is_flag=True, help="Afterwards, compare the count and a sample of records.")
@_sample_option
@progress_option
@shared_options
def load(url: Target, file: str, fmt: str | None, batch: int, verify: bool, sample: int) -> None:
    """Write the records of a dump file to URL.

    FILE is a dump of kt dump (- or none: stdin), written in batches (one set_bulk each).

    Existing records with the same keys are overwritten. The bar follows the file's bytes.
    """
    fmt = fmt or guess_format(file)
    started = time.monotonic()
    stream: IO[bytes]
    with _open_input(file) as stream:
        total = _size_of(stream)
        name = "stdin" if file == "-" else file
        with _resume_hint("load", lambda: "records already written stay; load again to finish"):
            with ui.progress(f"load {url.url}", total, by_bytes=True) as advance:
                result = transfer.load(url, stream, fmt, name, batch, sample if verify else 0, advance)
    summary: dict[str, Any] = {"records": result.records, "seconds": round(time.monotonic() - started, 3)}
    checked = transfer.verify_load(url, result) if verify else None
    if checked is not None:
        summary["verify"] = checked.as_json()
    if settings().json:
        ui.write_json(summary)
    else:
        ui.write_line(f"loaded {result.records} records into {url.url}")
        if checked is not None and checked.ok:
            ui.write_line(f"verified: {checked.dest_count} records there, {checked.sampled} sampled records equal")
    if checked is not None:
        _verification(checked)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


@contextmanager
def _open_input(file: str) -> Iterator[IO[bytes]]:
    if file == "-":
        yield ui.binary_stdin()
    else:
        with open(file, "rb", buffering=1 << 18) as f:
            yield f


def _size_of(stream: IO[bytes]) -> int | None:
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):  # a test runner's stdin has no descriptor
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


@cli.command(epilog=TT_ITERATOR_NOTE)
@click.argument("source", type=URL)
@click.argument("dest", type=URL)
@_batch_option
@click.option("--resume", is_flag=True, help="Go on after the last batch the checkpoint says was copied.")
@click.option("--checkpoint", type=click.Path(dir_okay=False), metavar="FILE",
              help="Where the copy notes its progress (default: .kt-copy-<hash>.json here, one per pair).")
@click.option("--verify", is_flag=True, help="Afterwards, compare the counts and a sample of records.")
@_sample_option
@progress_option
@shared_options
def copy(source: Target, dest: Target, batch: int, resume: bool, checkpoint: str | None, verify: bool,
         sample: int) -> None:
    """Copy every record from SOURCE to DEST, resumably.

    KT->KT, TT->TT, TT->KT and KT->TT.

    Records are read in the source's order and written in batches (set_bulk); existing keys in
    DEST are overwritten. After each stored batch the checkpoint file notes the last key copied,
    so a copy that was stopped (Ctrl-C, a kill, a lost server) goes on with --resume: nothing is
    lost, and a batch written again overwrites itself. A resumed Kyoto Tycoon walk reads (without
    writing) the records before the checkpoint; Tokyo Tyrant's iterator starts at its key.
    Resuming assumes nobody wrote the source meanwhile (nor read Kyoto Tycoon's cache database *,
    whose order follows its reads): --verify checks.
    """
    if source.identity == dest.identity:
        raise _usage("SOURCE and DEST are the same database")
    path = checkpoint or transfer.default_checkpoint(source, dest)
    state = transfer.Checkpoint.load(path) if resume else None
    if state is not None and (state.source, state.dest) != (source.url, dest.url):
        raise OperationError(f"the checkpoint {path} is for copying {state.source} to {state.dest}: "
                             "give its --checkpoint, or copy without --resume")
    if resume and state is None:
        ui.note(f"no checkpoint at {path}: copying from the start")
    if state is None:
        state = transfer.Checkpoint(path, source.url, dest.url)
        state.save()
    started = time.monotonic()
    copied_before = state.copied
    result: transfer.CopyResult | None = None
    if state.done:
        ui.note(f"{path}: the copy was complete ({state.copied} records); nothing to do")
    else:
        if state.copied:
            ui.note(f"resuming after {state.copied} records (checkpoint {path})")
        total = source.count() if ui.progress_enabled() else None

        def hint() -> str:
            return (f"{state.copied} records copied so far; go on with: kt copy {source.url} {dest.url} --resume"
                    + (f" --checkpoint {path}" if checkpoint else " (from this directory: the checkpoint is here)"))

        with _resume_hint("copy", hint):
            with ui.progress(f"copy {source.url} -> {dest.url}", total, completed=state.copied) as advance:
                result = transfer.copy(source, dest, state, batch, sample if verify else 0, advance)
    summary: dict[str, Any] = {
        "copied": 0 if result is None else result.copied, "total": state.copied, "resumed_from": copied_before,
        "checkpoint": path, "seconds": round(time.monotonic() - started, 3)}
    checked = None
    if verify:
        sample_records = result.sample if result is not None else []
        checked = transfer.verify_copy(source, dest, sample_records)
        summary["verify"] = checked.as_json()
    if settings().json:
        ui.write_json(summary)
    else:
        ui.write_line(f"copied {summary['copied']} records from {source.url} to {dest.url}"
                      + (f" (resumed after {copied_before})" if copied_before else ""))
        if checked is not None and checked.ok:
            ui.write_line(f"verified: {checked.dest_count} records on both sides, "
                          f"{checked.sampled} sampled records equal")
    if checked is not None:
        _verification(checked)


REBALANCE_NOTE = ("Tokyo Tyrant: the walk of each old shard uses its server's one shared iterator (see kt copy); "
                  "run one rebalance at a time and let no other client iterate meanwhile.")


@cli.command(epilog=REBALANCE_NOTE)
@click.argument("old", type=URL)
@click.argument("new", type=URL)
@_batch_option
@click.option("--resume", is_flag=True, help="Skip the old shards the checkpoint says were finished.")
@click.option("--checkpoint", type=click.Path(dir_okay=False), metavar="FILE",
              help="Where the rebalance notes the shards it finished (default: .kt-rebalance-<hash>.json here).")
@progress_option
@shared_options
def rebalance(old: Target, new: Target, batch: int, resume: bool, checkpoint: str | None) -> None:
    """Move the keys whose shard changed from the OLD cluster's nodes to the NEW cluster's.

    OLD and NEW are kt+cluster:// (or tt+cluster://) URLs: the list of nodes before and after
    adding or removing servers. Every old shard is walked; a key that NEW places on another shard
    is copied there (as raw bytes), unless the key is already there (written through NEW since:
    it wins), then removed from the old shard. It runs online: send writes to NEW first, and let
    reads that miss fall back to OLD until it is done.

    Resumable: a moved key is no longer on its old shard, so running it again moves only what is
    left; --resume also skips the old shards the checkpoint says were finished.
    """
    kinds = {old.kind, new.kind}
    if not kinds <= {"kt+cluster", "tt+cluster"} or len(kinds) != 1:
        raise _usage("OLD and NEW must both be kt+cluster:// or both tt+cluster:// URLs (the nodes before and after)")
    if old.identity == new.identity:
        raise _usage("OLD and NEW are the same nodes: nothing would move")
    path = checkpoint or transfer.default_checkpoint(old, new).replace(".kt-copy-", ".kt-rebalance-")
    if not resume and os.path.exists(path):
        os.remove(path)  # a fresh run walks every shard (what was moved is not moved twice anyway)
    elif resume and not os.path.exists(path):
        ui.note(f"no checkpoint at {path}: walking every old shard")
    started = time.monotonic()
    total = old.count() if ui.progress_enabled() else None
    last: list[RebalanceProgress | None] = [None]

    def hint() -> str:
        report = last[0]
        done = f"{report.moved} keys moved so far, shards finished: {report.done_shards or 'none'}; " if report else ""
        return (f"{done}go on with: kt rebalance {old.url} {new.url} --resume"
                + (f" --checkpoint {path}" if checkpoint else " (from this directory: the checkpoint is here)"))

    with _resume_hint("rebalance", hint):
        with ui.progress(f"rebalance {old.url} -> {new.url}", total) as advance:
            seen = [0]

            def on_progress(report: RebalanceProgress) -> None:
                last[0] = report
                advance(report.scanned - seen[0])
                seen[0] = report.scanned

            report = rebalance_cluster(old.client, new.client, batch=batch, progress=on_progress, checkpoint=path)
    summary = {"moved": report.moved, "scanned": report.scanned, "skipped": report.skipped,
               "done_shards": report.done_shards, "checkpoint": path,
               "seconds": round(time.monotonic() - started, 3)}
    if settings().json:
        ui.write_json(summary)
    else:
        ui.write_line(f"moved {report.moved} of {report.scanned} keys scanned"
                      + (f" ({report.skipped} already on their new shard, kept)" if report.skipped else ""))


# ------------------------------------------------------------------ servers

@cli.command(name="bench")
@click.argument("url", type=URL)
@click.option("-n", "--requests", type=click.IntRange(min=1), metavar="N", default=2000, show_default=True,
              help="Records each operation writes or reads.")
@click.option("--size", type=click.IntRange(min=0), metavar="N", default=100, show_default=True,
              help="Value size in bytes.")
@click.option("--batch", type=click.IntRange(min=1), metavar="N", default=100, show_default=True,
              help="Records per set_bulk/get_bulk.")
@progress_option
@shared_options
def bench_command(url: Target, requests: int, size: int, batch: int) -> None:
    """Measure latency and throughput (set, get, bulk, remove).

    The records go under a key prefix of the run's own (kt-bench:...) and are removed afterwards.
    """
    with ui.progress(f"bench {url.url}", bench_mod.total_steps(requests, batch), unit="requests") as advance:
        rows = bench_mod.bench(url, requests, size, batch, advance)
    if settings().json:
        ui.write_json({"url": url.url, "value_size": size, "operations": [row.as_json() for row in rows]})
        return
    table = []
    for row in rows:
        shown = row.as_json()
        table.append([row.operation, row.requests, f"{shown['records_per_second']:,.0f}",
                      f"{shown['p50_ms']:.3f}", f"{shown['p99_ms']:.3f}", f"{shown['max_ms']:.3f}"])
    ui.show_table(f"{url.url}: {requests} records of {size} bytes",
                  ["operation", "requests", "records/s", "p50 ms", "p99 ms", "max ms"], table, right=(1, 2, 3, 4, 5))


@cli.command()
@click.option("--standin", type=click.Choice(["kt", "tt"]), required=True,
              help="Which stand-in: kt (Kyoto Tycoon) or tt (Tokyo Tyrant).")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), metavar="N", default=1978, show_default=True)
@click.option("--script", type=click.Path(exists=True, dir_okay=False),
              help="A Python script of the stand-in's functions (kt: -scr, tt: -ext).")
@click.argument("databases", nargs=-1, metavar="[DATABASE]...")
@shared_options
def serve(standin: str, host: str, port: int, script: str | None, databases: Sequence[str]) -> None:
    """Run a stand-in server in the foreground, until Ctrl-C.

    The stand-ins are kt's in-memory imitations of ktserver 0.9.56 and ttserver 1.1.41, for
    tests and trials, not for production. DATABASE: kt *, % or a file name (several allowed);
    tt *, +, or a name ending .tch, .tcb or .tct (one).
    """
    if standin == "tt" and len(databases) > 1:
        raise _usage("a Tokyo Tyrant server serves one database")
    argv = ["-host", host, "-port", str(port)]
    if script is not None:
        argv += ["-scr" if standin == "kt" else "-ext", script]
    argv += list(databases)
    if standin == "kt":
        from kt_embedded.standin import kyoto as server
    else:
        from kt_embedded.standin import tyrant as server  # type: ignore[no-redef]
    ui.note(f"stand-in {standin} server on {host}:{port}; Ctrl-C stops it")
    try:
        code = server.main(argv)
    except KeyboardInterrupt:
        code = 0
    if code:
        raise OperationError(f"the {standin} stand-in could not start (exit code {code})")


def run(args: Sequence[str] | None = None) -> int:
    """Run the command line (``sys.argv`` by default) and return its exit code."""
    try:
        # click's standalone mode prints errors, turns Ctrl-C into "Aborted!" and a closed pipe
        # (kt keys ... | head) into a quiet exit.
        cli.main(args=list(args) if args is not None else None, prog_name="kt", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


__all__ = ["cli", "run"]
