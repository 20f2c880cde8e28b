"""Index, query-condition and ordering constants of Tokyo Tyrant's table database.

The values are those of Tokyo Cabinet's ``tctdb.h`` (``TDBIT*``, ``TDBQC*``, ``TDBQO*``), which
Tokyo Tyrant's ``tcrdb.h`` re-exports as ``RDBIT*``, ``RDBQC*``, ``RDBQO*``; they travel to the
server as decimal text inside misc ``setindex``/``search`` arguments.
"""

from __future__ import annotations

__all__ = [
    "INDEX_STR",
    "INDEX_NUM",
    "INDEX_TOKEN",
    "INDEX_QGRAM",
    "INDEX_OPTIMIZE",
    "INDEX_VOID",
    "INDEX_KEEP",
    "OP_STR_EQ",
    "OP_STR_CONTAINS",
    "OP_STR_STARTSWITH",
    "OP_STR_ENDSWITH",
    "OP_STR_ALL",
    "OP_STR_ANY",
    "OP_STR_ANYEXACT",
    "OP_STR_REGEX",
    "OP_NUM_EQ",
    "OP_NUM_GT",
    "OP_NUM_GE",
    "OP_NUM_LT",
    "OP_NUM_LE",
    "OP_NUM_BETWEEN",
    "OP_NUM_ANYEXACT",
    "OP_FTS_PHRASE",
    "OP_FTS_ALL",
    "OP_FTS_ANY",
    "OP_FTS_EXPRESSION",
    "OP_NEGATE",
    "OP_NOINDEX",
    "ORDER_STR_ASC",
    "ORDER_STR_DESC",
    "ORDER_NUM_ASC",
    "ORDER_NUM_DESC",
]

# Index types (TDBITLEXICAL .. TDBITQGRAM).
INDEX_STR = 0  # lexical string
INDEX_NUM = 1  # decimal string
INDEX_TOKEN = 2  # token inverted index
INDEX_QGRAM = 3  # q-gram inverted index
# Index operations used by optimize_index / delete_index / set_index(check_exists=True).
INDEX_OPTIMIZE = 9998  # TDBITOPT
INDEX_VOID = 9999  # TDBITVOID: remove the index
INDEX_KEEP = 1 << 24  # TDBITKEEP: fail if the index exists

# Query conditions (TDBQCSTREQ .. TDBQCFTSEX).
OP_STR_EQ = 0  # string is equal to
OP_STR_CONTAINS = 1  # string is included in
OP_STR_STARTSWITH = 2  # string begins with
OP_STR_ENDSWITH = 3  # string ends with
OP_STR_ALL = 4  # string includes all tokens in
OP_STR_ANY = 5  # string includes at least one token in
OP_STR_ANYEXACT = 6  # string is equal to at least one token in
OP_STR_REGEX = 7  # string matches the regular expression
OP_NUM_EQ = 8  # number is equal to
OP_NUM_GT = 9  # number is greater than
OP_NUM_GE = 10  # number is greater than or equal to
OP_NUM_LT = 11  # number is less than
OP_NUM_LE = 12  # number is less than or equal to
OP_NUM_BETWEEN = 13  # number is between two tokens of
OP_NUM_ANYEXACT = 14  # number is equal to at least one token in
OP_FTS_PHRASE = 15  # full-text search with the phrase
OP_FTS_ALL = 16  # full-text search with all tokens in
OP_FTS_ANY = 17  # full-text search with at least one token in
OP_FTS_EXPRESSION = 18  # full-text search with the compound expression
OP_NEGATE = 1 << 24  # TDBQCNEGATE: bitwise-or to negate a condition
OP_NOINDEX = 1 << 25  # TDBQCNOIDX: bitwise-or to keep the server from using an index

# Result orderings (TDBQOSTRASC .. TDBQONUMDESC).
ORDER_STR_ASC = 0
ORDER_STR_DESC = 1
ORDER_NUM_ASC = 2
ORDER_NUM_DESC = 3

# Conditions whose expression is a list of tokens (the server splits at space, comma, tab, CR, LF).
MULTI_TOKEN_OPS = frozenset({OP_STR_ALL, OP_STR_ANY, OP_STR_ANYEXACT, OP_NUM_BETWEEN, OP_NUM_ANYEXACT,
                             OP_FTS_ALL, OP_FTS_ANY})
NUMERIC_OPS = frozenset({OP_NUM_EQ, OP_NUM_GT, OP_NUM_GE, OP_NUM_LT, OP_NUM_LE, OP_NUM_BETWEEN, OP_NUM_ANYEXACT})
ALL_OPS = frozenset(range(OP_STR_EQ, OP_FTS_EXPRESSION + 1))
INDEX_TYPES = frozenset({INDEX_STR, INDEX_NUM, INDEX_TOKEN, INDEX_QGRAM})
ORDERS = frozenset({ORDER_STR_ASC, ORDER_STR_DESC, ORDER_NUM_ASC, ORDER_NUM_DESC})
