"""Errors raised by the storage layer.

Every message says what is wrong in words a front-desk user can act on. Messages never
contain biometric data (embeddings, face crops, snapshots) or database passwords.
"""

from __future__ import annotations

from turnstile.errors import TurnstileError


class DatabaseError(TurnstileError):
    """The database cannot be opened, read or written."""


class DatabaseLockedError(DatabaseError):
    """Another program kept the database locked for longer than the busy timeout."""


class NotADatabaseError(DatabaseError):
    """The file is not an SQLite database, or not one created by Turnstile."""


class NewerDatabaseError(DatabaseError):
    """The database was migrated by a newer version of Turnstile; it is left untouched."""


class DatabaseUnreachableError(DatabaseError):
    """The database server cannot be reached, or the database file cannot be opened."""


class ValidationError(TurnstileError, ValueError):
    """A value given to the storage layer is not acceptable.

    Attributes:
        field: the name of the offending field (``"name"``, ``"employee_number"``, ...).
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class RecordNotFound(TurnstileError, LookupError):
    """A record looked up by id or key does not exist."""


class EmployeeNotFound(RecordNotFound):
    """No employee has the id or employee number asked for."""


class DuplicateEmployeeNumber(TurnstileError):
    """Another employee already has this employee number.

    Attributes:
        employee_number: the number that is taken.
    """

    def __init__(self, employee_number: str) -> None:
        super().__init__(f"Employee number {employee_number!r} is already in use.")
        self.employee_number = employee_number
