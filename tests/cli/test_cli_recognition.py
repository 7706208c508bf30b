"""Enroll from one photo, then ask "is this Obama?" and "who is this?" on other photos, with the
real models and a real SQLite file; suspend, reactivate and delete change the answers."""

from __future__ import annotations

import json

from cli_support import count_rows


def _enroll_obama(cli, photos):
    done = cli("enroll", photos["obama"], "--number", "E-100", "--name", "Barack Obama",
               "--department", "Executive", "--consent")
    assert done.code == 0, done.err
    assert "E-100" in done.out
    return done


def test_enroll_then_identify_another_photo_finds_him(cli, photos, db_file):
    done = _enroll_obama(cli, photos)
    assert "template" in done.out
    assert count_rows(db_file, "employees") == 1
    assert count_rows(db_file, "face_templates") == 1

    answer = cli("identify", photos["obama1"], "--json")
    assert answer.code == 0, answer.out + answer.err
    result = json.loads(answer.out)
    assert result["answer"] == "granted" and result["granted"] is True
    assert result["employee_number"] == "E-100"
    assert result["name"] == "Barack Obama"
    assert result["score"] >= result["thresholds"]["accept"]
    assert result["decided_by"] == "confirm"  # the cascade's stronger model decided
    assert "embedding" not in answer.out

    text = cli("identify", photos["obama2"])
    assert text.code == 0
    assert text.out.startswith("Known: employee E-100 (Barack Obama)")
    assert "door would open" in text.out


def test_a_stranger_is_unknown_with_exit_code_3(cli, photos):
    _enroll_obama(cli, photos)
    answer = cli("identify", photos["biden"], "--json")
    assert answer.code == 3
    result = json.loads(answer.out)
    assert result["answer"] == "unknown" and result["granted"] is False
    assert result["employee_number"] is None
    assert result["score"] < result["thresholds"]["reject"]
    assert cli("identify", photos["biden2"]).out.startswith("Unknown:")


def test_identify_on_an_empty_database_says_unknown(cli, photos):
    answer = cli("identify", photos["obama"])
    assert answer.code == 3
    assert answer.out.startswith("Unknown:")


def test_verify_same_person_exit_0_other_person_exit_3(cli, photos):
    _enroll_obama(cli, photos)
    same = cli("verify", "E-100", photos["obama2"], "--json")
    assert same.code == 0, same.err
    result = json.loads(same.out)
    assert result["same_person"] is True and result["employee_number"] == "E-100"
    assert result["score"] >= result["threshold"]
    assert result["decided_by"] == "confirm"

    other = cli("verify", "E-100", photos["biden"])
    assert other.code == 3
    assert other.out.startswith("Not the same person as employee E-100")

    nobody = cli("verify", "E-999", photos["obama2"])
    assert nobody.code == 1
    assert "No employee has number 'E-999'" in nobody.err


def test_suspended_person_is_recognised_but_refused_then_let_in_again(cli, photos):
    _enroll_obama(cli, photos)
    assert cli("employees", "suspend", "E-100").code == 0

    refused = cli("identify", photos["obama1"], "--json")
    assert refused.code == 3
    result = json.loads(refused.out)
    assert result["answer"] == "refused" and result["refusal"] == "suspended"
    assert result["employee_number"] == "E-100"
    text = cli("identify", photos["obama1"])
    assert text.out.startswith("Refused: employee E-100") and "suspended" in text.out
    # 1:1 still answers the question asked ("is this him?") and notes the suspension.
    same = cli("verify", "E-100", photos["obama2"])
    assert same.code == 0 and "suspended" in same.out

    assert cli("employees", "activate", "E-100").code == 0
    assert cli("identify", photos["obama1"]).code == 0


def test_expired_validity_refuses_with_the_date(cli, photos):
    _enroll_obama(cli, photos)
    assert cli("employees", "edit", "E-100", "--valid-until", "2020-06-30").code == 0
    answer = cli("identify", photos["obama1"], "--json")
    assert answer.code == 3
    assert json.loads(answer.out)["refusal"] == "expired on 2020-06-30"
    assert cli("employees", "edit", "E-100", "--valid-until", "").code == 0
    assert cli("identify", photos["obama1"]).code == 0


def test_delete_needs_yes_then_removes_person_and_templates(cli, photos, db_file):
    _enroll_obama(cli, photos)
    assert cli("employees", "add-photo", "E-100", photos["obama2"]).code == 0
    assert count_rows(db_file, "face_templates") == 2

    refused = cli("employees", "delete", "E-100")
    assert refused.code == 1
    assert "--yes" in refused.err and "Nothing was deleted" in refused.err
    assert count_rows(db_file, "employees") == 1

    from turnstile.storage.db import backup_sqlite

    backup_sqlite(db_file, "0004")  # as a migration leaves one beside the database
    deleted = cli("employees", "delete", "E-100", "--yes")
    assert deleted.code == 0, deleted.err
    assert "2 face templates" in deleted.out
    assert "1 database backup cleaned." in deleted.out and "warning" not in deleted.err
    [backup] = db_file.parent.glob(db_file.name + ".bak-0004-*")
    assert count_rows(backup, "face_templates") == 0
    assert count_rows(db_file, "employees") == 0
    assert count_rows(db_file, "face_templates") == 0

    gone = cli("employees", "show", "E-100")
    assert gone.code == 1 and "No employee has number 'E-100'" in gone.err
    assert cli("identify", photos["obama1"]).code == 3


def test_a_second_face_photo_and_replacing_photos(cli, photos, db_file):
    _enroll_obama(cli, photos)
    added = cli("employees", "add-photo", "E-100", photos["obama2"])
    assert added.code == 0, added.err
    assert added.out.startswith("Added a face photo to employee E-100")
    shown = json.loads(cli("employees", "show", "E-100", "--json").out)
    assert [t["source_name"] for t in shown["templates"]] == ["obama.jpg", "obama2.jpg"]

    replaced = cli("employees", "add-photo", "E-100", photos["obama1"], "--replace")
    assert replaced.code == 0, replaced.err
    shown = json.loads(cli("employees", "show", "E-100", "--json").out)
    assert [t["source_name"] for t in shown["templates"]] == ["obama1.jpg"]
    assert count_rows(db_file, "face_templates") == 1

    group = cli("employees", "add-photo", "E-100", photos["two_people"])
    assert group.code == 1 and "2 faces" in group.err
    assert count_rows(db_file, "face_templates") == 1


def test_someone_elses_face_is_not_added_to_a_person_without_force(cli, photos, db_file):
    _enroll_obama(cli, photos)
    wrong = cli("employees", "add-photo", "E-100", photos["biden"])
    assert wrong.code == 1
    assert "does not look like employee E-100" in wrong.err and "--force" in wrong.err
    assert count_rows(db_file, "face_templates") == 1
    assert cli("identify", photos["biden2"]).code == 3  # Biden still cannot pass as Obama

    forced = cli("employees", "add-photo", "E-100", photos["biden"], "--force")
    assert forced.code == 0, forced.err
    assert count_rows(db_file, "face_templates") == 2
