"""Settlement rules: defaults, overrides from TOML or JSON, one-sentence refusals."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from dataspace.errors import InvalidInput
from dataspace.operations.settlement_rules import load_rules


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_defaults_are_valid_and_split_all_revenue() -> None:
    rules = load_rules()

    assert rules.source == "defaults"
    assert rules.price["general"] == Decimal("50.00")
    for shares in rules.revenue_share.values():
        assert sum(shares.values()) == 1


def test_a_file_changes_only_what_it_names_and_the_fingerprint_follows(tmp_path: Path) -> None:
    toml = write(tmp_path, "rules.toml", "[price]\ngeneral = 80\n")
    same_as_json = write(tmp_path, "rules.json", '{"price": {"general": "80"}}')

    rules = load_rules(toml)

    assert rules.price["general"] == Decimal(80)
    assert rules.price["core"] == load_rules().price["core"]
    assert rules.sha256 == load_rules(same_as_json).sha256 != load_rules().sha256


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        ("[prices]\ngeneral = 1\n", "the setting 'prices' is unknown"),
        ("[price]\ngold = 1\n", "the setting 'price.gold' is unknown"),
        ("[price]\ngeneral = -1\n", "price.general is -1; it must be a number >= 0"),
        ('[service_fee]\nper_delivery = "a lot"\n', "service_fee.per_delivery is 'a lot'"),
        ("[revenue_share.public_data]\nauthority = 0.5\n", "add up to 1.20, not 1"),
        ("[revenue_share.enterprise]\noperator = 1.5\n", "at most 1"),
        ('currency = "yuan"\n', "must be an ISO 4217 code"),
        ("receipt_grace_days = 40\n", "from 0 to 31"),
        ("[membership_fee]\nvisitor = 1\n", "the setting 'membership_fee.visitor' is unknown"),
        ("price = 3\n", "'price' must be a table"),
        ("[price\n", "is not valid TOML"),
    ],
)
def test_a_wrong_rules_file_is_one_sentence(tmp_path: Path, text: str, sentence: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(sentence)) as refused:
        load_rules(write(tmp_path, "rules.toml", text))

    assert "\n" not in str(refused.value)


def test_a_missing_rules_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"missing\.toml cannot be read"):
        load_rules(tmp_path / "missing.toml")
