"""Every DAG in dags/ imports cleanly, states how it runs, and is cheap to parse.

The DAG processor parses dags/ every few seconds: an import error hides a DAG, and a heavy
import (Great Expectations, pyarrow, pandas) at parse time slows every parse of every file.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dataspace.resources import data_root
from tests.fixtures.airflow import AirflowHome

pytestmark = pytest.mark.e2e

DAGS_FOLDER = data_root() / "dags"
DAG_FILES = sorted(p for p in DAGS_FOLDER.glob("*.py") if not p.name.startswith("_"))
# Modules a DAG file must not pull in when it is parsed: tasks import them when they run.
HEAVY_MODULES = ("great_expectations", "pyarrow", "pandas", "fastavro", "minio", "boto3")
DEFAULT_OWNER = "airflow"  # what Airflow fills in when a DAG names no owner


def _dag_calls(path: Path) -> list[ast.Call]:
    """The ``@dag(...)`` / ``DAG(...)`` calls in a DAG file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    return [
        call
        for call in calls
        if (isinstance(call.func, ast.Name) and call.func.id in ("dag", "DAG"))
        or (isinstance(call.func, ast.Attribute) and call.func.attr in ("dag", "DAG"))
    ]


def test_dags_folder_holds_dags() -> None:
    assert DAG_FILES, f"no DAG files in {DAGS_FOLDER}"
    for path in DAG_FILES:
        assert _dag_calls(path), f"{path.name} defines no DAG"


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_states_catchup_tags_and_default_args_explicitly(path: Path) -> None:
    for call in _dag_calls(path):
        given = {keyword.arg for keyword in call.keywords}
        missing = {"catchup", "tags", "default_args", "schedule"} - given
        assert not missing, f"{path.name}: the DAG does not set {sorted(missing)}"


def test_every_dag_imports_and_has_owner_retries_tags(airflow_home: AirflowHome) -> None:
    from airflow.dag_processing.dagbag import DagBag  # noqa: PLC0415 (after airflow_home)

    bag = DagBag(str(airflow_home.dags_folder))
    assert bag.import_errors == {}
    assert bag.dags, "no DAG was loaded"
    files = {Path(dag.fileloc).name for dag in bag.dags.values()}
    assert files == {path.name for path in DAG_FILES}
    for dag_id, dag in bag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.default_args.get("owner", DEFAULT_OWNER) != DEFAULT_OWNER, dag_id
        assert dag.default_args.get("retries", 0) >= 1, f"{dag_id} sets no retries"
        for task in dag.tasks:
            assert task.owner != DEFAULT_OWNER, f"{dag_id}.{task.task_id} has no owner"
            assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"


def _modules_after_import(path: Path, env: dict[str, str]) -> list[str]:
    script = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('dag_under_test', {str(path)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_parsing_a_dag_imports_nothing_heavy(path: Path, airflow_home: AirflowHome) -> None:
    import os  # noqa: PLC0415

    env: dict[str, Any] = {**os.environ, **airflow_home.env}
    loaded = _modules_after_import(path, env)
    heavy = sorted({name.split(".")[0] for name in loaded} & set(HEAVY_MODULES))
    assert heavy == [], f"parsing {path.name} imports {heavy}"


def test_the_incident_dag_watches_the_quarantine_topic() -> None:
    import re  # noqa: PLC0415

    from dataspace.events.registry import ROUTES  # noqa: PLC0415

    text = (DAGS_FOLDER / "quality_incident_on_quarantine.py").read_text(encoding="utf-8")
    match = re.search(r'^QUARANTINED_TOPIC = "([^"]+)"', text, re.MULTILINE)
    assert match is not None
    assert match[1] == ROUTES["ReleaseQuarantined"].topic()
