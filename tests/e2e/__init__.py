"""End-to-end tests: the CLI, the demo, the DAGs and the installed wheel, as a user runs them."""
