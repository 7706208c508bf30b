"""Enrollment, identification and verification through the services on PostgreSQL, with the
real models on real faces: the same answers as on SQLite, and one station's database work
seen by another station at once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from turnstile.app import AppContext
from turnstile.services.change_watch import ChangeWatcher
from turnstile.services.enrollment import DuplicateFaceError
from turnstile.storage import repositories as repo


@pytest.fixture
def desk(pg_url: str, photo_pipeline) -> Iterator[AppContext]:
    ctx = AppContext(database_url=pg_url)
    ctx._photo_pipeline = photo_pipeline  # the session's models (stateless, locked)
    yield ctx
    ctx.close()


@pytest.fixture
def people(shared_data: Path) -> Path:
    return shared_data / "people"


def test_enroll_identify_and_verify_on_postgres(desk: AppContext, people: Path) -> None:
    obama = desk.enrollment.enroll(str(people / "Barack_Obama/obama.jpg"),
                                   employee_number="E100", name="Barack Obama", consent=True)
    biden = desk.enrollment.enroll(str(people / "Joe_Biden/biden.jpg"),
                                   employee_number="E200", name="Joe Biden", consent=True)
    assert desk.db.engine.dialect.name == "postgresql"

    found = desk.recognition.identify(str(people / "Barack_Obama/obama2.jpg"))
    assert found.granted and found.person is not None
    assert found.person.employee_number == "E100"

    stranger = desk.recognition.identify(str(people / "Rose_Leslie/img1.jpg"))
    assert not stranger.granted and stranger.person is None

    same = desk.recognition.verify("E200", str(people / "Joe_Biden/biden2.jpg"))
    assert same.accepted
    other = desk.recognition.verify("E200", str(people / "Barack_Obama/obama1.jpg"))
    assert not other.accepted

    # The same face again under another number is caught by the duplicate check.
    with pytest.raises(DuplicateFaceError) as caught:
        desk.enrollment.enroll(str(people / "Barack_Obama/obama1.jpg"),
                               employee_number="E300", name="Someone Else", consent=True)
    assert caught.value.employee_number == "E100"
    with desk.db.session() as s:
        assert repo.count_employees(s) == 2
        assert [t.employee_id for t in repo.list_templates(s, obama.employee_id)] == \
            [obama.employee_id]
        assert len(repo.list_templates(s, biden.employee_id)) == 1


def test_a_suspension_at_the_desk_is_seen_by_another_station(pg_url: str, desk: AppContext,
                                                              people: Path,
                                                              photo_pipeline) -> None:
    result = desk.enrollment.enroll(str(people / "Barack_Obama/obama.jpg"),
                                    employee_number="E100", name="Barack Obama", consent=True)
    station = AppContext(database_url=pg_url)  # another computer, same database
    station._photo_pipeline = photo_pipeline
    try:
        watcher = ChangeWatcher(station.db)
        assert watcher.check()        # first look
        assert not watcher.check()    # nothing changed since
        assert station.recognition.identify(str(people / "Barack_Obama/obama1.jpg")).granted

        with desk.db.session() as s:
            repo.set_employee_status(s, result.employee_id, "suspended")
        assert watcher.check()        # the station notices ...
        station.galleries.reload()    # ... reloads ...
        station.recognition.forget(result.employee_id)
        refused = station.recognition.identify(str(people / "Barack_Obama/obama1.jpg"))
        assert not refused.granted    # ... and refuses him, saying why
        assert refused.refusal is not None and "suspended" in refused.refusal

        with desk.db.session() as s:
            repo.delete_employee(s, result.employee_id)
        assert watcher.check()
        station.galleries.reload()
        assert station.galleries.everyone.people == 0
    finally:
        station.close()
