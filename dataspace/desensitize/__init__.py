"""Desensitization of public data before release: rules, per-batch transforms, k-anonymity.

The core reads without adapters: input and output are Arrow record batches and Parquet files
on the local disk; the pseudonym key is passed in (it comes from the node's key store).
"""
