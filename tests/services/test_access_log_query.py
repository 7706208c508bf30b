"""The access log's queries: camera or door errors are counted apart from refusals, and an
event carries the face model its score was measured with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from turnstile import resources
from turnstile.services import access_log_query as q
from turnstile.storage import repositories as repo

PARIS = ZoneInfo("Europe/Paris")
T0 = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)


@pytest.fixture
def logged(db) -> dict[str, int]:
    """Two days at one door: 2 granted, 3 refused (unknown, spoof, denied), 4 errors."""
    sface = resources.confirm_model_id()
    with db.session() as s:
        door = repo.get_or_create_door(s, "Main").id
        ada = repo.create_employee(s, employee_number="E1", name="Ada").id
        rows = [("granted", ada, T0, 0.81, sface), ("granted", ada, T0 + timedelta(days=1),
                                                      0.79, sface),
                ("unknown", None, T0, -1.0, resources.embedder_model_id()),
                ("spoof", ada, T0 + timedelta(days=1), 0.80, sface),
                ("denied", ada, T0 + timedelta(days=1, hours=2), 0.80, sface)]
        rows += [("error", None, T0 + timedelta(minutes=i), None, None) for i in range(4)]
        for decision, employee, at, score, model_id in rows:
            repo.add_event(s, door_id=door, decision=decision, employee_id=employee, at=at,
                           score=score, threshold=0.4958 if score is not None else None,
                           model_id=model_id, reason="camera lost" if decision == "error"
                           else None)
    return {"ada": ada}


def test_errors_are_not_refusals(db, logged) -> None:
    assert "error" not in q.REFUSED_DECISIONS
    assert q.count_events(db, q.EventFilter(decisions=list(q.REFUSED_DECISIONS))) == 3
    days = q.decision_counts(db, bucket="day", tz=PARIS)
    assert days.granted == [1, 1] and days.denied == [1, 2] and days.errors == [4, 0]
    assert (days.total_granted, days.total_denied, days.total_errors) == (2, 3, 4)
    by_hour = q.hour_of_day_counts(db, tz=PARIS)
    assert by_hour.errors[9] == 4 and sum(by_hour.denied) == 3  # 08:00 UTC is 09:00 there
    only_errors = q.decision_counts(db, q.EventFilter(decisions=["error"]), tz=PARIS)
    assert only_errors.total_errors == 4 and only_errors.total_denied == 0


def test_an_event_names_the_model_of_its_score(db, logged) -> None:
    rows = {r.decision: r for r in q.fetch_events(db)}
    assert rows["spoof"].model_id == resources.confirm_model_id()
    assert q.scoring_model_name(rows["spoof"].model_id) == "SFace (confirming model)"
    assert rows["error"].model_id is None and q.scoring_model_name(None) is None
    unknown = rows["unknown"]
    assert q.is_no_comparison(unknown.score)
    assert not q.is_no_comparison(rows["spoof"].score) and not q.is_no_comparison(None)
