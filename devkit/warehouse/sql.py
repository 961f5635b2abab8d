"""Just enough SQL lexing to route an HTTP request the way ClickHouse does.

The engine parses every statement itself; this module only answers what the
HTTP layer must know before handing a statement over: where the inline data
of ``INSERT ... FORMAT X`` / ``INSERT ... VALUES`` begins (the engine takes
that data through a separate streaming call), which output format a query
names, whether it returns rows, and whether the text holds more than one
statement (ClickHouse rejects multi-statements over HTTP; embedded chDB
would run them all).

Work happens on bytes so offsets are byte offsets into the request body and
binary insert data is never decoded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

_SPACE = re.compile(rb"[ \t\n\r\f\v]+")
_WORD = re.compile(rb"[A-Za-z_\x80-\xff][A-Za-z0-9_$\x80-\xff]*")
_NUMBER = re.compile(rb"[0-9][0-9A-Za-z_.]*")
_HEREDOC = re.compile(rb"\$([A-Za-z0-9_]*)\$")
_QUOTES = {ord("'"): b"'", ord('"'): b'"', ord("`"): b"`"}

# Statements whose result is a row set; everything else (DDL, SET, INSERT...)
# answers with an empty body and no X-ClickHouse-Format header.
ROW_KINDS = frozenset(
    {"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "EXISTS", "CHECK", "FROM"}
)
# What a GET request may run: ClickHouse treats GET as readonly.
READ_KINDS = ROW_KINDS - {"CHECK"} | {"USE", "SET"}


@dataclass(frozen=True)
class Token:
    kind: str  # "word", "number", "string", "ident", "punct"
    start: int
    end: int
    text: bytes

    @property
    def keyword(self) -> str:
        return self.text.decode("latin-1").upper() if self.kind == "word" else ""


class SqlError(ValueError):
    """Text the HTTP layer refuses before the engine sees it."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def tokens(text: bytes, start: int = 0) -> Iterator[Token]:
    """Significant tokens: whitespace and comments are skipped."""
    pos, end = start, len(text)
    while pos < end:
        char = text[pos]
        if match := _SPACE.match(text, pos):
            pos = match.end()
            continue
        two = text[pos : pos + 2]
        if two == b"--" or (char == ord("#") and two in (b"# ", b"#!")):
            newline = text.find(b"\n", pos)
            pos = end if newline < 0 else newline + 1
            continue
        if two == b"/*":
            pos = _skip_block_comment(text, pos)
            continue
        if char in _QUOTES:
            stop = _skip_quoted(text, pos, _QUOTES[char])
            yield Token("string" if char == ord("'") else "ident", pos, stop, text[pos:stop])
            pos = stop
            continue
        if char == ord("$") and (match := _HEREDOC.match(text, pos)):
            closing = text.find(match.group(0), match.end())
            stop = end if closing < 0 else closing + len(match.group(0))
            yield Token("string", pos, stop, text[pos:stop])
            pos = stop
            continue
        for kind, pattern in (("word", _WORD), ("number", _NUMBER)):
            if match := pattern.match(text, pos):
                yield Token(kind, pos, match.end(), match.group(0))
                pos = match.end()
                break
        else:
            yield Token("punct", pos, pos + 1, text[pos : pos + 1])
            pos += 1


def _skip_block_comment(text: bytes, pos: int) -> int:
    # ClickHouse nests block comments, so /* /* */ */ is one comment.
    depth, pos = 0, pos
    while pos < len(text):
        two = text[pos : pos + 2]
        if two == b"/*":
            depth, pos = depth + 1, pos + 2
        elif two == b"*/":
            depth, pos = depth - 1, pos + 2
            if depth == 0:
                return pos
        else:
            pos += 1
    return len(text)


def _skip_quoted(text: bytes, pos: int, quote: bytes) -> int:
    pos += 1
    while pos < len(text):
        char = text[pos : pos + 1]
        if char == b"\\":
            pos += 2
        elif char == quote:
            if text[pos + 1 : pos + 2] == quote:  # a doubled quote escapes itself
                pos += 2
            else:
                return pos + 1
        else:
            pos += 1
    return len(text)  # unterminated: the engine reports the syntax error


@dataclass(frozen=True)
class Statement:
    """One request's statement, split the way the engine wants it."""

    kind: str  # first keyword, upper case ("" for an empty text)
    query: bytes  # what the engine runs; without inline data for data inserts
    output_format: str | None = None  # FORMAT clause of a non-insert
    insert_format: str | None = None  # set when the statement carries insert data
    data_start: int = -1  # offset of the inline insert data in the original text

    @property
    def returns_rows(self) -> bool:
        return self.kind in ROW_KINDS

    @property
    def is_data_insert(self) -> bool:
        return self.insert_format is not None


def analyze(text: bytes) -> Statement:
    """Classify a request's SQL text (query parameter + body, as ClickHouse joins them)."""
    stream = tokens(text)
    first = next(stream, None)
    while first is not None and first.text == b"(":
        first = next(stream, None)
    if first is None:
        raise SqlError(62, "Empty query")
    kind = first.keyword
    if kind == "INSERT":
        return _analyze_insert(text)
    _reject_multi_and_files(text)
    return Statement(kind=kind, query=text, output_format=_output_format(text))


def _reject_multi_and_files(text: bytes) -> None:
    depth, seen_semicolon = 0, False
    previous: Token | None = None
    for token in tokens(text):
        if seen_semicolon and token.text != b";":
            raise SqlError(62, "Syntax error: Multi-statements are not allowed")
        if token.text in (b"(", b"["):
            depth += 1
        elif token.text in (b")", b"]"):
            depth -= 1
        elif token.text == b";" and depth <= 0:
            seen_semicolon = True
        elif previous is not None and (previous.keyword, token.keyword) in _CLIENT_FILE_CLAUSES:
            raise SqlError(
                48, f"{previous.keyword} {token.keyword} reads or writes files on the client "
                "side in ClickHouse; it is not served over HTTP",
            )
        previous = token


_CLIENT_FILE_CLAUSES = {("INTO", "OUTFILE"), ("FROM", "INFILE")}


def _output_format(text: bytes) -> str | None:
    """The last top-level ``FORMAT name`` clause, if any."""
    found: str | None = None
    depth = 0
    window: list[Token] = []
    for token in tokens(text):
        if token.text == b"(":
            depth += 1
        elif token.text == b")":
            depth -= 1
        window = (window + [token])[-3:]
        if depth == 0 and len(window) >= 2 and window[-2].keyword == "FORMAT":
            before = window[-3] if len(window) == 3 else None
            if token.kind in ("word", "ident") and (before is None or before.keyword != "AS"):
                found = _unquote(token.text)
    return found


def _unquote(name: bytes) -> str:
    if name[:1] in (b'"', b"`") and name[-1:] == name[:1]:
        name = name[1:-1]
    return name.decode("utf-8", "replace")


def _analyze_insert(text: bytes) -> Statement:
    """Find where an INSERT's inline data begins.

    Only top-level tokens matter; the column list and function arguments sit
    inside parentheses. The first of FORMAT/VALUES/SELECT/WITH/FROM decides.
    """
    depth = 0
    previous: Token | None = None
    stream = tokens(text)
    for token in stream:
        after, previous = previous, token
        if token.text == b"(":
            depth += 1
            continue
        if token.text == b")":
            depth -= 1
            continue
        if depth:
            continue
        keyword = token.keyword
        if after is not None and (after.keyword in _NAME_BEFORE or after.text == b"."):
            continue  # a table named `format` or `values`, not the clause
        if keyword == "VALUES":
            # The Values format reads straight after the keyword.
            return Statement("INSERT", text[: token.start], insert_format="Values",
                             data_start=token.end)
        if keyword == "FORMAT":
            name = next(stream, None)
            if name is None or name.kind not in ("word", "ident"):
                break
            return Statement("INSERT", text[: token.start], insert_format=_unquote(name.text),
                             data_start=_data_start(text, name.end))
        if keyword in ("SELECT", "WITH", "FROM") or (keyword == "" and token.text == b";"):
            break
    _reject_multi_and_files(text)
    return Statement("INSERT", text)


_NAME_BEFORE = frozenset({"INTO", "TABLE", "FUNCTION"})


def _data_start(text: bytes, pos: int) -> int:
    # ClickHouse: data starts after the first newline if the whitespace after
    # the format name holds one, otherwise after all the whitespace.
    while pos < len(text) and text[pos : pos + 1] in b" \t\r\f\v":
        pos += 1
    if text[pos : pos + 1] == b"\n":
        pos += 1
    return pos
