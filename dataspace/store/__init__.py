"""The control-plane store: SQL tables, migrations, transactions, the outbox and the ledger.

This is an adapter: the domain packages never import it. Callers open a transaction with
:class:`Database`, change rows, and in the same transaction :func:`outbox.enqueue` the event and
:func:`ledger_store.append` the evidence, so all three are committed together or not at all.
"""

from dataspace.store.db import Database, migrate

__all__ = ["Database", "migrate"]
