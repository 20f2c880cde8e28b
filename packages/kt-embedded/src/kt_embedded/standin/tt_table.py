"""The table database (``x.tct``) of the Tokyo Tyrant stand-in: columns, indexes and queries.

A record is a primary key and an ordered ``{column: value}`` mapping. On the wire a whole record
is the NUL-joined ``col, val, col, val ...`` (plain put/get); misc ``put`` takes ``pk, col, val``
args. Queries (misc ``search`` / ``metasearch``) follow tctdb's semantics as checked against the
real ttserver 1.1.41: condition operators, ``~`` negation, ``+`` no-index, orders, limits, and
the ``hint`` text. Indexes never change which records match; they change the result order the
way the real index does (value order) and the hint's plan lines.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Callable, Optional

from .tt_db import TCEINVALID, TCEKEEP, TCENOREC, Database, Result, _compile_regex, tc_atof, tc_atoi

__all__ = ["TableDB", "Query", "parse_query", "cond_op", "order_type", "index_type", "COND_OPS", "ORDER_TYPES"]

# Condition operators (tctdb.h), with the names tctdbqrystrtocondop accepts.
STREQ, STRINC, STRBW, STREW, STRAND, STROR, STROREQ, STRRX = range(8)
NUMEQ, NUMGT, NUMGE, NUMLT, NUMLE, NUMBT, NUMOREQ = range(8, 15)
FTSPH, FTSAND, FTSOR, FTSEX = range(15, 19)
QCNEGATE = 1 << 24
QCNOIDX = 1 << 25
COND_OPS = {
    "STREQ": STREQ, "STRINC": STRINC, "STRBW": STRBW, "STREW": STREW, "STRAND": STRAND, "STROR": STROR,
    "STROREQ": STROREQ, "STRRX": STRRX, "NUMEQ": NUMEQ, "NUMGT": NUMGT, "NUMGE": NUMGE, "NUMLT": NUMLT,
    "NUMLE": NUMLE, "NUMBT": NUMBT, "NUMOREQ": NUMOREQ, "FTSPH": FTSPH, "FTSAND": FTSAND, "FTSOR": FTSOR,
    "FTSEX": FTSEX,
}
_OP_ALIASES = {"STR": STREQ, "EQ": STREQ, "INC": STRINC, "BW": STRBW, "EW": STREW, "AND": STRAND, "OR": STROR,
               "OREQ": STROREQ, "RX": STRRX, "NUM": NUMEQ, "=": NUMEQ, "GT": NUMGT, ">": NUMGT, "GE": NUMGE,
               ">=": NUMGE, "LT": NUMLT, "<": NUMLT, "LE": NUMLE, "<=": NUMLE, "BT": NUMBT, "FTS": FTSPH}
OP_NAMES = {v: k for k, v in COND_OPS.items()}

STRASC, STRDESC, NUMASC, NUMDESC = range(4)
ORDER_TYPES = {"STRASC": STRASC, "STRDESC": STRDESC, "NUMASC": NUMASC, "NUMDESC": NUMDESC}
_ORDER_ALIASES = {"STR": STRASC, "ASC": STRASC, "DESC": STRDESC, "NUM": NUMASC}

IT_LEXICAL, IT_DECIMAL, IT_TOKEN, IT_QGRAM = 0, 1, 2, 3
IT_OPT, IT_VOID = 9998, 9999
IT_KEEP = 1 << 24
_INDEX_TYPES = {"LEXICAL": IT_LEXICAL, "LEX": IT_LEXICAL, "DECIMAL": IT_DECIMAL, "DEC": IT_DECIMAL,
                "TOKEN": IT_TOKEN, "TOK": IT_TOKEN, "QGRAM": IT_QGRAM, "QGR": IT_QGRAM, "OPT": IT_OPT,
                "OPTIMIZE": IT_OPT, "VOID": IT_VOID, "REMOVE": IT_VOID}

MS_UNION, MS_ISECT, MS_DIFF = 0, 1, 2
_MS_TYPES = {"UNION": MS_UNION, "OR": MS_UNION, "ISECT": MS_ISECT, "AND": MS_ISECT, "DIFF": MS_DIFF,
             "SUB": MS_DIFF, "MINUS": MS_DIFF}


def _number_or_name(text: bytes, names: dict[str, int], aliases: dict[str, int]) -> int:
    s = text.decode("latin-1").strip().upper()
    if s in names:
        return names[s]
    if s in aliases:
        return aliases[s]
    if re.fullmatch(r"[+-]?[0-9]+", s):
        return int(s)
    return -1


def cond_op(text: bytes) -> int:
    """tctdbqrystrtocondop: a name (``~`` negates, ``+`` skips indexes) or a number; -1 if unknown."""
    flags = 0
    if text[:1] in (b"~", b"!"):
        flags |= QCNEGATE
        text = text[1:]
    if text[:1] == b"+":
        flags |= QCNOIDX
        text = text[1:]
    op = _number_or_name(text, COND_OPS, _OP_ALIASES)
    return -1 if op < 0 else op | flags


def order_type(text: bytes) -> int:
    return _number_or_name(text, ORDER_TYPES, _ORDER_ALIASES)


def index_type(text: bytes) -> int:
    flags = 0
    if text[:1] == b"+":
        flags = IT_KEEP
        text = text[1:]
    t = _number_or_name(text, _INDEX_TYPES, {})
    return -1 if t < 0 else t | flags


def mstype(text: bytes) -> int:
    return _number_or_name(text, _MS_TYPES, {})


# -- matching ------------------------------------------------------------------------------

_SEP = re.compile(rb"[\x00-\x20,]+")
_NUM_SEP = re.compile(rb"[ ,]+")
_INDEX_SEP = re.compile(rb"[\t\n\r ,]+")


def _tokens(expr: bytes) -> list[bytes]:
    """Split a STRAND/STROR/STROREQ token list as tctdb does: at any byte <= ' ' and at commas."""
    return [t for t in _SEP.split(expr) if t]


def _num_tokens(expr: bytes, indexed: bool = False) -> list[bytes]:
    """NUMOREQ's numbers: a scan splits at spaces and commas only, a decimal index also at tab, CR, LF."""
    return [t for t in (_INDEX_SEP if indexed else _NUM_SEP).split(expr) if t]


def _num_bounds(expr: bytes) -> tuple[float, float]:
    """NUMBT's bounds as tctdb reads them: the first number, then the text after the next space or
    comma; with no second number the other bound is 0 (so "7" means 0..7)."""
    expr = expr.lstrip(b" ,")
    first = _NUM_SEP.split(expr, 1)
    lo = tc_atof(first[0])
    hi = tc_atof(first[1]) if len(first) > 1 else 0.0
    return (lo, hi) if lo <= hi else (hi, lo)


def _value_tokens(value: bytes) -> list[bytes]:
    # a column value's tokens end at any byte <= ' ' or a comma
    return [t for t in re.split(rb"[\x00-\x20,]+", value) if t]


def _fts_norm(data: bytes) -> str:
    """tcstrutfnorm(space | lower | no accents): the text full-text conditions compare."""
    text = data.decode("utf-8", "replace").lower()
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(text.split())


def _fts_words(expr: bytes) -> list[str]:
    """FTSAND / FTSOR: the expression's words, split at spaces and commas (as the real server does)."""
    return [w for w in (_fts_norm(t) for t in re.split(rb"[\s,]+", expr)) if w]


def _fts_ex(expr: bytes) -> list[list[str]]:
    """FTSEX: AND-ed groups of OR-ed phrases. Words (or "quoted phrases") are AND-ed, ``&&``
    included; ``||`` joins its neighbours into one group, so ``a && b || c`` is ``a AND (b OR c)``
    (as the real server evaluates it)."""
    groups: list[list[str]] = []
    join_next = False
    for m in re.finditer(r'"([^"]*)"|(\S+)', expr.decode("utf-8", "replace")):
        word = m.group(1) if m.group(1) is not None else m.group(2)
        if m.group(1) is None and word == "&&":
            continue
        if m.group(1) is None and word == "||":
            join_next = bool(groups)
            continue
        norm = _fts_norm(word.encode())
        if not norm:
            continue
        if join_next:
            groups[-1].append(norm)
        else:
            groups.append([norm])
        join_next = False
    return groups


class Cond:
    def __init__(self, column: bytes, op: int, expr: bytes) -> None:
        self.column = column
        self.negate = bool(op & QCNEGATE)
        self.noidx = bool(op & QCNOIDX)
        self.by_index = False  # set while a decimal index serves this condition (NUMOREQ splits differently)
        self.op = op & ~(QCNEGATE | QCNOIDX)
        self.expr = expr
        self._regex = _compile_regex(expr) if self.op == STRRX else None
        self._num = tc_atof(expr)

    def matches(self, value: Optional[bytes]) -> bool:
        if value is None:  # a missing column never matches; negated, it always does
            return self.negate
        return self._test(value) != self.negate

    def _test(self, value: bytes) -> bool:
        op, expr = self.op, self.expr
        if op == STREQ:
            return value == expr
        if op == STRINC:
            return expr in value
        if op == STRBW:
            return value.startswith(expr)
        if op == STREW:
            return value.endswith(expr)
        if op == STRAND:
            toks = set(_value_tokens(value))
            return all(t in toks for t in _tokens(expr))
        if op == STROR:
            toks = set(_value_tokens(value))
            return any(t in toks for t in _tokens(expr))
        if op == STROREQ:
            return value in _tokens(expr)
        if op == STRRX:
            return self._regex is not None and self._regex.search(value) is not None
        if NUMEQ <= op <= NUMOREQ:
            num = tc_atof(value)
            if op == NUMEQ:
                return num == self._num
            if op == NUMGT:
                return num > self._num
            if op == NUMGE:
                return num >= self._num
            if op == NUMLT:
                return num < self._num
            if op == NUMLE:
                return num <= self._num
            if op == NUMBT:
                lo, hi = _num_bounds(expr)
                return lo <= num <= hi
            return any(num == tc_atof(t) for t in _num_tokens(expr, self.by_index))
        if FTSPH <= op <= FTSEX:
            text = _fts_norm(value)
            if op == FTSPH:
                return _fts_norm(expr) in text
            words = _fts_words(expr)
            if op == FTSAND:
                return all(w in text for w in words)
            if op == FTSOR:
                return any(w in text for w in words)
            return all(any(p in text for p in group) for group in _fts_ex(expr))
        return False


class Query:
    """One parsed search: conditions, order, limit and the result mode."""

    def __init__(self) -> None:
        self.conds: list[Cond] = []
        self.order: Optional[tuple[bytes, int]] = None
        self.max = -1
        self.skip = 0
        self.mode = "keys"  # keys | get | count | out
        self.columns: Optional[list[bytes]] = None
        self.hint = False


def parse_query(args: list[bytes], query: Optional[Query] = None) -> Query:
    """Apply ttserver's search arguments (``addcond\\0col\\0op\\0expr``, ``setorder``, ...)."""
    q = query or Query()
    for arg in args:
        parts = arg.split(b"\0")
        name = parts[0]
        if name == b"addcond" and len(parts) > 3:
            op = cond_op(parts[2])
            if op >= 0:  # an unknown operator drops the condition, as the real server does
                q.conds.append(Cond(parts[1], op, parts[3]))
        elif name == b"setorder" and len(parts) > 2:
            t = order_type(parts[2])
            if t >= 0:
                q.order = (parts[1], t)
        elif name == b"setlimit" and len(parts) > 1:
            q.max = tc_atoi(parts[1])
            q.skip = tc_atoi(parts[2]) if len(parts) > 2 else 0
        elif name == b"get":
            q.mode = "get"
            q.columns = parts[1:] or None
        elif name == b"out":
            q.mode = "out"
        elif name == b"count":
            q.mode = "count"
        elif name == b"hint":
            q.hint = True
    return q


def _column(pk: bytes, cols: dict[bytes, bytes], name: bytes) -> Optional[bytes]:
    return pk if name == b"" else cols.get(name)


# Which index type serves which operators, and how the real hint names the scan.
_LEX_DIRECT = {STREQ: "asc (STREQ)", STRBW: "asc (STRBW)", STROREQ: "skip (STROREQ)"}
_DEC_DIRECT = {NUMEQ: "asc (NUMEQ)", NUMGT: "asc (NUMGT/NUMGE)", NUMGE: "asc (NUMGT/NUMGE)",
               NUMLT: "desc (NUMLT/NUMLE)", NUMLE: "desc (NUMLT/NUMLE)", NUMBT: "asc (NUMBT)",
               NUMOREQ: "skip (NUMOREQ)"}


class TableDB(Database):
    """``x.tct``: records are ``{column: value}`` maps under a primary key."""

    file_based = True
    type_name = "table"

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self._recs: dict[bytes, dict[bytes, bytes]] = {}
        self.indexes: dict[bytes, int] = {}
        self._uid = 0

    # -- records -------------------------------------------------------------------------
    @staticmethod
    def split_record(raw: bytes) -> dict[bytes, bytes]:
        parts = raw.split(b"\0") if raw else []
        return {parts[i]: parts[i + 1] for i in range(0, len(parts) - 1, 2)}

    @staticmethod
    def join_record(cols: dict[bytes, bytes]) -> bytes:
        return b"\0".join(b for kv in cols.items() for b in kv)

    def put_cols(self, pk: bytes, cols: dict[bytes, bytes], mode: str = "put") -> bool:
        old = self._recs.get(pk)
        if mode == "keep" and old is not None:
            return self._fail(TCEKEEP)
        if mode == "cat" and old is not None:
            merged = dict(old)
            for k, v in cols.items():
                merged.setdefault(k, v)  # putcat keeps the existing columns
            cols = merged
        self._recs[pk] = dict(cols)
        return True

    def get_cols(self, pk: bytes) -> Optional[dict[bytes, bytes]]:
        cols = self._recs.get(pk)
        if cols is None:
            self.ecode = TCENOREC
        return cols

    def put(self, key: bytes, value: bytes) -> bool:
        return self.put_cols(key, self.split_record(value))

    def putkeep(self, key: bytes, value: bytes) -> bool:
        return self.put_cols(key, self.split_record(value), "keep")

    def putcat(self, key: bytes, value: bytes) -> bool:
        return self.put_cols(key, self.split_record(value), "cat")

    def out(self, key: bytes) -> bool:
        if self._recs.pop(key, None) is None:
            return self._fail(TCENOREC)
        return True

    def get(self, key: bytes) -> Optional[bytes]:
        cols = self.get_cols(key)
        return None if cols is None else self.join_record(cols)

    def keys(self) -> list[bytes]:
        return list(self._recs)

    def items(self) -> list[tuple[bytes, bytes]]:
        return [(k, self.join_record(v)) for k, v in self._recs.items()]

    def rnum(self) -> int:
        return len(self._recs)

    def vanish(self) -> bool:
        self._recs.clear()
        self._iter = None
        return True

    def addint(self, key: bytes, num: int) -> Optional[int]:
        # tctdbaddint keeps the number as decimal text in the "_num" column
        cols = self._recs.setdefault(key, {})
        total = tc_atoi(cols.get(b"_num", b"0")) + num
        cols[b"_num"] = str(total).encode()
        return total

    def adddouble(self, key: bytes, num: float) -> Optional[float]:
        cols = self._recs.setdefault(key, {})
        total = tc_atof(cols.get(b"_num", b"0")) + num
        cols[b"_num"] = repr(total).encode()
        return total

    def genuid(self) -> int:
        self._uid += 1
        return self._uid

    # -- misc functions --------------------------------------------------------------------
    def _misc_put(self, args: list[bytes], mode: str) -> Result:
        cols = {args[i]: args[i + 1] for i in range(1, len(args) - 1, 2)}
        return (0 if self.put_cols(args[0], cols, mode) else 1), []

    def misc_put(self, args: list[bytes]) -> Result:
        return self._misc_put(args, "put")

    def misc_putkeep(self, args: list[bytes]) -> Result:
        return self._misc_put(args, "keep")

    def misc_putcat(self, args: list[bytes]) -> Result:
        return self._misc_put(args, "cat")

    def misc_get(self, args: list[bytes]) -> Result:
        cols = self.get_cols(args[0])
        if cols is None:
            return 1, []
        return 0, [b for kv in cols.items() for b in kv]

    def misc_iternext(self, args: list[bytes]) -> Result:
        rec = self.iternext()
        if rec is None:
            return 1, []
        return 0, [rec[0], rec[1]]

    def misc_genuid(self, args: list[bytes]) -> Result:
        return 0, [str(self.genuid()).encode()]

    def misc_setindex(self, args: list[bytes]) -> Result:
        column = args[0]
        itype = index_type(args[1]) if len(args) > 1 else -1
        keep = bool(itype >= 0 and itype & IT_KEEP)
        itype = itype & ~IT_KEEP if itype >= 0 else itype
        if itype in (IT_LEXICAL, IT_DECIMAL, IT_TOKEN, IT_QGRAM):
            if keep and column in self.indexes:
                self._fail(TCEKEEP)
                return 1, []
            self.indexes[column] = itype
            return 0, []
        if itype in (IT_VOID, IT_OPT):
            if column not in self.indexes:
                self._fail(TCENOREC)
                return 1, []
            if itype == IT_VOID:
                del self.indexes[column]
            return 0, []
        self._fail(TCEINVALID)
        return 1, []

    def misc_search(self, args: list[bytes]) -> Result:
        query = parse_query(args)
        pks, hint = self.run_query(query)
        return self._query_result(query, pks, hint)

    def misc_metasearch(self, args: list[bytes]) -> Result:
        queries = [Query()]
        kind = MS_UNION
        for arg in args:
            if arg == b"next":
                queries.append(Query())
            elif arg.startswith(b"mstype\0"):
                kind = mstype(arg[7:])
            else:
                parse_query([arg], queries[-1])
        first = queries[0]
        hints: list[str] = []
        result: list[bytes] = []
        for i, q in enumerate(queries):
            sub = Query()
            sub.conds, sub.order = q.conds, q.order
            pks, hint = self.run_query(sub)
            hints += [f"[{i}] {line}\n" for line in hint.splitlines()]
            if i == 0:
                result = pks
            elif kind == MS_ISECT:
                keep = set(pks)
                result = [pk for pk in result if pk in keep]
            elif kind == MS_DIFF:
                drop = set(pks)
                result = [pk for pk in result if pk not in drop]
            else:
                seen = set(result)
                result += [pk for pk in pks if pk not in seen]
        if first.order is not None:
            result = self._sorted(result, first.order)
        if first.skip > 0 or first.max >= 0:
            result = result[first.skip:] if first.max < 0 else result[first.skip:first.skip + first.max]
        first.mode = next((q.mode for q in queries if q.mode != "keys"), "keys")
        first.columns = next((q.columns for q in queries if q.columns), None)
        first.hint = any(q.hint for q in queries)
        return self._query_result(first, result, "".join(hints))

    def _query_result(self, query: Query, pks: list[bytes], hint: str) -> Result:
        code = 0
        if query.mode == "out":
            for pk in pks:
                if not self.out(pk):
                    code = 1
            out: list[bytes] = []
        elif query.mode == "count":
            out = [str(len(pks)).encode()]
        elif query.mode == "get":
            out = []
            for pk in pks:
                cols = self._recs.get(pk)
                if cols is None:
                    continue
                if query.columns is None:
                    fields = [b"", pk] + [b for kv in cols.items() for b in kv]
                else:
                    fields = []
                    for name in query.columns:
                        value = _column(pk, cols, name)
                        if value is not None:
                            fields += [name, value]
                out.append(b"\0".join(fields))
        else:
            out = list(pks)
        if query.hint:
            out.append(b"\0\0[[HINT]]\n" + hint.encode("utf-8", "replace"))
        return code, out

    # -- the query engine ------------------------------------------------------------------
    def _index_plan(self, query: Query) -> Optional[tuple[Cond, str, Optional[Callable[[bytes], object]]]]:
        """The condition an index serves (first usable), its hint text and the index order key."""
        for cond in query.conds:
            if cond.negate or cond.noidx:
                continue
            itype = self.indexes.get(cond.column)
            if itype == IT_LEXICAL and cond.op <= STRRX:
                return cond, _LEX_DIRECT.get(cond.op, "asc (all)"), lambda v: v
            if itype == IT_DECIMAL and NUMEQ <= cond.op <= NUMOREQ:
                return cond, _DEC_DIRECT[cond.op], tc_atof
            if itype == IT_TOKEN and cond.op in (STRAND, STROR):
                return cond, f"inverted ({OP_NAMES[cond.op]})", None
            if itype == IT_QGRAM and FTSPH <= cond.op <= FTSEX:
                return cond, "inverted (FTS)", None
        return None

    def _token_lines(self, cond: Cond) -> list[str]:
        lines = []
        if cond.op in (STRAND, STROR):
            for tok in sorted(set(_tokens(cond.expr))):
                n = sum(1 for c in self._recs.values() if tok in _value_tokens(c.get(cond.column, b"")))
                lines.append(f'token occurrence: "{tok.decode("utf-8", "replace")}" {n}')
            return lines
        if cond.op == FTSPH:
            words = [_fts_norm(cond.expr)]
        elif cond.op == FTSEX:
            words = [p for g in _fts_ex(cond.expr) for p in g]
        else:
            words = _fts_words(cond.expr)
        for w in words:
            n = sum(1 for c in self._recs.values() if w in _fts_norm(c.get(cond.column, b"")))
            lines.append(f'token occurrence: "{w}" {n}')
        return lines

    def run_query(self, query: Query) -> tuple[list[bytes], str]:
        """Matching primary keys (ordered and limited) and the real server's hint text."""
        hint: list[str] = []
        plan = self._index_plan(query)
        pks = list(self._recs)
        index_desc = False
        for c in query.conds:
            c.by_index = plan is not None and c is plan[0]
        if plan is None:
            hint.append("scanning the whole table")
        else:
            cond, how, key = plan
            hint.append(f'using an index: "{cond.column.decode("utf-8", "replace")}" {how}')
            if how.startswith("inverted"):
                hint += self._token_lines(cond)
            if how == "inverted (FTS)":
                # the q-gram index yields the records of each word in turn, in expression order
                words = [line.split('"')[1] for line in self._token_lines(cond)]
                col = cond.column

                def first_word(pk: bytes) -> int:
                    text = _fts_norm(self._recs[pk].get(col, b""))
                    return next((i for i, w in enumerate(words) if w in text), len(words))

                pks.sort(key=first_word)
            if key is not None:
                index_desc = how.startswith("desc")
                # an index yields its records in value order; ties keep insertion order
                col = cond.column
                pks = sorted((pk for pk in pks if _column(pk, self._recs[pk], col) is not None),
                             key=lambda pk: key(_column(pk, self._recs[pk], col)),  # type: ignore[arg-type,return-value]
                             reverse=index_desc)
                order_kinds = (NUMASC, NUMDESC) if key is tc_atof else (STRASC, STRDESC)
                if query.order is not None and query.order[0] == col and query.order[1] in order_kinds:
                    want_desc = query.order[1] in (NUMDESC, STRDESC)
                    if want_desc == index_desc:
                        index_desc = None  # type: ignore[assignment]  # the index gives the order
                    elif how.startswith("asc (NUMGT"):  # the real index walks NUMGT/NUMGE backwards
                        pks.reverse()
                        hint[-1] = hint[-1].replace("asc (", "desc (")
                        index_desc = None  # type: ignore[assignment]
        limit_scan = query.order is None and query.max >= 0
        wanted = query.skip + query.max if limit_scan else -1
        matched: list[bytes] = []
        for pk in pks:
            cols = self._recs[pk]
            if all(c.matches(_column(pk, cols, c.column)) for c in query.conds):
                matched.append(pk)
                if limit_scan and len(matched) >= wanted:
                    break
        if limit_scan:
            hint.append(f"limited matching: {wanted}")
        hint.append(f"result set size: {len(matched)}")
        if query.order is None:
            hint.append("leaving the natural order")
        elif index_desc is None:
            hint.append("leaving the index order")
        else:
            hint.append(f'sorting the result set: "{query.order[0].decode("utf-8", "replace")}"')
            matched = self._sorted(matched, query.order)
        if query.skip > 0 or query.max >= 0:
            matched = matched[query.skip:] if query.max < 0 else matched[query.skip:query.skip + query.max]
        return matched, "".join(line + "\n" for line in hint)

    def _sorted(self, pks: list[bytes], order: tuple[bytes, int]) -> list[bytes]:
        name, kind = order

        def value(pk: bytes) -> bytes:
            cols = self._recs.get(pk, {})
            v = _column(pk, cols, name)
            return b"" if v is None else v

        if kind in (NUMASC, NUMDESC):
            return sorted(pks, key=lambda pk: tc_atof(value(pk)), reverse=kind == NUMDESC)
        return sorted(pks, key=value, reverse=kind == STRDESC)
