"""The wheel a user installs: `dataspace` is its only package, and it finds its own files.

Built with `pip wheel --no-deps .` from this checkout, installed without dependencies into a
fresh virtual environment, and imported from a directory with no checkout on the path.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from dataspace.resources import data_root

pytestmark = pytest.mark.e2e

BASE_PYTHON = Path(sys.base_prefix) / "bin" / "python3"
SOURCE_FILES = ("pyproject.toml", "README.md")
SOURCE_DIRS = ("dataspace", "schemas", "expectations", "config", "dags")
BUILD_LEFTOVERS = shutil.ignore_patterns("__pycache__", "*.egg-info")
INSTALLED_FILES = ("schemas/events", "schemas/products", "expectations", "config", "dags")
PROBE = """
import json, sys
import dataspace, dataspace.resources as resources
root = resources.data_root()
print(json.dumps({
    "package": dataspace.__file__,
    "root": str(root),
    "files": {name: sorted(p.name for p in (root / name).iterdir()) for name in sys.argv[1:]},
}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    has_pip = [BASE_PYTHON, "-m", "pip", "--version"]
    if subprocess.run(has_pip, check=False, capture_output=True).returncode:
        pytest.skip(f"{BASE_PYTHON} has no pip to build the wheel with")
    out = tmp_path_factory.mktemp("wheel")
    # A copy of what the project is built from: an in-tree build would leave build/ behind.
    source = tmp_path_factory.mktemp("source")
    for name in SOURCE_FILES:
        shutil.copy2(data_root() / name, source / name)
    for name in SOURCE_DIRS:
        shutil.copytree(data_root() / name, source / name, ignore=BUILD_LEFTOVERS)
    subprocess.run(
        [BASE_PYTHON, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", out, source],
        check=True, timeout=300, cwd=out,
    )  # fmt: skip
    [built] = out.glob("dataspace-*.whl")
    return built


def test_the_wheel_holds_no_top_level_package_but_dataspace(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    tops = {name.split("/")[0] for name in names}
    packages = {top for top in tops if not top.endswith((".dist-info", ".data"))}
    assert packages == {"dataspace"}
    assert "dataspace/policy/profile.jsonld" in names  # connectors publish it (package data)
    shared = [n.split("/share/dataspace/", 1)[1] for n in names if "/share/dataspace/" in n]
    for folder in INSTALLED_FILES:
        assert any(name.startswith(folder + "/") for name in shared), folder


def test_an_installed_wheel_imports_and_finds_its_files_without_a_checkout(
    wheel: Path, tmp_path: Path
) -> None:
    env = tmp_path / "venv"
    subprocess.run([BASE_PYTHON, "-m", "venv", env], check=True, timeout=120)
    pip = [env / "bin" / "python", "-m", "pip", "install", "--no-deps", "--quiet", wheel]
    subprocess.run(pip, check=True, timeout=300)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    # -I: no PYTHONPATH, no user site, no current directory on the path.
    probe = [env / "bin" / "python", "-I", "-c", PROBE, *INSTALLED_FILES]
    ran = subprocess.run(
        probe, check=False, cwd=elsewhere, capture_output=True, text=True, timeout=60
    )

    assert ran.returncode == 0, ran.stderr
    found = json.loads(ran.stdout)
    assert Path(found["package"]).is_relative_to(env)
    assert Path(found["root"]) == env / "share" / "dataspace"
    assert "delivery_announced.avsc" in found["files"]["schemas/events"]
    assert "purchase_orders.avsc" in found["files"]["schemas/products"]
    assert "purchase_orders.json" in found["files"]["expectations"]
    assert "data_spaces.toml" in found["files"]["config"]
    assert "settlement.py" in found["files"]["dags"]
