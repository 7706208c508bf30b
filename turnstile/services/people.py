"""Managing enrolled people from the desk: list, edit, suspend/activate, delete.

Every change goes through :class:`PeopleService`, which keeps the in-memory galleries and the
recognition service's cache of people in step with the database (``on_changed``), so the
door acts on an edit at once: a suspended person is refused at the next frame.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from turnstile.services import privacy
from turnstile.storage import crypto
from turnstile.storage import repositories as repo
from turnstile.storage.db import Database
from turnstile.storage.models import Employee, FaceTemplate, utcnow

if TYPE_CHECKING:
    from turnstile.app import AppContext

log = logging.getLogger(__name__)

ChangeHook = Callable[[int], None]
"""Called with an employee id after that person was changed or deleted."""


@dataclass(frozen=True)
class PersonRow:
    """One person as the People page lists them (the face crop is the small JPEG stored with
    their first template, or ``None`` when they have no template).

    Attributes:
        status: ``"active"`` or ``"suspended"``; see :meth:`state` for what the door does.
    """

    id: int
    employee_number: str
    name: str
    department: str | None
    status: str
    valid_from: datetime | None
    valid_until: datetime | None
    templates: int
    created_at: datetime
    consent_at: datetime | None
    face_crop: bytes | None

    def state(self, now: datetime | None = None) -> str:
        """What the door does with this person now, in words: ``Active``, ``Suspended``,
        ``Not valid yet``, ``Expired`` or ``No photo``."""
        now = now or utcnow()
        if self.status != "active":
            return "Suspended"
        if self.templates == 0:
            return "No photo"
        if self.valid_from is not None and now < self.valid_from:
            return "Not valid yet"
        if self.valid_until is not None and now > self.valid_until:
            return "Expired"
        return "Active"


def _person_rows(db: Database, employee_id: int | None = None) -> list[PersonRow]:
    first = (
        select(FaceTemplate.employee_id, func.min(FaceTemplate.id).label("first_id"),
               func.count(FaceTemplate.id).label("n"))
        .group_by(FaceTemplate.employee_id)
        .subquery()
    )
    stmt = (
        select(Employee.id, Employee.employee_number, Employee.name, Employee.department,
               Employee.status, Employee.valid_from, Employee.valid_until,
               func.coalesce(first.c.n, 0), Employee.created_at, Employee.consent_at,
               FaceTemplate.id, FaceTemplate.model_id, FaceTemplate.key_id,
               FaceTemplate.face_crop_sealed)
        .select_from(Employee)
        .outerjoin(first, first.c.employee_id == Employee.id)
        .outerjoin(FaceTemplate, FaceTemplate.id == first.c.first_id)
        .order_by(Employee.name, Employee.id)
    )
    if employee_id is not None:
        stmt = stmt.where(Employee.id == employee_id)
    with db.session() as s:
        rows = s.execute(stmt).all()
    # Decrypted after the session: the crops are small, and the key may be slow to fetch.
    people = []
    for (pid, number, name, department, status, valid_from, valid_until, templates, created,
         consent, template_id, model_id, key_id, sealed) in rows:
        crop = crypto.open_template_value("face_crop", template_id, pid, model_id, key_id,
                                          sealed) if template_id else None
        people.append(PersonRow(pid, number, name, department, status, valid_from, valid_until,
                                templates, created, consent, crop))
    return people


class PeopleService:
    """The desk's operations on enrolled people.

    Args:
        db: the database.
        on_changed: called with the employee id after every change (see
            :meth:`for_context`); exceptions from it propagate.
    """

    def __init__(self, db: Database, on_changed: ChangeHook | None = None) -> None:
        self.db = db
        self.on_changed = on_changed

    @classmethod
    def for_context(cls, ctx: AppContext) -> PeopleService:
        """The service wired to the app's galleries and recognition cache."""

        def changed(employee_id: int) -> None:
            ctx.galleries.refresh_employee(employee_id)
            ctx.recognition.forget(employee_id)

        return cls(ctx.db, changed)

    def _changed(self, employee_id: int) -> None:
        if self.on_changed is not None:
            self.on_changed(employee_id)

    # -- reading ---------------------------------------------------------------------------
    def list_people(self) -> list[PersonRow]:
        """Everyone enrolled, by name, with their first face crop and template count."""
        return _person_rows(self.db)

    def get_person(self, employee_id: int) -> PersonRow:
        """One person.

        Raises:
            EmployeeNotFound: no such person.
        """
        rows = _person_rows(self.db, employee_id)
        if not rows:
            from turnstile.storage.errors import EmployeeNotFound

            raise EmployeeNotFound(f"No employee has id {employee_id}.")
        return rows[0]

    def face_crops(self, employee_id: int) -> list[bytes]:
        """The stored face crops (JPEG) of a person's templates, oldest first."""
        with self.db.session() as s:
            return [t.face_crop for t in repo.list_templates(s, employee_id)
                    if t.face_crop]

    def face_crop_by_number(self, employee_number: str) -> tuple[int, bytes | None]:
        """``(employee id, first face crop or None)`` of the person with this number.

        Raises:
            EmployeeNotFound: no such person.
        """
        with self.db.session() as s:
            employee = repo.get_employee_by_number(s, employee_number)
            templates = repo.list_templates(s, employee.id)
            crop = next((t.face_crop for t in templates if t.face_crop), None)
            return employee.id, crop

    # -- changing --------------------------------------------------------------------------
    def update_person(self, employee_id: int, *, employee_number: str, name: str,
                      department: str | None, valid_from: datetime | None,
                      valid_until: datetime | None) -> PersonRow:
        """Replace a person's details (all of them: ``None`` clears an optional one).

        Raises:
            EmployeeNotFound: no such person.
            ValidationError: a bad value (``.field`` names it).
            DuplicateEmployeeNumber: the number belongs to someone else.
        """
        with self.db.session() as s:
            repo.update_employee(s, employee_id, employee_number=employee_number, name=name,
                                 department=department, valid_from=valid_from,
                                 valid_until=valid_until)
        self._changed(employee_id)
        return self.get_person(employee_id)

    def set_status(self, employee_id: int, status: repo.EmployeeStatus) -> PersonRow:
        """Suspend (``"suspended"``) or re-activate (``"active"``) a person.

        Raises:
            EmployeeNotFound: no such person.
            ValidationError: an unknown status.
        """
        with self.db.session() as s:
            repo.set_employee_status(s, employee_id, status)
        self._changed(employee_id)
        return self.get_person(employee_id)

    def delete_person(self, employee_id: int) -> privacy.ErasureReport:
        """Erase a person with their face templates and the snapshots of their access
        events (the events stay in the log, without the person), then compact the database
        so their bytes are gone from its files, and erase them from the migration backups
        beside it (:func:`turnstile.services.privacy.erase_employee`; the report names any
        backup that could not be cleaned).

        Raises:
            EmployeeNotFound: no such person.
        """
        report = privacy.erase_employee(self.db, employee_id)
        self._changed(employee_id)
        return report
