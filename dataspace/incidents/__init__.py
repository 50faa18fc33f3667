"""Event-driven incident handling: what the Kafka trigger of the incident DAG runs."""
