"""Fixtures live in tests/fixtures/, one module per kind of real service."""

pytest_plugins = [
    "tests.fixtures.stack",
    "tests.fixtures.databases",
    "tests.fixtures.controlplane",
    "tests.fixtures.airflow",
    "tests.reliability.plugin",
]
