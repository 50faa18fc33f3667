"""GX's chatter about registering renderers, expectations and data sources (some 200 lines at
INFO, thousands at DEBUG, in every task log that runs the quality gate) stays out of the logs,
while a warning or an error of GX still shows."""

from __future__ import annotations

import subprocess
import sys

# A fresh process: GX logs most of it when it is first imported and its first context built.
PROBE = """
import logging, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stdout, format="%(levelname)s %(name)s")
import pandas as pd
from dataspace.quality.gx_runner import runner_for
expectations = [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}}]
runner_for("probe", expectations).run(pd.DataFrame({"a": [1, None]}))
logging.getLogger("great_expectations.probe").warning("a warning of GX")
"""


def test_the_quality_gate_logs_no_gx_registration_lines_but_its_warnings() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300, check=True
    )

    gx_lines = [line for line in done.stdout.splitlines() if "great_expectations" in line]
    assert gx_lines == ["WARNING great_expectations.probe"]
