"""The shipped Alembic migrations on a real PostgreSQL server: an empty database upgraded to
head has exactly the models' schema, and every migration goes down and up again."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, inspect

from turnstile.storage import repositories as repo
from turnstile.storage.db import (
    Database,
    current_revisions,
    downgrade,
    head_revisions,
    open_database,
    script_directory,
    upgrade,
)
from turnstile.storage.models import Base


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


def test_empty_postgres_database_upgraded_to_head_matches_the_models(pg_url: str) -> None:
    db = open_database(pg_url)
    try:
        assert db.engine.dialect.name == "postgresql"
        assert current_revisions(db.engine) == head_revisions()
        _assert_matches_models(db)
        # Times come back aware and in UTC from timestamptz columns.
        at = datetime(2026, 3, 29, 0, 30, 15, 123456, tzinfo=UTC)
        with db.session() as s:
            door = repo.get_or_create_door(s, "North door")
            repo.add_event(s, door_id=door.id, decision="unknown", at=at, score=0.5)
        with db.session() as s:
            (event,) = repo.query_events(s)
            assert event.at == at and event.at.tzinfo is not None
    finally:
        db.dispose()


def test_every_migration_goes_down_and_up_again_on_postgres(pg_url: str) -> None:
    db = open_database(pg_url)
    try:
        revisions = [r.revision for r in script_directory().walk_revisions()]  # newest first
        for revision in revisions:
            script = script_directory().get_revision(revision)
            target = script.down_revision or "base"
            downgrade(db.engine, target if isinstance(target, str) else target[0])
        assert current_revisions(db.engine) == set()
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade(db.engine)
        assert current_revisions(db.engine) == head_revisions()
        _assert_matches_models(db)
    finally:
        db.dispose()


def test_reopening_a_database_at_head_changes_nothing(pg_url: str) -> None:
    first = open_database(pg_url)
    with first.session() as s:
        repo.create_employee(s, employee_number="E1", name="Ada Lovelace")
    first.dispose()
    again = open_database(pg_url)
    try:
        assert current_revisions(again.engine) == head_revisions()
        with again.session() as s:
            assert [e.employee_number for e in repo.list_employees(s)] == ["E1"]
    finally:
        again.dispose()
