"""The untrusted-JSON parser: depth, duplicates, encodings, constants, canonical bytes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from services.common.json_input import MAX_JSON_DEPTH, JsonInputError, canonical_json, parse_json


def test_accepts_ordinary_json() -> None:
    assert parse_json(b'{"a": [1, 2, {"b": "x[y{"}], "c": null}') == {
        "a": [1, 2, {"b": "x[y{"}],
        "c": None,
    }


def test_depth_at_the_limit_passes_and_one_more_fails() -> None:
    ok = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert parse_json(ok) is not None
    deeper = "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)
    with pytest.raises(JsonInputError, match="deeper than"):
        parse_json(deeper)


def test_brackets_inside_strings_do_not_count() -> None:
    text = '{"k": "' + "[" * 1000 + '\\"' + "{" * 1000 + '"}'
    assert parse_json(text)["k"].startswith("[[[")


def test_deep_nesting_cannot_crash_a_process_that_imported_web3() -> None:
    # web3 (py_ecc) raises the recursion limit to 100,000; json.loads on this input then dies with
    # SIGSEGV. Through parse_json the same process refuses it and lives.
    code = (
        "import web3, sys\n"
        "from services.common.json_input import parse_json, JsonInputError\n"
        "assert sys.getrecursionlimit() >= 100000, sys.getrecursionlimit()\n"
        "try:\n"
        "    parse_json(b'[' * 200000)\n"
        "except JsonInputError as e:\n"
        "    print('refused:', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "refused: JSON nests deeper than" in out.stdout


def test_duplicate_keys_are_refused() -> None:
    with pytest.raises(JsonInputError, match="key 'a' twice"):
        parse_json(b'{"a": 1, "b": {"c": 2}, "a": 3}')
    with pytest.raises(JsonInputError, match="key 'c' twice"):
        parse_json(b'{"b": {"c": 2, "c": 2}}')


@pytest.mark.parametrize(
    "raw",
    [
        '{"a": 1}'.encode("utf-16"),
        '{"a": 1}'.encode("utf-16-le"),
        b'\xef\xbb\xbf{"a": 1}',
        b'{"a": "\xff"}',
    ],
)
def test_non_utf8_is_refused(raw: bytes) -> None:
    with pytest.raises(JsonInputError, match="UTF-8"):
        parse_json(raw)


@pytest.mark.parametrize("const", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused(const: str) -> None:
    with pytest.raises(JsonInputError, match=const):
        parse_json('{"x": ' + const + "}")


def test_malformed_json_says_where() -> None:
    with pytest.raises(JsonInputError, match="line 2 column"):
        parse_json(b'{"a": 1,\n }')


def test_canonical_bytes_are_sorted_compact_utf8() -> None:
    doc = parse_json('{ "b" : 1 , "a" : ["é", 2.5] }')
    assert canonical_json(doc) == '{"a":["é",2.5],"b":1}'.encode()
    assert canonical_json(parse_json(canonical_json(doc))) == canonical_json(doc)
