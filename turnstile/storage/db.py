"""Engine, sessions, start-up checks, backup and migration of the database.

SQLite is the default (one file in the user data folder); any SQLAlchemy URL works, and
nothing below is SQLite-only unless guarded by the dialect.

SQLite connections get ``journal_mode=WAL`` (readers never block the writer),
``foreign_keys=ON`` (off by default in SQLite), ``busy_timeout`` (a writer waits up to
:data:`BUSY_TIMEOUT_MS` for another one instead of failing at once) and ``synchronous=NORMAL``
(safe with WAL: a power cut may lose the last commits, never corrupt the file) and
``secure_delete=ON`` (deleted templates, face crops and snapshots are zeroed in the file).

Transactions on SQLite use the ``sqlite3`` driver's default ("legacy") control: ``BEGIN`` is
sent before the first INSERT/UPDATE/DELETE of a session, not before reads. Each write
transaction therefore starts by asking for the write lock, and waits for it under the busy
timeout; a transaction that had read first and then wanted to write could instead fail at
once with SQLITE_BUSY when another process wrote in between. The price: reads before the
first write of a session are not repeatable, and SAVEPOINTs are not reliable, so the
repositories do not use them. (Python 3.16 changes that default; revisit this then.)

At start-up :func:`open_database` refuses a file that is not a database or that a newer
version of Turnstile has migrated (untouched), copies an older file aside with the SQLite
backup API, then upgrades it; it upgrades only when the database is not at head.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from turnstile.storage.errors import (
    DatabaseError,
    DatabaseLockedError,
    DatabaseUnreachableError,
    NewerDatabaseError,
    NotADatabaseError,
)

log = logging.getLogger(__name__)

MIGRATIONS_LOCATION = "turnstile.storage:migrations"
"""Alembic ``script_location``: the migrations ship inside the package."""
BUSY_TIMEOUT_MS = 10_000
"""How long an SQLite writer waits for another one before giving up."""
VERSION_TABLE = "alembic_version"
BACKUP_INFIX = ".bak-"
"""A migration backup of ``turnstile.db`` is ``turnstile.db.bak-<revision>-<UTC stamp>``."""
_PARTIAL_SUFFIX = ".partial"
_SQLITE_SIDE_SUFFIXES = ("-wal", "-shm", "-journal")
_SQLITE_HEADER = b"SQLite format 3\x00"
_SQLITE_BOOKKEEPING_TABLES = {VERSION_TABLE, "sqlite_sequence"}

# Primary SQLite result codes (https://sqlite.org/rescode.html).
_SQLITE_PERM, _SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY = 3, 5, 6, 8
_SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 10, 11, 13, 14, 26

UrlLike = str | URL


# --- URLs and engines -----------------------------------------------------------------------


def sqlite_file_path(url: UrlLike) -> Path | None:
    """Return the file of an SQLite URL, or ``None`` for other databases and in-memory ones."""
    url = make_url(url)
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database).expanduser().resolve()


def describe_url(url: UrlLike) -> str:
    """Return a printable name for a database: the file path, or the URL without password."""
    url = make_url(url)
    path = sqlite_file_path(url)
    if path is not None:
        return str(path)
    return url.render_as_string(hide_password=True)


def _set_sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # busy_timeout first, so that switching to WAL also waits for a busy file.
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        mode = cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            log.debug("SQLite journal mode is %s (WAL not available here)", mode)
        cursor.execute("PRAGMA synchronous = NORMAL")
        # Deleted rows are overwritten with zeros rather than left in free pages: erasing a
        # person must erase their face, not just unlink it.
        cursor.execute("PRAGMA secure_delete = ON")
    finally:
        cursor.close()


def make_engine(url: UrlLike, **kwargs: Any) -> Engine:
    """Create an engine; for SQLite, create the file's folder and set the pragmas.

    Statement parameters are never rendered into error messages or logs
    (``hide_parameters``): they may be embeddings or face images.

    Args:
        url: SQLAlchemy URL.
        **kwargs: passed to :func:`sqlalchemy.create_engine`.

    Raises:
        DatabaseError: the URL is malformed or names a database driver that is not installed.
        DatabaseUnreachableError: the SQLite file's folder cannot be created.
    """
    try:
        url = make_url(url)
    except sa_exc.ArgumentError as exc:
        raise DatabaseError(f"The database URL is not valid ({exc}).") from None
    kwargs.setdefault("hide_parameters", True)
    if url.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        try:
            return create_engine(url, **kwargs)
        except (ImportError, sa_exc.NoSuchModuleError) as exc:
            raise DatabaseError(
                f"The database {describe_url(url)} needs a driver that is not installed "
                f"({type(exc).__name__}: {exc})."
            ) from None
    path = sqlite_file_path(url)
    if path is not None:
        try:
            # Names, employee numbers and the access log are readable in the file (the face
            # data is encrypted): a folder and a file Turnstile creates are its user's only.
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            create_private_file(path)
        except OSError as exc:
            raise DatabaseUnreachableError(
                f"The folder {path.parent} for the database cannot be created: "
                f"{exc.strerror or exc}."
            ) from exc
    connect_args = dict(kwargs.pop("connect_args", {}))
    connect_args.setdefault("timeout", BUSY_TIMEOUT_MS / 1000)
    engine = create_engine(url, connect_args=connect_args, **kwargs)
    event.listen(engine, "connect", _set_sqlite_pragmas)
    return engine


# --- error translation ------------------------------------------------------------------


def _sqlite_code(error: BaseException) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def translate_error(exc: BaseException, where: str) -> DatabaseError:
    """Map a driver or SQLAlchemy error to a :class:`DatabaseError` with a plain message.

    Only the driver's own message is used, never SQLAlchemy's rendering (which would carry
    the SQL statement).
    """
    orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    detail = str(orig).strip() or type(orig).__name__
    if isinstance(orig, sqlite3.Error):
        code = _sqlite_code(orig)
        lowered = detail.lower()
        if code in (_SQLITE_BUSY, _SQLITE_LOCKED) or "database is locked" in lowered:
            return DatabaseLockedError(
                f"The database {where} is busy: another program kept it locked for more than "
                f"{BUSY_TIMEOUT_MS / 1000:g} s. Close other programs using it and try again."
            )
        if code == _SQLITE_NOTADB or "not a database" in lowered:
            return NotADatabaseError(
                f"{where} is not a Turnstile database (not an SQLite file, or encrypted)."
            )
        if code == _SQLITE_CORRUPT:
            return DatabaseError(
                f"The database {where} is damaged ({detail}). Restore it from a backup."
            )
        if code in (_SQLITE_CANTOPEN, _SQLITE_PERM) or "unable to open" in lowered:
            return DatabaseUnreachableError(
                f"The database file {where} cannot be opened ({detail}). Check that its "
                f"folder exists and that this user may write there."
            )
        if code == _SQLITE_READONLY:
            return DatabaseError(f"The database {where} is read-only ({detail}).")
        if code == _SQLITE_FULL:
            return DatabaseError(f"The disk holding the database {where} is full.")
        return DatabaseError(f"Database error on {where}: {detail}")
    if isinstance(exc, sa_exc.DBAPIError):
        pgcode = str(getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None) or "")
        if pgcode in ("55P03", "40P01", "40001"):  # lock_not_available, deadlock, serialization
            return DatabaseLockedError(f"The database {where} is busy ({detail}). Try again.")
        if exc.connection_invalidated or pgcode.startswith("08") or (
            isinstance(exc, sa_exc.OperationalError) and not pgcode
        ):
            return DatabaseUnreachableError(
                f"The database server {where} cannot be reached ({detail})."
            )
    return DatabaseError(f"Database error on {where}: {detail}")


@contextmanager
def translated_errors(where: str) -> Iterator[None]:
    """Re-raise database errors (not integrity violations) as :class:`DatabaseError`."""
    try:
        yield
    except sa_exc.IntegrityError:
        raise
    except (sa_exc.OperationalError, sa_exc.DatabaseError, sa_exc.InterfaceError,
            sqlite3.DatabaseError) as exc:
        raise translate_error(exc, where) from exc


# --- sessions ---------------------------------------------------------------------------


class Database:
    """An engine and its session factory. Thread-safe; sessions are not.

    Use one short session per unit of work::

        with db.session() as s:
            repositories.create_employee(s, employee_number="E1", name="Ada")

    Args:
        engine: from :func:`make_engine`.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.where = describe_url(engine.url)
        """Printable name of the database (file path or URL without password)."""
        self.sessionmaker: sessionmaker[Session] = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """Open a session in a transaction: committed on success, rolled back on error.

        Objects stay readable after the block (``expire_on_commit=False``), but relationships
        and deferred columns that were not loaded inside it cannot be loaded afterwards.

        Raises:
            DatabaseError: the database failed (locked, unreachable, damaged...). Integrity
                errors and errors raised by the caller's code pass through unchanged.
        """
        with translated_errors(self.where), self.sessionmaker.begin() as session:
            yield session

    begin = session
    """Alias of :meth:`session`, spelled like :meth:`sessionmaker.begin`."""

    def dispose(self) -> None:
        """Close all pooled connections (call before the process exits or the file moves)."""
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.dispose()

    def __repr__(self) -> str:
        return f"<Database {self.where}>"


# --- migrations -------------------------------------------------------------------------


def alembic_config(connection: Connection | None = None, url: UrlLike | None = None) -> Config:
    """Build the Alembic configuration in code (no ``alembic.ini`` is shipped).

    Args:
        connection: the connection ``env.py`` should migrate (preferred).
        url: a URL for ``env.py`` to connect to when no connection is given (offline SQL
            generation or the ``alembic`` command line).
    """
    config = Config()
    config.set_main_option("script_location", MIGRATIONS_LOCATION)
    config.set_main_option("path_separator", "os")
    if url is not None:
        rendered = make_url(url).render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def script_directory() -> ScriptDirectory:
    """Return the shipped migration scripts."""
    return ScriptDirectory.from_config(alembic_config())


def head_revisions() -> set[str]:
    """Return the revision(s) the shipped migrations end at."""
    return set(script_directory().get_heads())


def current_revisions(engine: Engine) -> set[str]:
    """Return the revision(s) the database is at (empty for a new database)."""
    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def _run_alembic(engine: Engine, action: Callable[[Config], None]) -> None:
    with translated_errors(describe_url(engine.url)), engine.connect() as connection:
        is_sqlite = connection.dialect.name == "sqlite"
        if is_sqlite:
            # Batch migrations copy a table, drop it and rename the copy; with foreign keys
            # on, the DROP would cascade into face templates and events. The pragma is a
            # no-op inside a transaction, hence the commit around it.
            connection.exec_driver_sql("PRAGMA foreign_keys = OFF")
            connection.commit()
        try:
            with connection.begin():
                action(alembic_config(connection))
                if is_sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise DatabaseError(
                            f"Migration of {describe_url(engine.url)} left {len(broken)} broken "
                            f"references; it was rolled back where possible. Restore the backup."
                        )
        finally:
            if is_sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys = ON")
                connection.commit()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database up to ``revision``. Prefer :func:`open_database`, which backs up."""
    _run_alembic(engine, lambda config: command.upgrade(config, revision))


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate the database down to ``revision`` (``"base"`` drops every table)."""
    _run_alembic(engine, lambda config: command.downgrade(config, revision))


# --- start-up checks and backup ---------------------------------------------------------


@dataclass(frozen=True)
class _SchemaState:
    revisions: frozenset[str]
    has_tables: bool


def _inspect_sqlite_file(path: Path) -> _SchemaState:
    """Read the schema version of an existing SQLite file without changing anything."""
    where = str(path)
    try:
        with path.open("rb") as file:
            header = file.read(len(_SQLITE_HEADER))
    except OSError as exc:
        raise DatabaseUnreachableError(
            f"The database file {where} cannot be read ({exc.strerror or exc})."
        ) from exc
    if header != _SQLITE_HEADER:
        raise NotADatabaseError(f"{where} is not a Turnstile database (not an SQLite file).")
    try:
        connection = sqlite3.connect(
            f"{path.as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000
        )
    except sqlite3.Error as exc:
        raise translate_error(exc, where) from exc
    try:
        tables = {
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        revisions: set[str] = set()
        if VERSION_TABLE in tables:
            revisions = {
                row[0] for row in connection.execute(f"SELECT version_num FROM {VERSION_TABLE}")
            }
    except sqlite3.Error as exc:
        raise translate_error(exc, where) from exc
    finally:
        connection.close()
    return _SchemaState(frozenset(revisions), bool(tables - _SQLITE_BOOKKEEPING_TABLES))


def _inspect_engine(engine: Engine) -> _SchemaState:
    with engine.connect() as connection:
        revisions = MigrationContext.configure(connection).get_current_heads()
        tables = set(inspect(connection).get_table_names())
    return _SchemaState(frozenset(revisions), bool(tables - _SQLITE_BOOKKEEPING_TABLES))


def _check_schema_state(state: _SchemaState, script: ScriptDirectory, where: str) -> None:
    known = {rev.revision for rev in script.walk_revisions()}
    unknown = sorted(state.revisions - known)
    if unknown:
        raise NewerDatabaseError(
            f"The database {where} was updated by a newer version of Turnstile (schema "
            f"{', '.join(unknown)}). It was not changed. Install that version again, or "
            f"restore a backup made before the update."
        )
    if not state.revisions and state.has_tables:
        raise NotADatabaseError(
            f"{where} holds tables but no Turnstile schema version; it was not created by "
            f"Turnstile (or a first migration was interrupted). It was not changed; move it "
            f"away to start with a new database."
        )


def _revision_label(revisions: frozenset[str]) -> str:
    return "+".join(sorted(revisions)) if revisions else "base"


def create_private_file(path: Path) -> bool:
    """Create an empty file readable and writable by its owner only (0600), unless it exists
    (then it is left as it is). SQLite gives its ``-wal`` and ``-shm`` files the database
    file's mode, so they are private too. Returns whether it was created.

    Raises:
        OSError: it could not be created.
    """
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return False
    return True


def backup_sqlite(path: Path, label: str) -> Path:
    """Copy an SQLite database with the backup API (consistent, WAL content included).

    The copy is named ``<name>.bak-<label>-<UTC timestamp>`` beside the original; it is
    written under a temporary name first, so a finished name always means a whole copy.

    Returns:
        The path of the copy.

    Raises:
        DatabaseError: the copy could not be made (the original is unchanged).
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}{BACKUP_INFIX}{label}-{stamp}")
    counter = 1
    while target.exists():
        target = path.with_name(f"{path.name}{BACKUP_INFIX}{label}-{stamp}-{counter}")
        counter += 1
    partial = target.with_name(target.name + _PARTIAL_SUFFIX)
    try:
        partial.unlink(missing_ok=True)  # a leftover of an interrupted copy
        create_private_file(partial)  # the copy holds what the database holds
        source = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True,
                                 timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            copy = sqlite3.connect(partial)
            try:
                source.backup(copy)
            finally:
                copy.close()
        finally:
            source.close()
        os.replace(partial, target)
    except (sqlite3.Error, OSError) as exc:
        partial.unlink(missing_ok=True)
        if isinstance(exc, sqlite3.Error):
            raise translate_error(exc, str(path)) from exc
        raise DatabaseError(
            f"The backup {target} of the database could not be written "
            f"({exc.strerror or exc}); the database was not migrated."
        ) from exc
    log.info("Database backed up to %s before migration", target)
    return target


def backup_files(path: Path) -> list[Path]:
    """Return the finished backups :func:`backup_sqlite` made of the database file ``path``.

    Copies still being written (``.partial``) are left out, and so are the ``-wal``, ``-shm``
    and ``-journal`` files SQLite keeps beside a backup while something has it open.

    Returns:
        The backup files beside ``path``, sorted by name.

    Raises:
        OSError: the folder cannot be listed.
    """
    prefix = path.name + BACKUP_INFIX
    return sorted(
        entry for entry in path.parent.iterdir()
        # startswith, not glob: the database's own name may hold [ ] * or ?.
        if entry.name.startswith(prefix) and entry.is_file()
        and not entry.name.endswith((_PARTIAL_SUFFIX, *_SQLITE_SIDE_SUFFIXES))
    )


def open_database(
    url: UrlLike | None = None, *, migrate: bool = True, backup: bool = True
) -> Database:
    """Open the database, backing it up and migrating it when it is not at head.

    Args:
        url: SQLAlchemy URL; ``None`` for :func:`turnstile.config.default_database_url`.
        migrate: upgrade to head when needed (otherwise only log that it is behind).
        backup: for an existing SQLite file that needs migrating, copy it first to
            ``<name>.bak-<revision>-<timestamp>``.

    Returns:
        The open database.

    Raises:
        NewerDatabaseError: a newer Turnstile migrated it (left untouched).
        NotADatabaseError: the file is not an SQLite database, or not Turnstile's.
        DatabaseLockedError: another program kept it locked past the busy timeout.
        DatabaseUnreachableError: the server cannot be reached or the file cannot be opened.
        DatabaseError: any other failure, including a failed backup.
    """
    if url is None:
        from turnstile.config import default_database_url

        url = default_database_url()
    try:
        url = make_url(url)
    except sa_exc.ArgumentError as exc:
        raise DatabaseError(f"The database URL is not valid ({exc}).") from None
    where = describe_url(url)
    script = script_directory()
    heads = frozenset(script.get_heads())
    path = sqlite_file_path(url)

    # An existing SQLite file is checked and backed up before any connection of ours opens
    # it: our connections switch it to WAL, which already writes to it.
    if path is not None and path.is_file() and path.stat().st_size > 0:
        state = _inspect_sqlite_file(path)
        _check_schema_state(state, script, where)
        if state.revisions != heads and migrate and backup:
            backup_sqlite(path, _revision_label(state.revisions))

    engine = make_engine(url)
    try:
        with translated_errors(where):
            state = _inspect_engine(engine)
        _check_schema_state(state, script, where)
        if state.revisions != heads:
            if migrate:
                log.info("Migrating database %s from %s to %s", where,
                         _revision_label(state.revisions), _revision_label(heads))
                upgrade(engine)
            else:
                log.warning("Database %s is at %s, not at %s; not migrating", where,
                            _revision_label(state.revisions), _revision_label(heads))
    except BaseException:
        engine.dispose()
        raise
    return Database(engine)
