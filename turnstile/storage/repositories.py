"""Reads and writes over a :class:`~sqlalchemy.orm.Session`: the only SQL the services need.

Every function takes the session of the caller's unit of work and never commits: the caller's
``with db.session() as s:`` block does. Functions that write call ``flush()`` so that ids
are assigned and constraint violations surface here, as typed errors, rather than at commit.

Text is validated before it reaches the database (names, numbers) and always sent as bound
parameters, so quotes and SQL keywords in a name are just characters. Texts are normalised to
Unicode NFC and stripped of surrounding whitespace.

Nothing here logs names, embeddings, face crops or snapshots; log lines carry ids only.

This is the storage boundary of encryption at rest (:mod:`turnstile.storage.crypto`):
embeddings and face crops are encrypted in :func:`add_template`, snapshots in
:func:`add_event`; :func:`load_gallery_rows`, :func:`get_event_snapshot` and the models'
``embedding``/``face_crop``/``snapshot`` properties decrypt. Every event is appended to the
access log's hash chain (:mod:`turnstile.services.log_chain`).
"""

from __future__ import annotations

import enum
import logging
import math
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import PureWindowsPath
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt
from sqlalchemy import CursorResult, Result, Select, and_, delete, func, or_, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, joinedload

from turnstile.storage.errors import (
    DuplicateEmployeeNumber,
    EmployeeNotFound,
    ValidationError,
)
from turnstile.storage.models import (
    CONSENT_VERSION_MAX_CHARS,
    DECISIONS,
    DEPARTMENT_MAX_CHARS,
    DOOR_NAME_MAX_CHARS,
    EMPLOYEE_NUMBER_MAX_CHARS,
    EMPLOYEE_STATUSES,
    MODEL_ID_MAX_CHARS,
    NAME_MAX_CHARS,
    REASON_MAX_CHARS,
    SOURCE_NAME_MAX_CHARS,
    TEMPLATE_SOURCES,
    THRESHOLD_NAME_MAX_CHARS,
    THRESHOLD_SOURCE_MAX_CHARS,
    AccessEvent,
    Door,
    Employee,
    FaceTemplate,
    ModelThreshold,
    utcnow,
)

log = logging.getLogger(__name__)

EmployeeStatus = Literal["active", "suspended"]
TemplateSource = Literal["photo", "camera", "import"]
Decision = Literal["granted", "denied", "unknown", "spoof", "error"]

EMBEDDING_DTYPE = np.dtype("<f4")
"""Embeddings are stored as little-endian float32, whatever the machine."""
EXPORT_CHUNK_ROWS = 1000
"""Rows fetched per query when iterating over the whole access log."""


class _Unset(enum.Enum):
    UNSET = enum.auto()


UNSET = _Unset.UNSET
"""Default of :func:`update_employee` arguments: "leave as is" (``None`` means "clear")."""


# --- validation ---------------------------------------------------------------------------


def _has_control_chars(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in text)


def _clean_text(field: str, value: object, *, max_chars: int, label: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(field, f"{label} must be text, not {type(value).__name__}.")
    text = unicodedata.normalize("NFC", value).strip()
    if not text:
        raise ValidationError(field, f"{label} must not be empty.")
    if len(text) > max_chars:
        raise ValidationError(
            field, f"{label} must be at most {max_chars} characters long (got {len(text)})."
        )
    if _has_control_chars(text):
        raise ValidationError(field, f"{label} must not contain control characters.")
    if any(unicodedata.category(ch) == "Cs" for ch in text):
        # Lone surrogates: bytes that were not UTF-8 (a badly encoded file or command line).
        # The database cannot store them; refuse them here rather than fail in the driver.
        raise ValidationError(field, f"{label} contains characters that are not valid text "
                                     f"(was it typed or saved in another encoding?).")
    return text


def _clean_optional(field: str, value: object, *, max_chars: int, label: str) -> str | None:
    """Clean an optional text; empty or blank becomes ``None``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return _clean_text(field, value, max_chars=max_chars, label=label)


def validate_employee_name(name: object) -> str:
    """Return the cleaned name (NFC, stripped).

    Raises:
        ValidationError: empty, longer than 200 characters, or with control characters.
    """
    return _clean_text("name", name, max_chars=NAME_MAX_CHARS, label="The name")


def validate_employee_number(number: object) -> str:
    """Return the cleaned employee number (NFC, stripped).

    Raises:
        ValidationError: empty, longer than 64 characters, or with control characters.
    """
    return _clean_text("employee_number", number, max_chars=EMPLOYEE_NUMBER_MAX_CHARS,
                       label="The employee number")


def _check_aware(field: str, value: datetime | None) -> datetime | None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValidationError(field, f"{field} must be a timezone-aware datetime.")
    return value


def _check_period(valid_from: datetime | None, valid_until: datetime | None) -> None:
    if valid_from is not None and valid_until is not None and valid_from > valid_until:
        raise ValidationError("valid_until", "The end of validity is before its start.")


def _check_status(status: str) -> str:
    if status not in EMPLOYEE_STATUSES:
        raise ValidationError(
            "status", f"Status must be one of {', '.join(EMPLOYEE_STATUSES)}, not {status!r}."
        )
    return status


def _check_finite(field: str, value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        raise ValidationError(field, f"{field} must be a finite number.")
    return value


def _rowcount(result: Result[Any]) -> int:
    # UPDATE/DELETE results are CursorResults; the generic Result type does not say so.
    return int(cast(CursorResult[Any], result).rowcount or 0)


def _is_duplicate_number(exc: sa_exc.IntegrityError) -> bool:
    text = str(exc.orig).lower()
    return "employee_number" in text or "uq_employees_employee_number" in text


# --- employees ----------------------------------------------------------------------------


def create_employee(
    session: Session,
    *,
    employee_number: str,
    name: str,
    department: str | None = None,
    status: EmployeeStatus = "active",
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    consent_at: datetime | None = None,
    consent_text_version: str | None = None,
) -> Employee:
    """Add an employee.

    Returns:
        The new employee, with its id.

    Raises:
        ValidationError: a bad name, number, department, status or validity period.
        DuplicateEmployeeNumber: the number is taken (checked first, and again by the
            unique constraint for a concurrent insert; then the session must be rolled back,
            which the ``db.session()`` block does).
    """
    employee = Employee(
        employee_number=validate_employee_number(employee_number),
        name=validate_employee_name(name),
        department=_clean_optional("department", department, max_chars=DEPARTMENT_MAX_CHARS,
                                   label="The department"),
        status=_check_status(status),
        valid_from=_check_aware("valid_from", valid_from),
        valid_until=_check_aware("valid_until", valid_until),
        consent_at=_check_aware("consent_at", consent_at),
        consent_text_version=_clean_optional(
            "consent_text_version", consent_text_version,
            max_chars=CONSENT_VERSION_MAX_CHARS, label="The consent text version"),
    )
    _check_period(employee.valid_from, employee.valid_until)
    taken = session.scalar(
        select(Employee.id).where(Employee.employee_number == employee.employee_number)
    )
    if taken is not None:
        raise DuplicateEmployeeNumber(employee.employee_number)
    session.add(employee)
    try:
        session.flush()
    except sa_exc.IntegrityError as exc:
        if _is_duplicate_number(exc):
            raise DuplicateEmployeeNumber(employee.employee_number) from None
        raise
    log.info("Employee %d created", employee.id)
    return employee


def get_employee(session: Session, employee_id: int) -> Employee:
    """Return the employee with this id.

    Raises:
        EmployeeNotFound: no such employee.
    """
    employee = session.get(Employee, employee_id)
    if employee is None:
        raise EmployeeNotFound(f"No employee has id {employee_id}.")
    return employee


def get_employee_by_number(session: Session, employee_number: str) -> Employee:
    """Return the employee with this number (compared after NFC and strip).

    Raises:
        EmployeeNotFound: no such employee.
    """
    number = unicodedata.normalize("NFC", employee_number).strip()
    employee = session.scalar(select(Employee).where(Employee.employee_number == number))
    if employee is None:
        raise EmployeeNotFound(f"No employee has number {number!r}.")
    return employee


def _employee_filter(stmt: Select[Any], search: str | None, status: str | None) -> Select[Any]:
    if search is not None and search.strip():
        term = unicodedata.normalize("NFC", search).strip()
        # icontains escapes % and _; on SQLite it is case-insensitive for ASCII letters only.
        stmt = stmt.where(or_(
            Employee.name.icontains(term, autoescape=True),
            Employee.employee_number.icontains(term, autoescape=True),
            Employee.department.icontains(term, autoescape=True),
        ))
    if status is not None:
        stmt = stmt.where(Employee.status == _check_status(status))
    return stmt


def list_employees(
    session: Session,
    *,
    search: str | None = None,
    status: EmployeeStatus | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[Employee]:
    """Return employees ordered by name, optionally filtered.

    Args:
        search: text looked for in the name, number and department (case-insensitive;
            ``%`` and ``_`` are literal).
        status: only employees with this status.
        limit: at most this many (all when ``None``).
        offset: skip this many first.
    """
    stmt = _employee_filter(select(Employee), search, status)
    stmt = stmt.order_by(Employee.name, Employee.id).offset(offset).limit(limit)
    return list(session.scalars(stmt))


def count_employees(
    session: Session, *, search: str | None = None, status: EmployeeStatus | None = None
) -> int:
    """Count the employees :func:`list_employees` would return without a limit."""
    stmt = _employee_filter(select(func.count(Employee.id)), search, status)
    return int(session.scalar(stmt) or 0)


def update_employee(
    session: Session,
    employee_id: int,
    *,
    employee_number: str | _Unset = UNSET,
    name: str | _Unset = UNSET,
    department: str | None | _Unset = UNSET,
    valid_from: datetime | None | _Unset = UNSET,
    valid_until: datetime | None | _Unset = UNSET,
    consent_at: datetime | None | _Unset = UNSET,
    consent_text_version: str | None | _Unset = UNSET,
) -> Employee:
    """Change some fields of an employee; arguments left out are unchanged, ``None`` clears.

    Raises:
        EmployeeNotFound: no such employee.
        ValidationError: a bad value.
        DuplicateEmployeeNumber: the new number belongs to someone else.
    """
    employee = get_employee(session, employee_id)
    if not isinstance(employee_number, _Unset):
        number = validate_employee_number(employee_number)
        if number != employee.employee_number:
            other = session.scalar(select(Employee.id).where(Employee.employee_number == number))
            if other is not None:
                raise DuplicateEmployeeNumber(number)
            employee.employee_number = number
    if not isinstance(name, _Unset):
        employee.name = validate_employee_name(name)
    if not isinstance(department, _Unset):
        employee.department = _clean_optional(
            "department", department, max_chars=DEPARTMENT_MAX_CHARS, label="The department")
    if not isinstance(valid_from, _Unset):
        employee.valid_from = _check_aware("valid_from", valid_from)
    if not isinstance(valid_until, _Unset):
        employee.valid_until = _check_aware("valid_until", valid_until)
    if not isinstance(consent_at, _Unset):
        employee.consent_at = _check_aware("consent_at", consent_at)
    if not isinstance(consent_text_version, _Unset):
        employee.consent_text_version = _clean_optional(
            "consent_text_version", consent_text_version,
            max_chars=CONSENT_VERSION_MAX_CHARS, label="The consent text version")
    _check_period(employee.valid_from, employee.valid_until)
    try:
        session.flush()
    except sa_exc.IntegrityError as exc:
        if _is_duplicate_number(exc):
            raise DuplicateEmployeeNumber(employee.employee_number) from None
        raise
    log.info("Employee %d updated", employee.id)
    return employee


def set_employee_status(session: Session, employee_id: int, status: EmployeeStatus) -> Employee:
    """Activate or suspend an employee (a suspended one is left out of the gallery).

    Raises:
        EmployeeNotFound: no such employee.
        ValidationError: an unknown status.
    """
    employee = get_employee(session, employee_id)
    new_status = _check_status(status)
    if new_status == "suspended" and employee.status != "suspended":
        employee.suspended_at = utcnow()
    elif new_status == "active":
        employee.suspended_at = None
    employee.status = new_status
    session.flush()
    log.info("Employee %d is now %s", employee.id, status)
    return employee


@dataclass(frozen=True)
class DeletionCounts:
    """What :func:`delete_employee` removed.

    Attributes:
        templates: face templates deleted.
        snapshots: snapshots erased from that person's access events.
        events_unlinked: access events kept but no longer linked to the person.
    """

    templates: int
    snapshots: int
    events_unlinked: int


def erase_employee_snapshots(session: Session, employee_id: int) -> int:
    """Erase the camera snapshots of every access event linked to an employee.

    The events themselves stay (and their chain hashes: the hash of the erased picture stays
    in ``snapshot_sha256``, so the log still verifies). Used when a person is deleted or
    withdraws consent.

    Returns:
        How many snapshots were erased.
    """
    result = session.execute(
        update(AccessEvent)
        .where(AccessEvent.employee_id == employee_id, AccessEvent.snapshot.is_not(None))
        .values(snapshot_sealed=None, snapshot_key_id=None)
        .execution_options(synchronize_session=False)
    )
    # The column is deferred, so no loaded object holds a stale copy to synchronise.
    return _rowcount(result)


def delete_employee(session: Session, employee_id: int) -> DeletionCounts:
    """Delete an employee, their face templates, and the snapshots of their access events.

    The events stay in the log, with ``employee_id`` set to NULL (done here explicitly, not
    left to ``ON DELETE SET NULL``, so it holds even where foreign keys are off) and the salt
    of their person commitment cleared, so nothing left ties them to the person while the
    chain still verifies. The bytes are erased from the database file only once it is
    compacted: use :func:`turnstile.services.privacy.erase_employee`.

    Raises:
        EmployeeNotFound: no such employee.
    """
    employee = get_employee(session, employee_id)
    snapshots = erase_employee_snapshots(session, employee_id)
    unlinked = session.execute(
        update(AccessEvent)
        .where(AccessEvent.employee_id == employee_id)
        .values(employee_id=None, subject_salt=None)
        .execution_options(synchronize_session="fetch")
    )
    templates = session.execute(
        delete(FaceTemplate)
        .where(FaceTemplate.employee_id == employee_id)
        .execution_options(synchronize_session="fetch")
    )
    session.expire(employee, ["templates"])
    session.delete(employee)
    session.flush()
    counts = DeletionCounts(
        templates=_rowcount(templates),
        snapshots=snapshots,
        events_unlinked=_rowcount(unlinked),
    )
    log.info("Employee %d deleted: %d templates, %d snapshots erased, %d events unlinked",
             employee_id, counts.templates, counts.snapshots, counts.events_unlinked)
    return counts


# --- face templates -----------------------------------------------------------------------


def embedding_to_bytes(embedding: npt.ArrayLike) -> tuple[bytes, int]:
    """Return the stored form of an embedding: little-endian float32 bytes and the dimension.

    Raises:
        ValidationError: not a non-empty 1-D vector of finite numbers.
    """
    vector = np.asarray(embedding)
    if vector.ndim != 1 or vector.size == 0:
        raise ValidationError("embedding", f"An embedding must be a 1-D vector, not shape "
                                           f"{vector.shape}.")
    if not np.issubdtype(vector.dtype, np.floating):
        raise ValidationError("embedding", f"An embedding must be floating point, not "
                                           f"{vector.dtype}.")
    vector = vector.astype(EMBEDDING_DTYPE, copy=False)
    if not np.all(np.isfinite(vector)):
        raise ValidationError("embedding", "An embedding must not contain NaN or infinity.")
    return vector.tobytes(), int(vector.size)


def embedding_from_bytes(data: bytes) -> npt.NDArray[np.float32]:
    """Return the float32 vector stored as ``data`` (native byte order, read-only view)."""
    return np.frombuffer(data, dtype=EMBEDDING_DTYPE).astype(np.float32, copy=False)


def _model_id(value: object) -> str:
    return _clean_text("model_id", value, max_chars=MODEL_ID_MAX_CHARS, label="The model id")


def add_template(
    session: Session,
    employee_id: int,
    *,
    embedding: npt.ArrayLike,
    model_id: str,
    source: TemplateSource,
    source_name: str | None = None,
    quality: float | None = None,
    face_crop: bytes | None = None,
    confirm_embedding: npt.ArrayLike | None = None,
    confirm_model_id: str | None = None,
) -> FaceTemplate:
    """Store one face embedding of an employee.

    Args:
        employee_id: whose face it is.
        embedding: 1-D float vector (stored as float32; L2-normalised by the embedder).
        model_id: the model version that produced it (e.g. ``"dlib_resnet_v1@3f2a..."``).
        source: ``"photo"``, ``"camera"`` or ``"import"``.
        source_name: the photo's file name; only its base name is kept, never a folder.
        quality: the quality score of the face, if measured.
        face_crop: a small JPEG of the aligned face, shown in the GUI.
        confirm_embedding: the same face by the confirming embedder ``confirm_model_id``.

    Raises:
        EmployeeNotFound: no such employee.
        ValidationError: a bad embedding, model id, source or file name.
        KeyMissingError: the data key is not on this computer (nothing is stored).
    """
    get_employee(session, employee_id)
    data, dim = embedding_to_bytes(embedding)
    if source not in TEMPLATE_SOURCES:
        raise ValidationError("source", f"Source must be one of {', '.join(TEMPLATE_SOURCES)}, "
                                        f"not {source!r}.")
    name: str | None = None
    if source_name is not None:
        # PureWindowsPath splits on both "/" and "\\": a UNC or POSIX folder never leaks in.
        name = _clean_optional("source_name", PureWindowsPath(source_name).name,
                               max_chars=SOURCE_NAME_MAX_CHARS, label="The file name")
    from turnstile.storage import crypto

    key_id = crypto.active_key_id(session)
    assert key_id is not None
    store = crypto.keys()
    store.key(key_id)  # KeyMissingError before anything is written
    # The associated data names the row, so the id is needed first: the row is inserted
    # with empty values, then given its ciphertext (plain bytes never reach the database).
    template = FaceTemplate(
        employee_id=employee_id,
        embedding_sealed=b"",
        dim=dim,
        model_id=_model_id(model_id),
        source=source,
        source_name=name,
        quality=_check_finite("quality", quality),
        key_id=key_id,
    )
    session.add(template)
    session.flush()
    template.embedding_sealed = store.seal(key_id, data, crypto.template_aad(
        "embedding", template.id, employee_id, template.model_id))
    if face_crop is not None:
        template.face_crop_sealed = store.seal(key_id, bytes(face_crop), crypto.template_aad(
            "face_crop", template.id, employee_id, template.model_id))
    if confirm_embedding is not None:
        _seal_confirm(template, confirm_embedding, confirm_model_id, store, key_id)
    session.flush()
    log.info("Template %d added for employee %d (model %s, %d dims)",
             template.id, employee_id, template.model_id, dim)
    return template


def _seal_confirm(template: FaceTemplate, embedding: npt.ArrayLike, model_id: str | None,
                  store: Any, key_id: str) -> None:
    from turnstile.storage import crypto

    data, _ = embedding_to_bytes(embedding)
    template.confirm_model_id = _model_id(model_id)
    template.confirm_sealed = store.seal(key_id, data, crypto.template_aad(
        "confirm_embedding", template.id, template.employee_id, template.confirm_model_id))


def set_confirm_embedding(session: Session, template_id: int, embedding: npt.ArrayLike,
                          model_id: str, *, from_crop: bool = True) -> bool:
    """Store the confirming embedder's embedding of an existing template's face (people
    enrolled before that embedder existed), encrypted with the template's data key (a row
    from before encryption stays plain, like its other columns, until it is protected).
    ``from_crop``: it was computed from the stored crop, not the photo (see
    :func:`load_confirm_rows`).

    Returns:
        False when the template no longer exists (deleted meanwhile).

    Raises:
        KeyMissingError: the data key is not on this computer.
    """
    from turnstile.storage import crypto

    template = session.get(FaceTemplate, template_id)
    if template is None:
        return False
    if template.key_id is None:
        data, _ = embedding_to_bytes(embedding)
        template.confirm_model_id = _model_id(model_id)
        template.confirm_sealed = data
    else:
        _seal_confirm(template, embedding, model_id, crypto.keys(), template.key_id)
    template.confirm_from_crop = from_crop
    session.flush()
    return True


def load_confirm_rows(session: Session, model_id: str, *, employee_id: int | None = None
                      ) -> list[GalleryRow]:
    """Every template's confirming embedding of this model (suspended and expired people
    included), decrypted: ``(template_id, employee_id, embedding)``.

    A person who has any embedding made from a photo gets only those: the ones rebuilt from a
    stored crop (made for people enrolled before the confirming embedder) are second best
    and would only dilute the fused template (measured on LFW with SFace: FNIR at FPIR 1e-2
    6.6 % from crops against 4.6 % from photos). A person with crop-made ones only keeps them.

    Raises:
        KeyMissingError, DataIntegrityError: as :func:`load_gallery_rows`.
    """
    from turnstile.storage import crypto

    stmt = select(FaceTemplate.id, FaceTemplate.employee_id, FaceTemplate.key_id,
                  FaceTemplate.confirm_sealed, FaceTemplate.confirm_from_crop
                  ).where(FaceTemplate.confirm_model_id == model_id)
    if employee_id is not None:
        stmt = stmt.where(FaceTemplate.employee_id == employee_id)
    rows = session.connection().execute(stmt).all()
    from_photo = {owner for _, owner, _, _, from_crop in rows if not from_crop}
    kept = [row[:4] for row in rows if not row[4] or row[1] not in from_photo]
    return crypto.open_embeddings(kept, model_id, "confirm_embedding")


def templates_without_confirm(session: Session, model_id: str, search_model_id: str
                              ) -> list[tuple[int, int]]:
    """``(template_id, employee_id)`` of the search model's templates that have no
    confirming embedding of ``model_id`` yet, oldest first."""
    stmt = (select(FaceTemplate.id, FaceTemplate.employee_id)
            .where(FaceTemplate.model_id == search_model_id,
                   or_(FaceTemplate.confirm_model_id.is_(None),
                       FaceTemplate.confirm_model_id != model_id))
            .order_by(FaceTemplate.id))
    return [(int(t), int(e)) for t, e in session.execute(stmt).all()]


def list_templates(
    session: Session, employee_id: int, *, model_id: str | None = None
) -> list[FaceTemplate]:
    """Return an employee's templates, oldest first, optionally of one model only."""
    stmt = select(FaceTemplate).where(FaceTemplate.employee_id == employee_id)
    if model_id is not None:
        stmt = stmt.where(FaceTemplate.model_id == model_id)
    return list(session.scalars(stmt.order_by(FaceTemplate.id)))


def delete_template(session: Session, template_id: int) -> bool:
    """Delete one template. Returns whether it existed."""
    result = session.execute(
        delete(FaceTemplate).where(FaceTemplate.id == template_id)
        .execution_options(synchronize_session="fetch")
    )
    return _rowcount(result) > 0


GalleryRow = tuple[int, int, bytes]
"""``(template_id, employee_id, embedding)``: the embedding decrypted, little-endian float32."""


def load_gallery_rows(
    session: Session, model_id: str, *, now: datetime | None = None,
    employee_id: int | None = None, everyone: bool = False,
) -> list[GalleryRow]:
    """Return the templates that may open the door now, for one model.

    Only templates of active employees whose validity period contains ``now`` (bounds
    inclusive, a missing bound is open), in no particular order. One query over three
    columns using the ``(model_id, employee_id)`` index, no ORM objects: 100k rows of 128
    dimensions load in about 0.3 s on a laptop.

    Args:
        model_id: the model whose embeddings are wanted (others are not comparable).
        now: the moment to check validity at (default: the current time, UTC).
        employee_id: only this person's rows (to refresh one person in the gallery).
        everyone: include suspended and expired employees too (duplicate checks, and telling
            a suspended person why the door stays shut).

    Raises:
        KeyMissingError: the data key is not on this computer: nobody can be recognised.
        DataIntegrityError: a stored template was changed or moved outside Turnstile.
    """
    from turnstile.storage import crypto

    columns = (FaceTemplate.id, FaceTemplate.employee_id, FaceTemplate.key_id,
               FaceTemplate.embedding_sealed)
    stmt = _gallery_select(columns, model_id, now, employee_id, everyone)
    # Core execution on the session's connection: no ORM row processing, ~30% faster.
    # No ORDER BY: the gallery does not care, and sorting 100k rows costs a temporary B-tree.
    rows = session.connection().execute(stmt).all()
    return crypto.open_embeddings(rows, model_id)


def allowed_template_ids(
    session: Session, model_id: str, *, now: datetime | None = None,
    employee_id: int | None = None,
) -> set[int]:
    """Ids of the templates :func:`load_gallery_rows` would return (without ``everyone``),
    without reading the embeddings."""
    stmt = _gallery_select((FaceTemplate.id,), model_id, now, employee_id, everyone=False)
    return set(session.connection().execute(stmt).scalars())


def _gallery_select(columns: tuple[Any, ...], model_id: str, now: datetime | None,
                    employee_id: int | None, everyone: bool) -> Select[Any]:
    moment = _check_aware("now", now) or utcnow()
    stmt = (
        select(*columns)
        .join(Employee, Employee.id == FaceTemplate.employee_id)
        .where(FaceTemplate.model_id == model_id)
    )
    if not everyone:
        stmt = stmt.where(
            Employee.status == "active",
            or_(Employee.valid_from.is_(None), Employee.valid_from <= moment),
            or_(Employee.valid_until.is_(None), Employee.valid_until >= moment),
        )
    if employee_id is not None:
        stmt = stmt.where(FaceTemplate.employee_id == employee_id)
    return stmt


def gallery_arrays(
    rows: Sequence[GalleryRow],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Turn :func:`load_gallery_rows` output into arrays for ``Gallery.from_arrays``.

    Returns:
        ``(template_ids (N,), employee_ids (N,), embeddings (N, D) float32)``; for no rows,
        ``D`` is 0.

    Raises:
        ValueError: the embeddings do not all have the same length.
    """
    n = len(rows)
    template_ids = np.fromiter((r[0] for r in rows), np.int64, count=n)
    employee_ids = np.fromiter((r[1] for r in rows), np.int64, count=n)
    if n == 0:
        return template_ids, employee_ids, np.zeros((0, 0), np.float32)
    size = len(rows[0][2])
    if size % EMBEDDING_DTYPE.itemsize or any(len(r[2]) != size for r in rows):
        raise ValueError("stored embeddings of one model have different lengths")
    flat = np.frombuffer(b"".join(r[2] for r in rows), dtype=EMBEDDING_DTYPE)
    return template_ids, employee_ids, flat.astype(np.float32).reshape(n, -1)


# --- doors --------------------------------------------------------------------------------


def get_or_create_door(session: Session, name: str) -> Door:
    """Return the door with this name, creating it if needed (safe against a concurrent
    creation by another station: the insert is ``ON CONFLICT DO NOTHING`` where supported).

    Raises:
        ValidationError: an empty or too long name.
    """
    clean = _clean_text("name", name, max_chars=DOOR_NAME_MAX_CHARS, label="The door name")
    door = session.scalar(select(Door).where(Door.name == clean))
    if door is not None:
        return door
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
        session.execute(
            insert(Door).values(name=clean, created_at=utcnow())
            .on_conflict_do_nothing(index_elements=[Door.name])
        )
        door = session.scalars(select(Door).where(Door.name == clean)).one()
    else:
        door = Door(name=clean)
        session.add(door)
        session.flush()
    log.info("Door %d ready", door.id)
    return door


def find_door(session: Session, name: str) -> Door | None:
    """The door with this name, or None (nothing is created)."""
    return session.scalar(select(Door).where(Door.name == name.strip()))


def list_doors(session: Session) -> list[Door]:
    """Return all doors ordered by name."""
    return list(session.scalars(select(Door).order_by(Door.name)))


# --- access events ------------------------------------------------------------------------


@dataclass(frozen=True)
class EventFilter:
    """Which access events to return. Every field left ``None`` means "any".

    Attributes:
        start: events at or after this moment (aware).
        end: events strictly before this moment (aware).
        employee_id: events of this employee.
        decisions: events with one of these decisions.
        door_id: events at this door.
    """

    start: datetime | None = None
    end: datetime | None = None
    employee_id: int | None = None
    decisions: Sequence[Decision] | None = None
    door_id: int | None = None


def add_event(
    session: Session,
    *,
    door_id: int,
    decision: Decision,
    at: datetime | None = None,
    employee_id: int | None = None,
    reason: str | None = None,
    score: float | None = None,
    threshold: float | None = None,
    liveness_score: float | None = None,
    model_id: str | None = None,
    snapshot: bytes | None = None,
) -> AccessEvent:
    """Record a decision taken at a door.

    Whether a snapshot is kept (the snapshot policy) is the caller's decision. A reason
    longer than the column is shortened rather than refused: losing an event is worse. The
    event is appended to the hash chain and its snapshot encrypted
    (:func:`turnstile.services.log_chain.append`); this takes the database's write lock.

    Raises:
        ValidationError: an unknown decision, a naive time or a non-finite score.
        KeyMissingError: a snapshot was given but the data key is not here (nothing written).
    """
    from turnstile.services import log_chain

    if decision not in DECISIONS:
        raise ValidationError("decision", f"Decision must be one of {', '.join(DECISIONS)}, "
                                          f"not {decision!r}.")
    if reason is not None:
        reason = unicodedata.normalize("NFC", reason).strip() or None
        if reason is not None and len(reason) > REASON_MAX_CHARS:
            reason = reason[: REASON_MAX_CHARS - 1] + "…"
    event = AccessEvent(
        at=_check_aware("at", at) or utcnow(),
        door_id=door_id,
        employee_id=employee_id,
        decision=decision,
        reason=reason,
        score=_check_finite("score", score),
        threshold=_check_finite("threshold", threshold),
        liveness_score=_check_finite("liveness_score", liveness_score),
        model_id=None if model_id is None else _model_id(model_id),
    )
    return log_chain.append(session, event, None if snapshot is None else bytes(snapshot))


def event_filter(stmt: Select[Any], flt: EventFilter | None, *,
                 time_ordered: bool = False) -> Select[Any]:
    """Add the ``WHERE`` clauses of ``flt`` to a select over ``access_events``.

    Args:
        time_ordered: read through the time index: the query reads rows newest first with a
            ``LIMIT``, or its date range is short. The decision and door conditions are then
            written so that the database cannot use their indexes (``decision || ''``,
            ``door_id + 0``): each matches a large share of the log, and SQLite would
            otherwise fetch all of them and sort (300-450 ms for 1M events) instead of
            walking the time index and stopping after one page (1-40 ms).
    """
    if flt is None:
        return stmt
    if flt.start is not None:
        stmt = stmt.where(AccessEvent.at >= _check_aware("start", flt.start))
    if flt.end is not None:
        stmt = stmt.where(AccessEvent.at < _check_aware("end", flt.end))
    if flt.employee_id is not None:
        stmt = stmt.where(AccessEvent.employee_id == flt.employee_id)
    if flt.decisions is not None:
        decision = AccessEvent.decision.concat("") if time_ordered else AccessEvent.decision
        stmt = stmt.where(decision.in_(list(flt.decisions)))
    if flt.door_id is not None:
        door = AccessEvent.door_id + 0 if time_ordered else AccessEvent.door_id
        stmt = stmt.where(door == flt.door_id)
    return stmt


def _event_select(newest_first: bool) -> Select[Any]:
    # Employee and door come in the same query (the GUI and the CSV show their names, and
    # the session is gone when they are read); the snapshot column stays deferred.
    order = (AccessEvent.at.desc(), AccessEvent.id.desc()) if newest_first else (
        AccessEvent.at.asc(), AccessEvent.id.asc())
    return (
        select(AccessEvent)
        .options(joinedload(AccessEvent.employee), joinedload(AccessEvent.door))
        .order_by(*order)
    )


def query_events(
    session: Session,
    flt: EventFilter | None = None,
    *,
    limit: int = 100,
    offset: int = 0,
    newest_first: bool = True,
) -> list[AccessEvent]:
    """Return one page of access events, newest first, with employee and door loaded.

    Snapshots are not loaded; use :func:`get_event_snapshot`.
    """
    stmt = event_filter(_event_select(newest_first), flt).limit(limit).offset(offset)
    return list(session.scalars(stmt))


def count_events(session: Session, flt: EventFilter | None = None) -> int:
    """Count the access events matching ``flt``."""
    return int(session.scalar(event_filter(select(func.count(AccessEvent.id)), flt)) or 0)


def iter_events(
    session: Session,
    flt: EventFilter | None = None,
    *,
    chunk_rows: int = EXPORT_CHUNK_ROWS,
    newest_first: bool = True,
) -> Iterator[AccessEvent]:
    """Yield every matching access event, in chunks of ``chunk_rows`` (for CSV export).

    Each chunk is one query continuing after the last row seen (keyset paging on
    ``(at, id)``), so the cost per chunk does not grow with the position in the log, and
    earlier chunks are released from the session as it goes.
    """
    last: tuple[datetime, int] | None = None
    while True:
        stmt = event_filter(_event_select(newest_first), flt)
        if last is not None:
            at, event_id = last
            if newest_first:
                stmt = stmt.where(or_(AccessEvent.at < at,
                                      and_(AccessEvent.at == at, AccessEvent.id < event_id)))
            else:
                stmt = stmt.where(or_(AccessEvent.at > at,
                                      and_(AccessEvent.at == at, AccessEvent.id > event_id)))
        chunk = list(session.scalars(stmt.limit(chunk_rows)))
        if not chunk:
            return
        yield from chunk
        last = (chunk[-1].at, chunk[-1].id)
        _expunge_all(session, chunk)
        if len(chunk) < chunk_rows:
            return


def _expunge_all(session: Session, events: Iterable[AccessEvent]) -> None:
    for event in events:
        if event in session:
            session.expunge(event)


def get_event_snapshot(session: Session, event_id: int) -> bytes | None:
    """Return the snapshot JPEG of one event, decrypted, or ``None`` if it has none (or no
    such event).

    Raises:
        KeyMissingError: the data key is not on this computer.
        DataIntegrityError: the stored snapshot was changed or moved outside Turnstile.
    """
    from turnstile.storage import crypto

    row = session.execute(select(AccessEvent.snapshot_key_id, AccessEvent.snapshot_sealed,
                                 AccessEvent.hash).where(AccessEvent.id == event_id)).first()
    if row is None:
        return None
    return crypto.open_snapshot(row[0], row[1], row[2])


# --- thresholds ---------------------------------------------------------------------------


def get_thresholds(session: Session, model_id: str) -> dict[str, float]:
    """Return the stored thresholds of a model version, by name (empty if none)."""
    rows = session.execute(
        select(ModelThreshold.name, ModelThreshold.value).where(ModelThreshold.model_id == model_id)
    )
    return {name: value for name, value in rows}


def get_threshold(session: Session, model_id: str, name: str) -> ModelThreshold | None:
    """Return one stored threshold with its provenance, or ``None``."""
    return session.get(ModelThreshold, (model_id, name))


def set_threshold(
    session: Session,
    model_id: str,
    name: str,
    value: float,
    *,
    target_far: float | None = None,
    source: str | None = None,
) -> ModelThreshold:
    """Store (insert or replace) a threshold of a model version.

    Args:
        model_id: the model version it was calibrated for.
        name: which threshold (e.g. ``"accept"``, ``"reject"``).
        value: the threshold.
        target_far: the false accept rate it was chosen for, if any.
        source: how it was obtained (e.g. ``"calibrated on LFW pairs, 2024-05-01"``).

    Raises:
        ValidationError: a bad name, model id, value or source.
    """
    model = _model_id(model_id)
    key = _clean_text("name", name, max_chars=THRESHOLD_NAME_MAX_CHARS, label="The name")
    number = _check_finite("value", value)
    assert number is not None
    far = _check_finite("target_far", target_far)
    if far is not None and not 0.0 <= far <= 1.0:
        raise ValidationError("target_far", "target_far must be between 0 and 1.")
    text = _clean_optional("source", source, max_chars=THRESHOLD_SOURCE_MAX_CHARS,
                           label="The source")
    row = session.get(ModelThreshold, (model, key))
    if row is None:
        row = ModelThreshold(model_id=model, name=key, value=number, target_far=far, source=text)
        session.add(row)
    else:
        row.value, row.target_far, row.source = number, far, text
        row.updated_at = utcnow()
    session.flush()
    log.info("Threshold %s of model %s set to %r", key, model, number)
    return row
