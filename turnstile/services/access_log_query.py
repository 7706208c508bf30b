"""Reading the access log for review: pages of events, counts, charts and score histograms.

Everything here is plain SQL through SQLAlchemy Core (no ORM objects), so a page of events
costs one short query however long the log is:

* pages are read **by keyset**, continuing after the last ``(at, id)`` seen, never with a
  growing ``OFFSET``: the 2,000th page is as quick as the first;
* counts per hour/day are ``GROUP BY`` queries; only the (at most a few thousand) buckets
  travel to Python, where UTC hours are folded into the viewer's local hours and days;
* score histograms are ``GROUP BY`` over a bin number computed in SQL.

Nothing here returns snapshots except :func:`event_snapshot`, for one event at a time.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, Literal

from sqlalchemy import Integer, Select, case, cast, func, literal_column, or_, select

from turnstile import resources
from turnstile.storage import repositories as repo
from turnstile.storage.db import Database
from turnstile.storage.errors import DatabaseError
from turnstile.storage.models import AccessEvent, Door, Employee

log = logging.getLogger(__name__)

EventFilter = repo.EventFilter
"""Re-exported: which events to read (date range, person, decisions, door)."""

DEFAULT_PAGE_ROWS = 500
"""Events read per query when scrolling the log."""

GRANTED = "granted"
REFUSED_DECISIONS: tuple[str, ...] = ("denied", "unknown", "spoof")
"""The decisions that turned a face away; charted together as "denied". An ``error`` (the
camera was lost, the door failed) kept the door shut too but refused nobody: it is counted
apart."""
ERROR = "error"

NO_COMPARISON_SCORE = -1.0
"""The score recorded when there was nobody to compare the face with (nobody enrolled, or in
1:1 mode no stored face of the person claimed): not a similarity."""

Bucket = Literal["hour", "day"]


@dataclass(frozen=True)
class EventRow:
    """One access event as the log shows it (no snapshot, no biometric data).

    Attributes:
        id: the event id.
        at: when it happened, aware UTC (convert with ``.astimezone()`` to show).
        door_name: the door's name.
        employee_id, employee_number, employee_name: who it was about, or ``None`` for an
            unknown face (or a person since deleted).
        decision: ``granted``, ``denied``, ``unknown``, ``spoof`` or ``error``.
        reason, score, threshold, liveness_score: as recorded.
        has_snapshot: whether a camera snapshot is stored (read it with
            :func:`event_snapshot`).
        model_id: the face model whose scale ``score`` and ``threshold`` are on (each
            model has its own), or ``None`` when not recorded.
    """

    id: int
    at: datetime
    door_id: int
    door_name: str
    employee_id: int | None
    employee_number: str | None
    employee_name: str | None
    decision: str
    reason: str | None
    score: float | None
    threshold: float | None
    liveness_score: float | None
    has_snapshot: bool
    model_id: str | None = None

    @property
    def key(self) -> tuple[datetime, int]:
        """The keyset position of this row (newest first order is ``(at, id)`` descending)."""
        return (self.at, self.id)


def is_no_comparison(score: float | None) -> bool:
    """Whether ``score`` is :data:`NO_COMPARISON_SCORE` (nobody to compare with): cosine
    similarities of two real faces never come down to -1."""
    return score is not None and score <= NO_COMPARISON_SCORE + 1e-6


def scoring_model_name(model_id: str | None) -> str | None:
    """The face model a score was measured with, in words (``None``: not recorded).

    ``sface_2021dec@470ac55062b9/mesh5`` -> ``"SFace (confirming model)"``; a model this
    version does not know is named by its id without the file hash.
    """
    if not model_id:
        return None
    family = model_id.split("@")[0]
    names = {
        resources.confirm_model_id().split("@")[0]: "SFace (confirming model)",
        resources.embedder_model_id().split("@")[0]: "dlib ResNet (search model)",
    }
    return names.get(family, family)


@dataclass(frozen=True)
class DecisionCounts:
    """Granted, denied and error counts per time bucket, in the viewer's local time.

    Attributes:
        bucket: ``"hour"`` (each label is the start of a local hour) or ``"day"``.
        starts: the start of each bucket, local aware datetimes, oldest first, without gaps
            between the first and the last bucket that has events.
        granted, denied: counts per bucket (denied = :data:`REFUSED_DECISIONS`).
        errors: ``error`` events per bucket (no face was judged: not refusals).
    """

    bucket: Bucket
    starts: list[datetime]
    granted: list[int]
    denied: list[int]
    errors: list[int] = field(default_factory=list)

    @property
    def total_granted(self) -> int:
        return sum(self.granted)

    @property
    def total_denied(self) -> int:
        return sum(self.denied)

    @property
    def total_errors(self) -> int:
        return sum(self.errors)


@dataclass(frozen=True)
class HourOfDayCounts:
    """Granted, denied and error counts by local hour of the day (0..23), over a whole
    range (as in :class:`DecisionCounts`)."""

    granted: list[int]
    denied: list[int]
    errors: list[int] = field(default_factory=lambda: [0] * 24)


@dataclass(frozen=True)
class ScoreHistogram:
    """Histograms of recorded match scores, to guide the choice of thresholds.

    The log has no ground truth, so the best available stand-ins are used: scores of
    **granted** events (the door recognised an enrolled person: "genuine") and scores of
    **unknown** events (the best match of a face that was not accepted: "impostor"). A
    genuine person turned away as unknown lands in the second set, and an impostor let in
    in the first, so these are estimates.

    Attributes:
        edges: ``bins + 1`` bin edges, ascending.
        genuine, impostor: counts per bin.
    """

    edges: list[float]
    genuine: list[int]
    impostor: list[int]

    @property
    def genuine_total(self) -> int:
        return sum(self.genuine)

    @property
    def impostor_total(self) -> int:
        return sum(self.impostor)


# --- filtering ----------------------------------------------------------------------------


def apply_filter(stmt: Select[Any], flt: EventFilter | None, *,
                 time_ordered: bool = False) -> Select[Any]:
    """Add the ``WHERE`` clauses of ``flt`` (see :func:`repositories.event_filter`)."""
    return repo.event_filter(stmt, flt, time_ordered=time_ordered)


SHORT_RANGE = timedelta(days=31)
"""A date range up to this long is read through the time index even for counts: it holds
few events, while a door or a decision matches a large share of the whole log."""


def _short_range(flt: EventFilter | None) -> bool:
    if flt is None or flt.start is None:
        return False
    end = flt.end or datetime.now(UTC)
    return end - flt.start <= SHORT_RANGE


def _event_columns() -> Select[Any]:
    return (
        select(
            AccessEvent.id, AccessEvent.at, AccessEvent.door_id, Door.name,
            AccessEvent.employee_id, Employee.employee_number, Employee.name,
            AccessEvent.decision, AccessEvent.reason, AccessEvent.score,
            AccessEvent.threshold, AccessEvent.liveness_score,
            AccessEvent.snapshot.is_not(None), AccessEvent.model_id,
        )
        .select_from(AccessEvent)
        .join(Door, Door.id == AccessEvent.door_id)
        .outerjoin(Employee, Employee.id == AccessEvent.employee_id)
    )


def fetch_events(
    db: Database,
    flt: EventFilter | None = None,
    *,
    limit: int = DEFAULT_PAGE_ROWS,
    after: tuple[datetime, int] | None = None,
) -> list[EventRow]:
    """Return up to ``limit`` events matching ``flt``, newest first.

    Args:
        flt: which events (``None``: all).
        limit: at most this many.
        after: the :attr:`EventRow.key` of the last row already shown; the page continues
            with the events just older than it (keyset paging).

    Raises:
        DatabaseError: the database failed.
    """
    stmt = apply_filter(_event_columns(), flt, time_ordered=True)
    if after is not None:
        at, event_id = after
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("after must be a timezone-aware datetime")
        # "at <= X" first so that the time index gives a range to walk.
        stmt = stmt.where(AccessEvent.at <= at,
                          or_(AccessEvent.at < at, AccessEvent.id < event_id))
    stmt = stmt.order_by(AccessEvent.at.desc(), AccessEvent.id.desc()).limit(limit)
    with db.session() as s:
        rows = s.execute(stmt).all()
    return [EventRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11],
                     bool(r[12]), r[13]) for r in rows]


def count_events(db: Database, flt: EventFilter | None = None) -> int:
    """Count the events matching ``flt``.

    Raises:
        DatabaseError: the database failed.
    """
    stmt = apply_filter(select(func.count()).select_from(AccessEvent), flt,
                        time_ordered=_short_range(flt))
    with db.session() as s:
        return int(s.scalar(stmt) or 0)


def event_snapshot(db: Database, event_id: int) -> bytes | None:
    """Return the JPEG snapshot of one event, or ``None`` when it has none."""
    with db.session() as s:
        return repo.get_event_snapshot(s, event_id)


@dataclass(frozen=True)
class Choice:
    """An item of a filter list: an id and what to show."""

    id: int
    label: str


def door_choices(db: Database) -> list[Choice]:
    """Every door, by name (for the door filter)."""
    with db.session() as s:
        return [Choice(d.id, d.name) for d in repo.list_doors(s)]


def person_choices(db: Database) -> list[Choice]:
    """Every enrolled person as "Name (number)", by name (for the person filter)."""
    stmt = select(Employee.id, Employee.name, Employee.employee_number).order_by(
        Employee.name, Employee.id)
    with db.session() as s:
        return [Choice(i, f"{name} ({number})") for i, name, number in s.execute(stmt)]


# --- counts for the charts ----------------------------------------------------------------


def _utc_hour_expr(dialect: str) -> Any:
    """SQL for the UTC hour an event falls in, as text ``YYYY-MM-DD HH``."""
    if dialect == "sqlite":
        # ``at`` is stored as naive UTC text, so the prefix is the UTC hour.
        return func.substr(AccessEvent.at, 1, 13)
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", AccessEvent.at), "YYYY-MM-DD HH24")
    raise DatabaseError(f"The access-log charts support SQLite and PostgreSQL databases, "
                        f"not {dialect}.")


def _decision_sum(decision: str) -> Any:
    return func.sum(case((AccessEvent.decision == decision, 1), else_=0))


def hourly_utc_counts(db: Database, flt: EventFilter | None = None
                      ) -> list[tuple[datetime, int, int, int]]:
    """Granted, denied and error counts per UTC hour, counted by the database.

    Returns:
        ``(hour start aware UTC, granted, denied, errors)`` for each hour that has events,
        oldest first (denied: :data:`REFUSED_DECISIONS`).
    """
    dialect = db.engine.dialect.name
    hour = _utc_hour_expr(dialect).label("hour")
    stmt = apply_filter(
        select(hour, _decision_sum(GRANTED), _decision_sum(ERROR), func.count()
               ).select_from(AccessEvent), flt,
        time_ordered=_short_range(flt),
    ).group_by(hour).order_by(hour)
    with db.session() as s:
        rows = s.execute(stmt).all()
    out = []
    for text, granted, errors, total in rows:
        start = datetime.strptime(str(text), "%Y-%m-%d %H").replace(tzinfo=UTC)
        g, e = int(granted or 0), int(errors or 0)
        out.append((start, g, int(total) - g - e, e))
    return out


def _local_zone(tz: tzinfo | None) -> tzinfo:
    if tz is not None:
        return tz
    zone = datetime.now().astimezone().tzinfo
    assert zone is not None
    return zone


def decision_counts(db: Database, flt: EventFilter | None = None, *, bucket: Bucket = "day",
                    tz: tzinfo | None = None) -> DecisionCounts:
    """Granted, denied and error counts per local hour or local day.

    The database counts per UTC hour; those (few) buckets are then moved to the local
    time zone ``tz`` (default: this computer's), which is exact for every zone whose offset
    is a whole number of hours, daylight saving time included.

    Args:
        flt: which events.
        bucket: ``"hour"`` or ``"day"``.
        tz: the time zone to count in.
    """
    zone = _local_zone(tz)
    granted: dict[datetime, int] = {}
    denied: dict[datetime, int] = {}
    errors: dict[datetime, int] = {}
    for start_utc, g, d, e in hourly_utc_counts(db, flt):
        local = start_utc.astimezone(zone)
        if bucket == "day":
            key = datetime(local.year, local.month, local.day)
        else:
            key = datetime(local.year, local.month, local.day, local.hour)
        granted[key] = granted.get(key, 0) + g
        denied[key] = denied.get(key, 0) + d
        errors[key] = errors.get(key, 0) + e
    if not granted:
        return DecisionCounts(bucket, [], [], [], [])
    # Fill the gaps so that a quiet day shows as an empty bar, not as nothing.
    first, last = min(granted), max(granted)
    step = timedelta(days=1) if bucket == "day" else timedelta(hours=1)
    starts_naive = []
    cursor = first
    while cursor <= last:
        starts_naive.append(cursor)
        cursor += step
    return DecisionCounts(
        bucket,
        [_localize(k, zone) for k in starts_naive],
        [granted.get(k, 0) for k in starts_naive],
        [denied.get(k, 0) for k in starts_naive],
        [errors.get(k, 0) for k in starts_naive],
    )


def _localize(wall: datetime, zone: tzinfo) -> datetime:
    # zoneinfo zones take tzinfo= directly (fold 0); fixed-offset zones too.
    return wall.replace(tzinfo=zone)


def hour_of_day_counts(db: Database, flt: EventFilter | None = None, *,
                       tz: tzinfo | None = None) -> HourOfDayCounts:
    """Granted, denied and error counts by local hour of the day over the whole filtered
    range ("when is the door busy?")."""
    zone = _local_zone(tz)
    granted = [0] * 24
    denied = [0] * 24
    errors = [0] * 24
    for start_utc, g, d, e in hourly_utc_counts(db, flt):
        hour = start_utc.astimezone(zone).hour
        granted[hour] += g
        denied[hour] += d
        errors[hour] += e
    return HourOfDayCounts(granted, denied, errors)


# --- score histograms ---------------------------------------------------------------------


_FLOOR_SHIFT = 1_000_000

SCORE_HISTOGRAM_RANGE = (0.80, 1.00)
"""Cosine similarities below 0.8 are far from any threshold this model uses; they are
counted in the first bin."""


def score_histogram(db: Database, flt: EventFilter | None = None, *, bins: int = 40,
                    score_range: tuple[float, float] = SCORE_HISTOGRAM_RANGE,
                    model_id: str | None = None) -> ScoreHistogram:
    """Histograms of the scores of granted ("genuine") and unknown ("impostor") events.

    The bin of each score is computed in SQL; scores outside ``score_range`` are counted in
    the first or the last bin.

    Args:
        flt: which events (the decisions in it are ignored).
        bins: number of bins.
        score_range: ``(low, high)``.
        model_id: only events decided by this face model (each model has its own scale).
    """
    low, high = score_range
    if bins < 1 or not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        raise ValueError("bins must be >= 1 and the score range non-empty")
    width = (high - low) / bins
    scaled = (AccessEvent.score - low) / width
    if db.engine.dialect.name == "sqlite":
        # CAST truncates towards zero; shifting by a large whole number first makes it a
        # floor for every score above low - FLOOR_SHIFT * width. Then clamp into the bins.
        raw = cast(scaled + _FLOOR_SHIFT, Integer) - _FLOOR_SHIFT
        binned = func.max(0, func.min(bins - 1, raw))
    else:
        binned = func.greatest(0, func.least(bins - 1, cast(func.floor(scaled), Integer)))
    bin_col = binned.label("bin")
    base = EventFilter(start=flt.start, end=flt.end, employee_id=flt.employee_id,
                       door_id=flt.door_id) if flt is not None else None
    stmt = apply_filter(
        select(AccessEvent.decision, bin_col, func.count()).select_from(AccessEvent), base
    ).where(AccessEvent.score.is_not(None), AccessEvent.decision.in_([GRANTED, "unknown"])
            ).group_by(AccessEvent.decision, literal_column("bin"))
    if model_id is not None:
        stmt = stmt.where(AccessEvent.model_id == model_id)
    genuine = [0] * bins
    impostor = [0] * bins
    with db.session() as s:
        for decision, index, n in s.execute(stmt):
            target = genuine if decision == GRANTED else impostor
            target[int(index)] += int(n)
    edges = [low + i * width for i in range(bins + 1)]
    return ScoreHistogram(edges, genuine, impostor)


# --- helpers for the window ---------------------------------------------------------------


def local_day_range(first: date, last: date, tz: tzinfo | None = None
                    ) -> tuple[datetime, datetime]:
    """The aware UTC ``[start, end)`` covering the local days ``first`` to ``last``
    inclusive (for a date-range filter)."""
    zone = _local_zone(tz)
    start = datetime(first.year, first.month, first.day, tzinfo=zone)
    end_day = last + timedelta(days=1)
    end = datetime(end_day.year, end_day.month, end_day.day, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def decisions_or_none(selected: Iterable[str]) -> Sequence[repo.Decision] | None:
    """``None`` ("any") when every decision is selected, else the list."""
    chosen = [d for d in selected if d in repo.DECISIONS]
    return None if set(chosen) >= set(repo.DECISIONS) else chosen  # type: ignore[return-value]
