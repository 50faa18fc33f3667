"""Adapters to outside technology (Kafka, S3). The domain code never imports these SDKs."""
