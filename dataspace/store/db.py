"""The control-plane database: one engine, one session factory, and the migrations.

``Database(url)`` works the same on SQLite (the embedded default) and PostgreSQL (production):

- ``with db.transaction() as session:`` commits when the block ends and rolls back everything
  when it raises, so a state change and its outbox row are written together or not at all.
- SQLite runs in WAL mode with foreign keys on, and every transaction that may write starts
  with ``BEGIN IMMEDIATE``: it takes the write lock up front, waiting up to the busy timeout,
  instead of failing midway when a reading transaction later tries to write.
- PostgreSQL checks pooled connections before use and waits at most the busy timeout for a
  row lock.
- ``db.transaction(durable=False)`` commits without waiting for the disk (SQLite
  ``synchronous = NORMAL``, PostgreSQL ``synchronous_commit = off``): a power cut may lose the
  newest such commits, never half of one, and never a durable commit made before or after
  it. Only bookkeeping that is safe to redo may use it: the outbox relay's lease and
  sent-marks (a lost mark means the message is published again, which consumers ignore;
  ADR 0013). Business state is always durable.
- ``db.transaction(read_only=True)`` is for reads: on SQLite it starts with ``BEGIN
  DEFERRED`` under ``PRAGMA query_only`` (no write lock is taken, and a write in it fails
  loudly), so readers never queue behind writers; on PostgreSQL it is a plain transaction.
- On SQLite the write transactions of one process take turns on a Python lock, taken when
  the block is entered and before a pooled connection is: a waiting thread is woken the
  moment the lock is free, instead of sleeping in SQLite's busy handler (up to 100 ms a try)
  while holding a connection; other processes still wait in SQLite.
- A database that stays locked becomes :class:`~dataspace.errors.StoreBusy`, a violated
  constraint a :class:`~dataspace.errors.Conflict` (or NotFound / InvalidInput), each with one
  sentence; the driver error is chained as the cause.

The object is thread-safe: every thread opens its own transactions from the shared pool.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from dataspace.closing import Closing
from dataspace.private_paths import create_private_file, private_directory
from dataspace.store.failures import store_busy, translate

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The newest revision in migrations/versions, so that an up-to-date database is recognised
# without loading Alembic (about a second); a unit test keeps it equal to Alembic's head.
HEAD_REVISION = "0009"
DEFAULT_BUSY_TIMEOUT_S = 15.0
# Execution options naming a transaction that need not wait for the disk, or only reads.
NOT_DURABLE = "dataspace_not_durable"
READ_ONLY = "dataspace_read_only"
# Any constant works; it only has to be the same in every process that migrates.
MIGRATION_LOCK_KEY = 0x6461_7461_7370  # "datasp"


class Database(Closing):
    """An engine plus a session factory for one control-plane database URL."""

    def __init__(self, url: str | URL, *, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> None:
        self.url = make_url(url)
        self.engine = _create_engine(self.url, busy_timeout_s)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._binds: dict[tuple[bool, bool], Engine] = {}
        self._busy_timeout_s = busy_timeout_s
        # Reentrant: a nested write transaction meets SQLite's busy timeout, as without it.
        self._writers = threading.RLock() if self.engine.dialect.name == "sqlite" else None

    @contextmanager
    def transaction(self, *, durable: bool = True, read_only: bool = False) -> Iterator[Session]:
        """A session whose work is committed at the end of the block, or wholly rolled back.

        Rows stay readable after the block (they are not expired on commit). ``durable=False``
        is for redoable bookkeeping only, ``read_only=True`` for blocks that only read
        (module docstring). Nothing reaches the database before the block's first statement,
        so a block may call code with transactions of its own (in this thread) before it reads
        or writes. On SQLite a write block holds this process's writer turn from its start:
        it must not wait for another thread's write.
        """
        writers = None if read_only else self._writers
        turn = self._turn(writers) if writers is not None else nullcontext()
        try:
            bind = self._bind(durable, read_only)
            with turn, self._sessions(bind=bind) as session, session.begin():
                yield session
        except DBAPIError as exc:
            raise translate(exc) from exc

    @contextmanager
    def _turn(self, writers: threading.RLock) -> Iterator[None]:
        """This thread's turn to write, waited for before a pooled connection is taken (so
        waiting writers never hold connections that readers need); as long as SQLite would
        wait, then StoreBusy."""
        if not writers.acquire(timeout=self._busy_timeout_s):
            raise store_busy()
        try:
            yield
        finally:
            writers.release()

    def _bind(self, durable: bool, read_only: bool) -> Engine:
        """The engine with the options the begin hooks read (a cheap copy sharing the pool)."""
        key = (durable, read_only)
        if key not in self._binds:
            options = {NOT_DURABLE: not durable, READ_ONLY: read_only}
            self._binds[key] = self.engine.execution_options(**options)
        return self._binds[key]

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    close = dispose  # what a ``with`` block calls (Closing)

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"


def migrate(url: str | URL) -> None:
    """Upgrade the database at ``url`` to the newest schema; running it again changes nothing."""
    with Database(url) as database:
        upgrade_schema(database)


def upgrade_schema(database: Database) -> None:
    """Upgrade an open database to the newest schema; running it again changes nothing.

    A database already at :data:`HEAD_REVISION` costs one read-only query; only one at
    another revision, or without a schema, is handed to Alembic.
    """
    if schema_revisions(database) == (HEAD_REVISION,):
        return
    try:
        with database.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Two processes starting at once must not both create the tables.
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
            _upgrade(connection)
    except DBAPIError as exc:
        raise translate(exc) from exc


def schema_revisions(database: Database) -> tuple[str, ...]:
    """The revisions recorded in the database's ``alembic_version`` table; empty when the
    table is missing (a new database)."""
    with database.transaction(read_only=True) as session:
        connection = session.connection()
        if not connection.dialect.has_table(connection, "alembic_version"):
            return ()
        rows = connection.exec_driver_sql("SELECT version_num FROM alembic_version")
        return tuple(sorted(rows.scalars()))


def _upgrade(connection: Connection) -> None:
    from alembic import command  # noqa: PLC0415 (about a second to import; rarely needed)

    command.upgrade(alembic_config(connection), "head")


def alembic_config(connection: Connection) -> Config:
    """An Alembic configuration that runs the packaged migrations on ``connection``."""
    from alembic.config import Config  # noqa: PLC0415

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def _create_engine(url: URL, busy_timeout_s: float) -> Engine:
    backend = url.get_backend_name()
    if backend == "sqlite":
        _make_parent_directory(url)
        engine = create_engine(url)
        _configure_sqlite(engine, busy_timeout_s)
        return engine
    engine = create_engine(url, pool_pre_ping=True)
    if backend == "postgresql":
        _configure_postgresql(engine, busy_timeout_s)
    return engine


def _make_parent_directory(url: URL) -> None:
    if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        path = Path(url.database)
        private_directory(path.parent)
        # SQLite gives its -wal and -shm files the database file's mode: 0600 for all three.
        create_private_file(path)


def _configure_sqlite(engine: Engine, busy_timeout_s: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: object) -> None:
        # Leave BEGIN to us (below); pysqlite's own guess would start a deferred transaction.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Neither setting can change inside a transaction, so both are set just before; a
        # pooled connection keeps them, so only a change is sent (connection.info lives as
        # long as the driver's connection).
        options = connection.get_execution_options()
        reading = bool(options.get(READ_ONLY))
        wanted = {
            "synchronous": "NORMAL" if options.get(NOT_DURABLE) else "FULL",
            "query_only": "ON" if reading else "OFF",
        }
        for pragma, value in wanted.items():
            if connection.info.get(pragma) != value:
                connection.exec_driver_sql(f"PRAGMA {pragma} = {value}")
                connection.info[pragma] = value
        connection.exec_driver_sql("BEGIN DEFERRED" if reading else "BEGIN IMMEDIATE")


def _configure_postgresql(engine: Engine, busy_timeout_s: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: object) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("SET lock_timeout = %s", (f"{int(busy_timeout_s * 1000)}ms",))
        cursor.close()
        dbapi_connection.commit()  # a SET inside a rolled-back transaction would be undone

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get(NOT_DURABLE):
            connection.exec_driver_sql("SET LOCAL synchronous_commit = off")
