"""The reliability suite as a pytest plugin: marker, registration, recording, the table.

- ``@pytest.mark.reliability(area, line)`` puts a test in the suite; the tests listed in
  :mod:`.suite` get the marker here, so ``pytest -m reliability`` (``make reliability``) runs
  the new tests and the older ones that already prove a requirement.
- While a suite test runs, :data:`.record.record` files what it measured under its node id;
  property tests are counted example by example (each call of hypothesis' inner test).
- At the end, if any suite test ran, the table is printed and the results are written to
  ``.reliability/results.json``. Failing or skipped tests are shown as such and never count
  as held; pytest's own exit status is untouched, so a failing test fails ``make``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.record import Measured, record
from tests.reliability.suite import FAULTS, HOSTILE, registered

MARKER = "reliability"
RESULTS = Path(".reliability") / "results.json"
_LINES: dict[str, tuple[str, str]] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        found = registered(item.nodeid)
        if found is not None:
            item.add_marker(pytest.mark.reliability(*found))
        marker = item.get_closest_marker(MARKER)
        if marker is not None:
            area, line = marker.args
            _LINES[item.nodeid] = (str(area), str(line))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    if item.nodeid not in _LINES:
        return (yield)
    record.start(item.nodeid)
    hypothesis = getattr(getattr(item, "obj", None), "hypothesis", None)
    if hypothesis is None:
        return (yield)
    inner = hypothesis.inner_test
    hypothesis.inner_test = _counting(inner, _LINES[item.nodeid][1])
    try:
        return (yield)
    finally:
        hypothesis.inner_test = inner


def _counting(inner: Callable[..., Any], kind: str) -> Callable[..., Any]:
    def counted(*args: Any, **kwargs: Any) -> Any:
        record.hostile(kind)
        return inner(*args, **kwargs)

    return counted


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.nodeid not in _LINES:
        return
    mine = record.tests.setdefault(report.nodeid, Measured(report.nodeid))
    if report.failed:
        mine.outcome = "failed" if report.when == "call" else "error"
    elif report.skipped and mine.outcome == "not run":
        mine.outcome = "skipped"
    elif report.when == "call" and report.passed:
        mine.outcome = "passed"
    if report.when == "call" and _LINES[report.nodeid][0] == HOSTILE and not mine.hostile:
        mine.hostile[_LINES[report.nodeid][1]] += 1  # one parametrized case, one input


def pytest_terminal_summary(terminalreporter: Any) -> None:
    ran = [t for nodeid, t in record.tests.items() if nodeid in _LINES]
    if not ran:
        return
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps([t.to_json() for t in ran], indent=2), encoding="utf-8")
    for line in render(ran):
        terminalreporter.write_line(line)


# -- the table ----------------------------------------------------------------------------------


@dataclass
class _Row:
    area: str
    line: str
    outcomes: list[str] = field(default_factory=list)
    measured: list[str] = field(default_factory=list)
    inputs: int = 0
    due: int = 0
    landed_once: int = 0
    reads: int = 0
    leaked: int = 0

    @property
    def verdict(self) -> str:
        passed = self.outcomes.count("passed")
        text = f"{passed}/{len(self.outcomes)} passed"
        others = sorted({o for o in self.outcomes if o != "passed"})
        return text + (f" ({', '.join(others)})" if others else "")


def render(tests: list[Measured]) -> list[str]:
    rows: dict[tuple[str, str], _Row] = {}
    for test in tests:
        area, line = _LINES[test.nodeid]
        row = rows.setdefault((area, line), _Row(area, line))
        row.outcomes.append(test.outcome)
        row.measured += _measured(test)
        row.inputs += sum(test.hostile.values())
        row.due, row.landed_once = row.due + test.due, row.landed_once + test.landed_once
        row.reads, row.leaked = row.reads + test.reads_attempted, row.leaked + test.reads_succeeded
    body = [(r.area, r.line, r.verdict, _measured_text(r)) for r in rows.values()]
    body.sort(key=lambda r: (_AREA_ORDER.get(r[0], 9), r[0]))
    table = _format(("area", "what", "tests", "measured"), body)
    return ["", "Reliability and security", *table, "", *_totals(tests)]


_AREA_ORDER = {FAULTS: 0, "load": 1, "memory": 2, "security": 3, HOSTILE: 4}


def _measured(test: Measured) -> list[str]:
    return [f"{name} {value:g}{unit}" for _, name, value, unit in test.figures]


def _measured_text(row: _Row) -> str:
    parts = list(dict.fromkeys(row.measured))
    if row.due:
        parts.append(f"{row.landed_once}/{row.due} due deliveries landed exactly once")
    if row.reads:
        parts.append(f"{row.leaked}/{row.reads} unauthorized reads got data")
    if row.inputs:
        parts.append(f"{row.inputs} inputs tried")
    return "; ".join(parts)


def _totals(tests: list[Measured]) -> list[str]:
    def passed(t: Measured) -> bool:
        return t.outcome == "passed"

    fault_tests = [t for t in tests if _LINES[t.nodeid][0] == FAULTS and t.outcome != "skipped"]
    injected = sum(max(len(t.faults), 1) for t in fault_tests)
    survived = sum(max(len(t.faults), 1) for t in fault_tests if passed(t))
    due = sum(t.due for t in tests)
    lost = sum(t.due - t.landed_once for t in tests)
    unknown = [t for t in tests if t.due and not passed(t)]
    attempted = sum(t.reads_attempted for t in tests)
    leaked = sum(t.reads_succeeded for t in tests)
    hostile = sum(sum(t.hostile.values()) for t in tests)
    load = [f for t in tests for f in t.figures if f[0] == "load" and passed(t)]
    rows = [
        ("faults injected / survived", f"{injected} / {survived}"),
        ("load held", "; ".join(f"{n} {v:g}{u}" for _, n, v, u in load) or "not measured"),
        ("hostile inputs tried", str(hostile)),
        ("deliveries due / lost", f"{due} / {lost}" + (" (a test failed)" if unknown else "")),
        ("unauthorized reads (attempted / succeeded)", f"{attempted} / {leaked}"),
        ("suite tests passed", f"{sum(map(passed, tests))} of {len(tests)}"),
    ]
    return _format(("total", "value"), rows)


def _format(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return [line(header), rule, *(line(r) for r in rows)]
