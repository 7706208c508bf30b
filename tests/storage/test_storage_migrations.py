"""Migrations, start-up checks, backups, pragmas and error translation on real SQLite files."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, inspect, text

from turnstile.errors import TurnstileError
from turnstile.storage import db as storage_db
from turnstile.storage import repositories as repo
from turnstile.storage.db import (
    Database,
    current_revisions,
    downgrade,
    head_revisions,
    make_engine,
    open_database,
    upgrade,
)
from turnstile.storage.errors import (
    DatabaseError,
    DatabaseLockedError,
    DatabaseUnreachableError,
    NewerDatabaseError,
    NotADatabaseError,
)
from turnstile.storage.models import Base

HEAD = "0005"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _backups(path: Path) -> list[Path]:
    return sorted(p for p in path.parent.glob(f"{path.name}.bak-*"))


def _assert_matches_models(database: Database) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        inspector = inspect(connection)
        # compare_metadata does not look at CHECK constraints or ON DELETE: compare by hand.
        for table in Base.metadata.sorted_tables:
            checks = {c["name"] for c in inspector.get_check_constraints(table.name)}
            expected = {c.name for c in table.constraints if isinstance(c, CheckConstraint)}
            assert checks == expected, table.name
            fks = {(fk["name"], (fk.get("options") or {}).get("ondelete"))
                   for fk in inspector.get_foreign_keys(table.name)}
            expected_fks = {(fk.name, fk.ondelete) for fk in table.foreign_key_constraints}
            assert fks == expected_fks, table.name


def test_upgrade_empty_database_matches_models(db: Database) -> None:
    """(a) An empty file upgraded to head has exactly the schema of the models."""
    assert head_revisions() == {HEAD}
    assert current_revisions(db.engine) == {HEAD}
    _assert_matches_models(db)


def test_downgrade_to_base_and_upgrade_again(db: Database) -> None:
    """(b) The initial migration goes down cleanly and up again."""
    downgrade(db.engine, "base")
    assert current_revisions(db.engine) == set()
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version", "sqlite_sequence"}
    upgrade(db.engine)
    assert current_revisions(db.engine) == {HEAD}
    _assert_matches_models(db)


def test_reopening_at_head_neither_migrates_nor_backs_up(db: Database, db_path: Path) -> None:
    db.dispose()
    open_database(f"sqlite:///{db_path}").dispose()
    assert _backups(db_path) == []


_REVISION_0002 = '''
"""Test-only: add a column to employees by copying the table (batch recreate)."""
import sqlalchemy as sa
from alembic import op

revision = "test_next"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("employees", recreate="always") as batch_op:
        batch_op.add_column(sa.Column("nickname", sa.String(50), nullable=True))


def downgrade():
    with op.batch_alter_table("employees", recreate="always") as batch_op:
        batch_op.drop_column("nickname")
'''


def test_backup_made_before_migrating_an_older_database(
    db: Database, db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(c) An existing file at head is copied aside before it is upgraded to a newer head;
    the batch copy of ``employees`` does not cascade into templates or events."""
    with db.session() as s:
        employee = repo.create_employee(s, employee_number="E1", name="Ada")
        repo.add_template(s, employee.id, embedding=[1.0, 0.0], model_id="m", source="photo")
        door = repo.get_or_create_door(s, "Main entrance")
        repo.add_event(s, door_id=door.id, decision="granted", employee_id=employee.id,
                       snapshot=b"jpeg")
    db.dispose()

    scripts = tmp_path / "migrations"
    shutil.copytree(Path(storage_db.__file__).parent / "migrations", scripts,
                    ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / "test_next_nickname.py").write_text(
        _REVISION_0002.replace("{head}", HEAD))
    monkeypatch.setattr(storage_db, "MIGRATIONS_LOCATION", str(scripts))

    upgraded = open_database(f"sqlite:///{db_path}")
    try:
        assert current_revisions(upgraded.engine) == {"test_next"}
        with upgraded.session() as s:
            assert s.execute(text("SELECT name, nickname FROM employees")).all() == [("Ada", None)]
            assert s.execute(text("SELECT count(*) FROM face_templates")).scalar() == 1
            assert s.execute(text("SELECT employee_id FROM access_events")).scalar() == employee.id
            assert s.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        upgraded.dispose()

    (backup,) = _backups(db_path)
    assert backup.name.startswith(f"turnstile.db.bak-{HEAD}-")
    with sqlite3.connect(backup) as copy:
        assert copy.execute("SELECT version_num FROM alembic_version").fetchall() == [(HEAD,)]
        assert copy.execute("SELECT name FROM employees").fetchall() == [("Ada",)]
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    copy.close()


def test_backup_made_for_database_at_base(db: Database, db_path: Path) -> None:
    """(c) The simpler case: an existing file behind head (here at base) is copied first."""
    downgrade(db.engine, "base")
    db.dispose()
    open_database(f"sqlite:///{db_path}").dispose()
    (backup,) = _backups(db_path)
    assert backup.name.startswith("turnstile.db.bak-base-")


def test_no_backup_when_disabled_or_new(db_path: Path) -> None:
    open_database(f"sqlite:///{db_path}").dispose()  # a new file: nothing to back up
    assert _backups(db_path) == []


def test_sqlite_pragmas_are_set(db: Database) -> None:
    """(d) WAL, foreign keys, busy timeout, synchronous=NORMAL, secure_delete on every
    connection."""
    with db.engine.connect() as connection:
        pragma = lambda name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
        assert pragma("journal_mode") == "wal"
        assert pragma("foreign_keys") == 1
        assert pragma("busy_timeout") == storage_db.BUSY_TIMEOUT_MS
        assert pragma("synchronous") == 1  # NORMAL
        assert pragma("secure_delete") == 1


def test_foreign_keys_enforced(db: Database) -> None:
    """(d) A template pointing at no employee is refused by the database itself."""
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), db.session() as s:
        s.execute(text("INSERT INTO face_templates (employee_id, embedding, dim, model_id, "
                       "source, created_at) VALUES (999, x'00000000', 1, 'm', 'photo', "
                       "'2024-01-01 00:00:00')"))


def test_newer_database_is_refused_and_untouched(db: Database, db_path: Path) -> None:
    """(i) A revision this version does not know: refuse, change nothing, back up nothing."""
    with db.session() as s:
        s.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    db.dispose()
    before = _sha256(db_path)
    with pytest.raises(NewerDatabaseError, match="newer version"):
        open_database(f"sqlite:///{db_path}")
    assert _sha256(db_path) == before
    assert _backups(db_path) == []


def test_non_database_file_is_refused(db_path: Path) -> None:
    """(j) A file that is not SQLite: DatabaseError naming it, file unchanged."""
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"Quarterly report\n" * 200)
    with pytest.raises(NotADatabaseError, match="not a Turnstile database") as info:
        open_database(f"sqlite:///{db_path}")
    assert isinstance(info.value, DatabaseError) and isinstance(info.value, TurnstileError)
    assert str(db_path) in str(info.value)
    assert db_path.read_bytes() == b"Quarterly report\n" * 200


def test_damaged_sqlite_header_is_refused(db_path: Path) -> None:
    """(j) The SQLite magic followed by garbage: refused through the driver's error."""
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4096)
    with pytest.raises(DatabaseError):
        open_database(f"sqlite:///{db_path}")


def test_foreign_sqlite_database_is_refused(db_path: Path) -> None:
    """(j) An SQLite file of some other program (tables, no schema version) is not touched."""
    db_path.parent.mkdir(parents=True)
    with sqlite3.connect(db_path) as other:
        other.execute("CREATE TABLE recipes (id INTEGER PRIMARY KEY, title TEXT)")
    other.close()
    before = _sha256(db_path)
    with pytest.raises(NotADatabaseError, match="no Turnstile schema version"):
        open_database(f"sqlite:///{db_path}")
    assert _sha256(db_path) == before


def test_locked_database_gives_database_locked_error(
    db_url: str, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer holding the lock past the busy timeout: DatabaseLockedError."""
    monkeypatch.setattr(storage_db, "BUSY_TIMEOUT_MS", 200)
    database = open_database(db_url)
    holder = sqlite3.connect(db_path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(DatabaseLockedError, match="busy"), database.session() as s:
            repo.create_employee(s, employee_number="E1", name="Blocked")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        database.dispose()


def test_unopenable_location_gives_unreachable_error(tmp_path: Path) -> None:
    """A database whose folder cannot exist (its parent is a file)."""
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    with pytest.raises(DatabaseUnreachableError):
        open_database(f"sqlite:///{blocker / 'turnstile.db'}")


@pytest.mark.parametrize("url", ["postgresql+nosuchdriver://admin:s3cret@db.local/turnstile",
                                 "not a url"])
def test_unusable_url_gives_database_error_without_password(url: str) -> None:
    with pytest.raises(DatabaseError) as info:
        open_database(url)
    assert "s3cret" not in str(info.value)


def test_make_engine_creates_parent_folder(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "c.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        assert path.is_file()
    finally:
        engine.dispose()


def test_session_rolls_back_on_error(db: Database) -> None:
    with pytest.raises(RuntimeError), db.session() as s:
        repo.create_employee(s, employee_number="E1", name="Rolled back")
        raise RuntimeError("boom")
    with db.session() as s:
        assert repo.count_employees(s) == 0


def test_a_database_is_named_by_its_file_or_by_its_url_without_the_password():
    from turnstile.storage.db import describe_url

    assert describe_url("sqlite:////var/lib/turnstile/turnstile.db") == \
        "/var/lib/turnstile/turnstile.db"
    shown = describe_url("postgresql+psycopg://door:s3cret@db.example:5432/turnstile")
    assert shown == "postgresql+psycopg://door:***@db.example:5432/turnstile"


def test_a_new_database_and_its_folder_are_private_to_the_user(tmp_path):
    """Names, numbers and the access log are readable in the file: a database Turnstile
    creates (and its WAL files, and a backup) can be read by its user only."""
    import stat

    from turnstile.storage.db import backup_sqlite

    path = tmp_path / "new" / "data" / "turnstile.db"
    database = open_database(f"sqlite:///{path}")
    try:
        with database.session() as s:
            s.execute(text("SELECT 1"))
        files = [path, *path.parent.glob("turnstile.db-*")]
        assert len(files) >= 2, "the WAL files exist while it is open"
        for file in files:
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        copy = backup_sqlite(path, "test")
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    finally:
        database.dispose()
