import json
import struct

import pytest

from dataspace.canonical import canonical_json, format_number, sha256_hex
from dataspace.errors import InvalidInput


def test_rfc8785_section_3_2_2_example():
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


def test_rfc8785_section_3_2_3_sorting_by_utf16_code_units():
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
def test_rfc8785_appendix_b_numbers(bits, text):
    value = struct.unpack(">d", bytes.fromhex(bits))[0]
    assert format_number(value) == text
    assert canonical_json([value]) == f"[{text}]".encode()


@pytest.mark.parametrize("bits", ["7fffffffffffffff", "7ff0000000000000", "fff0000000000000"])
def test_nan_and_infinity_are_refused(bits):
    value = struct.unpack(">d", bytes.fromhex(bits))[0]
    with pytest.raises(InvalidInput, match="not allowed in JSON"):
        canonical_json({"x": value})


def test_integers_in_double_range_and_beyond():
    assert canonical_json([0, -1, 2**53, 10**21, 10**23 // 10**23 * 10**21]) == (
        b"[0,-1,9007199254740992,1e+21,1e+21]"
    )
    with pytest.raises(InvalidInput, match="cannot be represented exactly"):
        canonical_json(2**53 + 1)
    with pytest.raises(InvalidInput, match="cannot be represented exactly"):
        canonical_json(10**400)


def test_control_characters_use_lowercase_unicode_escapes_and_others_stay_literal():
    assert canonical_json("\x00\x1f\x7f/é中") == '"\\u0000\\u001f\x7f/é中"'.encode()


def test_non_json_values_are_refused():
    for bad in ({1: "a"}, {"a": {1, 2}}, b"bytes", object()):
        with pytest.raises(InvalidInput):
            canonical_json(bad)


def test_lone_surrogate_is_refused():
    with pytest.raises(InvalidInput, match="surrogate"):
        canonical_json("\ud800")


def test_tuples_are_arrays_and_nesting_is_sorted():
    assert canonical_json({"b": (1, {"d": 1, "c": 2}), "a": None}) == (
        b'{"a":null,"b":[1,{"c":2,"d":1}]}'
    )


def test_sha256_hex():
    assert sha256_hex(b"abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
