"""The 123+ configuration, freshness by cadence, and report HTML that escapes what it shows."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dataspace.errors import InvalidInput
from dataspace.operations import html
from dataspace.operations.data_spaces import load_data_spaces
from dataspace.operations.freshness import freshness
from dataspace.resources import data_spaces_file

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
SPACE = """
[[space]]
id = "{id}"
name = "数据空间"
tier = "{tier}"
city = "南京"
chain = "textiles"
since = 2026
"""
HEAD = "target_year = 2028\n[targets]\nbenchmark = 10\nprovincial_sample = 20\nregional = 30\n"


def spaces_file(tmp_path: Path, *entries: tuple[str, str]) -> Path:
    path = tmp_path / "spaces.toml"
    text = HEAD + "".join(SPACE.format(id=i, tier=t) for i, t in entries)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_repository_configuration_is_valid_and_counts_by_year() -> None:
    spaces = load_data_spaces(data_spaces_file())

    assert spaces.targets == {"benchmark": 10, "provincial_sample": 20, "regional": 30}
    assert sum(spaces.counts(2028).values()) == len(spaces.spaces)
    assert sum(spaces.counts(2025).values()) < len(spaces.spaces)


@pytest.mark.parametrize(
    ("entries", "sentence"),
    [
        ((("a", "benchmark"), ("a", "regional")), "the data space 'a' is listed twice"),
        ((("a", "national"),), "has tier 'national'; use one of benchmark"),
        ((("A b", "regional"),), "The data-space id 'A b' is not valid"),
    ],
)
def test_a_wrong_configuration_is_one_sentence(
    tmp_path: Path, entries: tuple[tuple[str, str], ...], sentence: str
) -> None:
    with pytest.raises(InvalidInput, match=re.escape(sentence)):
        load_data_spaces(spaces_file(tmp_path, *entries))


def test_freshness_follows_the_cadence_with_its_tolerance() -> None:
    weekly = freshness("weekly", NOW - timedelta(days=10), NOW, has_release=True)
    late = freshness("weekly", NOW - timedelta(days=11), NOW, has_release=True)
    irregular = freshness("irregular", NOW - timedelta(days=900), NOW, has_release=True)

    assert (weekly.fresh, weekly.limit_hours) == (True, 252.0)
    assert (late.fresh, late.age_hours) == (False, 264.0)
    assert irregular.fresh
    assert late.describe() == "newest release 264.0 h ago; weekly allows 252 h"


def test_report_html_escapes_names_and_draws_one_bar_per_value() -> None:
    hostile = '<script>alert("x")</script>'

    page = html.page(hostile, [html.table(("name",), [(hostile,)]), html.bar_chart(
        hostile, [(hostile, 3.0), ("b", 1.0)], targets=[4.0, None]
    )]).decode()  # fmt: skip

    assert "<script>" not in page
    assert page.count("&lt;script&gt;") >= 3
    assert page.count("<rect") == 2
    assert page.count("<line") == 1  # one target tick
