"""The event plane's building blocks: Avro schemas, the signed envelope, dead letters.

``registry`` and ``envelope`` are pure (fastavro and cryptography only) and safe to import
anywhere, including DAG files and the control plane's outbox writer. ``publisher`` and
``deadletter`` are the Kafka adapters; import them explicitly where Kafka is used.
"""
