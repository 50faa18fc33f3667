import json
import struct
from pathlib import Path
from types import MappingProxyType

import pytest

from dataspace.canonical import canonical_json, format_number, sha256_hex
from dataspace.errors import InvalidInput
from dataspace.ledger.chain import compute_entry_hash
from dataspace.ledger.export import entry_from_json


def test_rfc8785_section_3_2_2_example() -> None:
    source = (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        r'"string": "\u20ac$\u000F\u000aA'
        "'"
        r'\u0042\u0022\u005c\\\"\/",'
        '"literals": [null, true, false]}'
    )
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonical_json(json.loads(source)) == expected.encode("utf-8")


def test_rfc8785_section_3_2_3_sorting_by_utf16_code_units() -> None:
    source = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    keys = list(json.loads(canonical_json(source)))
    # U+1F600 is the surrogate pair D83D DE00, so it sorts before U+FB33 (code-point order
    # would put it last).
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


# RFC 8785 Appendix B: IEEE 754 bit patterns and their canonical text.
APPENDIX_B = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


@pytest.mark.parametrize(("bits", "text"), APPENDIX_B)
def test_rfc8785_appendix_b_numbers(bits: str, text: str) -> None:
    value = struct.unpack(">d", bytes.fromhex(bits))[0]
    assert format_number(value) == text
    assert canonical_json([value]) == f"[{text}]".encode()


@pytest.mark.parametrize("bits", ["7fffffffffffffff", "7ff0000000000000", "fff0000000000000"])
def test_nan_and_infinity_are_refused(bits: str) -> None:
    value = struct.unpack(">d", bytes.fromhex(bits))[0]
    with pytest.raises(InvalidInput, match="not allowed in JSON"):
        canonical_json({"x": value})


def test_integers_are_exact_up_to_2_53_minus_1_and_refused_beyond() -> None:
    # Where rfc8785 (used since issue 18) and the earlier in-house code differ: the earlier code
    # printed integers that a double holds exactly (2**53, 10**21) as doubles; rfc8785 refuses
    # every integer outside JavaScript's safe range, as I-JSON (RFC 7493) advises. No signed
    # document the ledger holds had one.
    assert canonical_json([0, -1, 2**53 - 1, -(2**53 - 1)]) == (
        b"[0,-1,9007199254740991,-9007199254740991]"
    )
    for too_large in (2**53, -(2**53), 10**21, 2**53 + 1, 10**400):
        with pytest.raises(InvalidInput, match="cannot be represented exactly"):
            canonical_json(too_large)
    # The same magnitudes as doubles are doubles already, and printed as RFC 8785 says.
    assert canonical_json([float(2**53), 1e21]) == b"[9007199254740992,1e+21]"


def test_only_dicts_lists_and_tuples_are_containers() -> None:
    # The other difference: the earlier code took any Mapping or Sequence.
    with pytest.raises(InvalidInput, match="not JSON"):
        canonical_json(MappingProxyType({"a": 1}))
    assert canonical_json(dict(MappingProxyType({"a": 1}))) == b'{"a":1}'


def test_lone_surrogate_keys_and_deep_nesting_are_refused_in_one_sentence() -> None:
    with pytest.raises(InvalidInput, match="surrogate"):
        canonical_json({"\ud800": 1})
    deep: list[object] = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(InvalidInput, match="nested too deeply"):
        canonical_json(deep)


LEDGER_ENTRIES = Path(__file__).parents[1] / "vectors" / "jcs" / "ledger_entries.jsonl"


@pytest.mark.parametrize(
    "line", LEDGER_ENTRIES.read_text(encoding="utf-8").splitlines(), ids=lambda line: line[:40]
)
def test_ledger_entries_sealed_by_the_earlier_code_hash_the_same(line: str) -> None:
    # Entries written by the in-house canonicalisation (one of each action, from a demo run):
    # their stored hash is over its bytes, so rfc8785 must give the very same bytes.
    entry = entry_from_json(json.loads(line))
    assert compute_entry_hash(entry) == entry.entry_hash


def test_control_characters_use_lowercase_unicode_escapes_and_others_stay_literal() -> None:
    assert canonical_json("\x00\x1f\x7f/é中") == '"\\u0000\\u001f\x7f/é中"'.encode()


def test_non_json_values_are_refused() -> None:
    for bad in ({1: "a"}, {"a": {1, 2}}, b"bytes", object()):
        with pytest.raises(InvalidInput):
            canonical_json(bad)


def test_lone_surrogate_is_refused() -> None:
    with pytest.raises(InvalidInput, match="surrogate"):
        canonical_json("\ud800")


def test_tuples_are_arrays_and_nesting_is_sorted() -> None:
    assert canonical_json({"b": (1, {"d": 1, "c": 2}), "a": None}) == (
        b'{"a":null,"b":[1,{"c":2,"d":1}]}'
    )


def test_sha256_hex() -> None:
    assert sha256_hex(b"abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
