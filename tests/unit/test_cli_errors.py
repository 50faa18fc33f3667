"""`main` turns the usage errors of whichever click typer runs on into one line and exit 2."""

from __future__ import annotations

from typing import Any

import click
import pytest

from dataspace import cli


def _raising(error: BaseException) -> Any:
    def app(**_kwargs: Any) -> None:
        raise error

    return app


def test_a_usage_error_of_the_click_package_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # typer before it vendored click raised the click package's exceptions (a traceback then).
    context = click.Context(click.Command("list"), info_name="dataspace agreement list")
    monkeypatch.setattr(cli, "app", _raising(click.UsageError("Missing option '--as'.", context)))

    with pytest.raises(SystemExit) as exited:
        cli.main(["agreement", "list"])

    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "Error: Missing option '--as'.",
        "Try 'dataspace agreement list --help' for help.",
    ]


def test_a_click_exception_that_is_no_usage_error_keeps_its_exit_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "app", _raising(click.FileError("x.json", "no such file")))

    with pytest.raises(SystemExit) as exited:
        cli.main(["whatever"])

    assert exited.value.code == 1
    assert capsys.readouterr().err.splitlines() == [
        "Error: Could not open file 'x.json': no such file"
    ]


def test_a_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "app", _raising(ZeroDivisionError("a bug")))

    with pytest.raises(ZeroDivisionError):
        cli.main(["whatever"])
