"""Storage: SQLAlchemy models, engine and sessions, repositories, Alembic migrations.

Typical start-up::

    db = open_database(settings.effective_database_url())   # checks, backs up, migrates
    with db.session() as s:
        repositories.create_employee(s, employee_number="E1", name="Ada Lovelace")
"""

from __future__ import annotations

from turnstile.storage.db import Database, make_engine, open_database
from turnstile.storage.errors import (
    DatabaseError,
    DatabaseLockedError,
    DatabaseUnreachableError,
    DuplicateEmployeeNumber,
    EmployeeNotFound,
    NewerDatabaseError,
    NotADatabaseError,
    RecordNotFound,
    ValidationError,
)

__all__ = [
    "Database",
    "DatabaseError",
    "DatabaseLockedError",
    "DatabaseUnreachableError",
    "DuplicateEmployeeNumber",
    "EmployeeNotFound",
    "NewerDatabaseError",
    "NotADatabaseError",
    "RecordNotFound",
    "ValidationError",
    "make_engine",
    "open_database",
]
