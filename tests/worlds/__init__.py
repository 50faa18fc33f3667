"""Test worlds: a scenario and its helpers per area (publish, chain, settlement, ...), built on
the shared `dataspace.scenario` through `tests.fixtures.controlplane.Space`."""
