"""The one parser for untrusted JSON: bounded nesting, no duplicate keys, UTF-8 only, canonical bytes out.

Why not plain `json.loads`: importing web3 raises Python's recursion limit to 100,000 (py_ecc does), so
CPython's C decoder recurses on ~100,000 nested `[` until the C stack overflows and the process dies
with SIGSEGV. A request body, a spec in the content store or a reveal must never be able to do that,
so the nesting depth is counted before the decoder sees the text.
"""

from __future__ import annotations

import json
import re
from typing import Any

JsonObject = dict[str, Any]
"""A decoded JSON object. `Any` because its values are whatever JSON the document holds (str,
int, list, nested objects); each reader checks the fields it uses (pydantic, or by hand)."""

MAX_JSON_DEPTH = 32
"""Deepest nesting of arrays and objects accepted anywhere (a task spec needs 3)."""

# Strings are blanked before counting brackets, so a "[" inside a string never counts.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


class JsonInputError(ValueError):
    """Untrusted bytes are not acceptable JSON; the message says what is wrong and where."""


def _check_depth(raw: bytes, max_depth: int) -> None:
    depth = 0
    for m in _BRACKET.finditer(_STRING.sub(b'""', raw)):
        if m.group() in (b"[", b"{"):
            depth += 1
            if depth > max_depth:
                raise JsonInputError(
                    f"JSON nests deeper than {max_depth} levels (at byte {m.start()})"
                )
        else:
            depth -= 1


def _no_duplicates(pairs: list[tuple[str, Any]]) -> JsonObject:  # Any: any JSON value
    doc: JsonObject = {}
    for key, value in pairs:
        if key in doc:
            raise JsonInputError(f"JSON object has the key {key!r} twice")
        doc[key] = value
    return doc


def _no_constant(name: str) -> Any:  # Any: json's parse_constant hook signature
    raise JsonInputError(f"JSON has {name}, which is not a number JSON allows")


def parse_json(data: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:  # Any: a JSON value
    """Parse untrusted JSON text, refusing deep nesting, duplicate keys, NaN/Infinity and non-UTF-8."""
    raw = data.encode("utf-8", errors="surrogatepass") if isinstance(data, str) else bytes(data)
    if raw.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        raise JsonInputError("JSON must be UTF-8 without a byte-order mark")
    if b"\x00" in raw:  # UTF-16/32 text decodes as "UTF-8" full of NULs; JSON never has a raw NUL
        raise JsonInputError("JSON is not UTF-8: it has NUL bytes (UTF-16 or UTF-32 text?)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise JsonInputError(f"JSON is not UTF-8: invalid byte at position {e.start}") from None
    _check_depth(raw, max_depth)
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise JsonInputError(f"not JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except RecursionError:  # cannot happen below max_depth; kept so no path can crash the process
        raise JsonInputError(f"JSON nests deeper than {max_depth} levels") from None


def canonical_json(doc: Any) -> bytes:  # Any: any JSON value
    """Canonical bytes of a JSON value: sorted keys, no spaces, UTF-8. What is stored and hashed."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
