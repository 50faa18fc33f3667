import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dataspace.errors import InvalidInput
from dataspace.ids import (
    agreement_id,
    column_name,
    participant_id,
    product_id,
    validate_slug,
)

SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")
COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


@pytest.mark.parametrize("value", ["a", "0", "demand-forecast", "supplier-07", "a" * 64, "x-1"])
def test_valid_slugs_are_returned_unchanged(value):
    assert product_id(value) == value
    assert participant_id(value) == value
    assert agreement_id(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "-a",
        "a-",
        "A",
        "Demand",
        "a_b",
        "a b",
        "a/b",
        "../etc",
        "..",
        "a\n",
        "a\x00",
        "a" * 65,
        "é",
        "１",
        "a;drop",
        None,
        7,
    ],
)
def test_invalid_slugs_are_rejected_naming_value_and_rule(value):
    with pytest.raises(InvalidInput, match="product id") as info:
        product_id(value)
    assert repr(value) in str(info.value)
    assert "lowercase" in str(info.value)


def test_trailing_newline_is_not_accepted():
    # re.match with `$` would accept "abc\n"; fullmatch must not.
    with pytest.raises(InvalidInput, match=r"'abc\\n'"):
        participant_id("abc\n")


@pytest.mark.parametrize("value", ["a", "_", "supplier_id", "Col9", "x" * 128, "_private"])
def test_valid_column_names(value):
    assert column_name(value) == value


@pytest.mark.parametrize(
    "value", ["", "9col", "a-b", "a b", "a.b", 'a"b', "x" * 129, "ä", "a;--", "a\n"]
)
def test_invalid_column_names(value):
    with pytest.raises(InvalidInput, match="column name"):
        column_name(value)


@given(st.text(max_size=80))
def test_random_text_passes_as_slug_only_if_it_matches_the_rule(text):
    if SLUG.fullmatch(text) and text.isascii():
        assert validate_slug(text) == text
    else:
        with pytest.raises(InvalidInput):
            validate_slug(text)


@given(st.from_regex(SLUG, fullmatch=True))
def test_every_slug_of_the_rule_passes(text):
    assert validate_slug(text) == text
    assert "/" not in text
    assert ".." not in text


@given(st.text(max_size=140))
def test_random_text_passes_as_column_only_if_it_matches_the_rule(text):
    if COLUMN.fullmatch(text) and text.isascii():
        assert column_name(text) == text
    else:
        with pytest.raises(InvalidInput):
            column_name(text)
