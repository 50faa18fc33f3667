"""One module per schema revision; never edit one that has been released, add a new one.

To draft the next revision, change the models, then compare them with a database migrated to
the current head::

    from alembic import command
    from dataspace.store.db import Database, alembic_config, migrate
    migrate("sqlite:////tmp/draft.db")
    with Database("sqlite:////tmp/draft.db").engine.begin() as connection:
        command.revision(alembic_config(connection), message="...", autogenerate=True)

Review the draft by hand (use plain ``sa.DateTime(timezone=True)``, not application types),
then run the contract tests: they check that the migrated schema equals the models.
"""
