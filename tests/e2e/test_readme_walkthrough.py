"""The README's command blocks, run as written, in order, top to bottom (issue 18).

Every ```sh block is run by one bash (``set -euo pipefail``), so that what a block leaves
(the shell's variables, the state in the working directory, the running stack) is what the
next one finds, as for a reader who types them in one shell. The scratch directory sees the
checkout's tracked files and ``.venv`` as a fresh clone after ``make demo``'s install would.
Only the embedded stack's ports are moved (``DATASPACE_KAFKA_PORT``, ``DATASPACE_S3_PORT``,
``DATASPACE_AIRFLOW_PORT``), so that it does not meet a stack already running on the
defaults; the API ports the blocks name (8700-8702) are the README's own.

A block is left out only when an HTML comment ``<!-- readme-test: skip (why) -->`` stands
right before it, and at most one may be: the one with ``make test`` (which would run this test
inside itself; ``make demo``'s story is tests/e2e/test_demo.py). Every ```toml block is a
configuration file and names its reader the same way (``settlement-rules`` or ``settings``).

The Airflow section runs too, although it is half of this test's time (about 2.2 of 4.5
minutes on an idle two-core machine; 8 minutes when other tests load it): it is the only
check that a reader's shell reaches the stack's Airflow, and the public-data release it shows is
run by the scheduler and waited for (``dataspace application release`` exits non-zero when the
run fails); the DAG's steps in detail are tests/e2e/test_public_data_release.py.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from dataspace.config import load_settings
from dataspace.operations.settlement_rules import load_rules
from dataspace.stack.ports import free_port, free_port_block

pytestmark = pytest.mark.e2e

CHECKOUT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>\w*)\n(?P<body>.*?)^(?P=indent)```$", re.M | re.S)
NOTE = re.compile(r"<!-- readme-test: (?P<kind>[\w-]+)(?: \((?P<why>.*?)\))? -->")
MAX_SKIPPED = 1
RUN_TIMEOUT_S = 840  # the Airflow start alone may take 5 minutes on a busy machine
CLEANUP = (
    "dataspace connector stop --state supplier-02",
    "dataspace connector stop --state xcmg",
    "dataspace hub --state hub stop",
    "dataspace down",
)


@dataclass(frozen=True)
class Block:
    lang: str
    body: str
    line: int
    note: str | None  # the kind of the readme-test comment right before the block
    why: str | None  # and the reason it gives in parentheses


def readme_blocks(text: str) -> list[Block]:
    """Every fenced block of the README in order, dedented, with the note standing before it."""
    blocks, previous_end = [], 0
    for fence in FENCE.finditer(text):
        between = text[previous_end : fence.start()].rstrip()
        note = NOTE.search(between.rsplit("\n", 1)[-1])
        indent = len(fence["indent"])
        body = "".join(line[indent:] for line in fence["body"].splitlines(keepends=True))
        line = text.count("\n", 0, fence.start()) + 1
        kind, why = (note["kind"], note["why"]) if note else (None, None)
        blocks.append(Block(fence["lang"], body, line, kind, why))
        previous_end = fence.end()
    return blocks


BLOCKS = readme_blocks((CHECKOUT / "README.md").read_text(encoding="utf-8"))


def test_at_most_the_make_test_block_is_left_out_and_every_config_names_its_reader() -> None:
    assert {block.lang for block in BLOCKS} <= {"sh", "toml"}, "a block of another kind"
    skipped = [block for block in BLOCKS if block.lang == "sh" and block.note == "skip"]
    assert len(skipped) <= MAX_SKIPPED, [block.line for block in skipped]
    assert all("make test" in block.body and block.why for block in skipped)
    assert sum(block.lang == "sh" and block.note is None for block in BLOCKS) >= 8
    for block in BLOCKS:
        if block.lang == "toml":
            assert block.note in ("settlement-rules", "settings"), f"line {block.line}"


def test_the_configuration_examples_are_read_by_their_readers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [name for name in os.environ if name.startswith("DATASPACE_")]:
        monkeypatch.delenv(name)
    for number, block in enumerate(block for block in BLOCKS if block.lang == "toml"):
        path = tmp_path / f"{number}.toml"
        path.write_text(block.body, encoding="utf-8")
        if block.note == "settlement-rules":
            assert load_rules(path).receipt_grace_days == 5
        else:
            monkeypatch.setenv("DATASPACE_CONFIG", str(path))
            settings = load_settings()
            assert settings.kafka_bootstrap_servers == "kafka-1:9092,kafka-2:9092"
            assert settings.database_url is not None


def walkthrough_script() -> str:
    """The README's runnable blocks as one bash script; each announces itself on stderr."""
    parts = ["set -euo pipefail"]
    for block in BLOCKS:
        if block.lang == "sh" and block.note != "skip":
            parts.append(f"echo '>>> README.md line {block.line}' >&2\n{block.body}")
    return "\n".join(parts) + "\n"


def fresh_clone(directory: Path) -> None:
    """What a clone after `make demo`'s install holds: the tracked files and `.venv`."""
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=CHECKOUT, capture_output=True, check=True
    ).stdout.decode()
    for top in sorted({path.split("/", 1)[0] for path in tracked.split("\0") if path}):
        (directory / top).symlink_to(CHECKOUT / top)
    (directory / ".venv").symlink_to(CHECKOUT / ".venv")


@pytest.mark.timeout(RUN_TIMEOUT_S + 180)
def test_the_readme_runs_as_written(tmp_path: Path) -> None:
    fresh_clone(tmp_path)
    script = tmp_path / "readme.sh"
    script.write_text(walkthrough_script(), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATASPACE_", "AIRFLOW"))}
    env.update(
        DATASPACE_KAFKA_PORT=str(free_port()),
        DATASPACE_S3_PORT=str(free_port_block(4)),
        DATASPACE_AIRFLOW_PORT=str(free_port_block(3)),
        COLUMNS="200",
    )
    began = time.monotonic()
    shell = subprocess.Popen(
        ["bash", str(script)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        out, err = shell.communicate(timeout=RUN_TIMEOUT_S)
    finally:  # whatever happened, leave no process behind
        leave_nothing_running(shell, tmp_path, env)
    print(f"the README ran in {time.monotonic() - began:.0f} s")  # shown with -s: its wall time
    assert shell.returncode == 0, failed_at(err) + out[-3000:] + err[-3000:]

    check_the_walkthrough(tmp_path, out)
    check_development_mode(tmp_path, out)


def leave_nothing_running(
    shell: subprocess.Popen[str], directory: Path, env: dict[str, str]
) -> None:
    if shell.poll() is None:
        shell.kill()
        shell.communicate()
    with_venv = {**env, "PATH": f"{directory / '.venv' / 'bin'}{os.pathsep}{env['PATH']}"}
    for stop in CLEANUP:
        subprocess.run(
            ["bash", "-c", stop], cwd=directory, env=with_venv, capture_output=True,
            check=False, timeout=120,
        )  # fmt: skip
    # A block's own background job (`dataspace serve &`) is in the shell's session.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(shell.pid, signal.SIGKILL)


def failed_at(err: str) -> str:
    announced = [line for line in err.splitlines() if line.startswith(">>> README.md line")]
    return f"failed in the block at {announced[-1][4:]}\n" if announced else ""


def check_the_walkthrough(directory: Path, out: str) -> None:
    landed = list(
        (directory / "supplier-01" / "landed" / "purchase-orders" / "1").glob("*.parquet")
    )
    assert len(landed) == 1
    rows = pq.read_table(landed[0]).to_pylist()
    assert {row["supplier_id"] for row in rows} == {"supplier-01"}  # its own rows only
    over_dsp = list((directory / "supplier-02" / "landed" / "order-lines" / "1").glob("*.parquet"))
    assert {row["supplier_id"] for row in pq.read_table(over_dsp[0]).to_pylist()} == {"supplier-02"}
    assert "The ledger is intact" in out
    assert sorted(p.name for p in (directory / "hub" / "keys").glob("*.pem")) == ["operator.pem"]


def check_development_mode(directory: Path, out: str) -> None:
    landing = directory / ".dataspace" / "landing"
    for supplier in ("supplier-01", "supplier-03"):  # by the agent; by history, joining late
        (landed,) = (landing / supplier / "purchase-orders" / "1").glob("*.parquet")
        assert {row["supplier_id"] for row in pq.read_table(landed).to_pylist()} == {supplier}
    assert re.search(r'"agreement_id":\s*"agr-', out)  # the API answered supplier-01
    assert "public_data_authorized_release" in out  # the run the reader's shell triggered
    assert re.search(r"state\W+success", out)  # ... which the scheduler ran to the end
    assert re.search(r"smallest class\W+\d", out)  # its report, as the licensed operator reads it
    assert list((directory / ".dataspace" / "run").glob("*.pid")) == []  # `dataspace down`
