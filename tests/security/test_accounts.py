"""Accounts on a real SQLite file: hashing, wrong passwords, backoff and lockout, roles,
SQL-injection strings, and passwords kept out of logs and exceptions."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from turnstile.app import AppContext
from turnstile.services import auth as auth_module
from turnstile.services.audit import AuditFilter
from turnstile.services.auth import (
    AccountDisabledError,
    AccountError,
    AccountLockedError,
    AuthService,
    LoginError,
    hash_password,
    needs_rehash,
    verify_password,
)
from turnstile.storage.db import open_database

ADMIN_PW = "Tr0ub4dor&3-admin"
DESK_PW = "correct horse battery"


class Clock:
    """A clock the test moves forward (the lockout is about time, not about sleeping)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def real_kdf() -> None:
    """Ask for this to hash with the shipped scrypt parameters."""


@pytest.fixture(autouse=True)
def cheap_kdf(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Still scrypt, with 1/24 of the work: these tests are about logins, not hash strength
    (about 1 s a hash on a busy test machine otherwise). Hashes record their parameters, so
    verification follows whatever made them."""
    if "real_kdf" not in request.fixturenames:
        monkeypatch.setattr(auth_module, "SCRYPT_LOG2_N", 12)
        monkeypatch.setattr(auth_module, "SCRYPT_P", 1)
        monkeypatch.setattr(auth_module, "_DUMMY_HASH", None)


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "t.db"


@pytest.fixture
def db(db_file: Path) -> Iterator:
    database = open_database(f"sqlite:///{db_file}")
    yield database
    database.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def auth(db, clock: Clock) -> AuthService:
    service = AuthService(db, max_failed=5, lockout=timedelta(minutes=15), clock=clock)
    service.create_first_admin("boss", ADMIN_PW)
    service.create_account("desk", DESK_PW, "front_desk", actor="boss")
    return service


def _audit(db, **kwargs):
    from turnstile.services.audit import AuditService

    return AuditService(db).query(AuditFilter(**kwargs), newest_first=False)


def test_password_is_stored_as_a_salted_scrypt_hash(real_kdf: None, auth: AuthService,
                                                    db_file: Path) -> None:
    wal = db_file.parent / "t.db-wal"
    raw = db_file.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    assert ADMIN_PW.encode() not in raw and DESK_PW.encode() not in raw
    with sqlite3.connect(db_file) as connection:
        hashes = [h for (h,) in connection.execute("SELECT password_hash FROM accounts")]
    connection.close()
    assert len(hashes) == 2 and all(h.startswith("scrypt$15$8$3$") for h in hashes)
    # Same password twice -> two different hashes (random salt), both verify.
    first, second = hash_password(DESK_PW), hash_password(DESK_PW)
    assert first != second
    assert verify_password(DESK_PW, first) and verify_password(DESK_PW, second)
    assert not verify_password(DESK_PW + " ", first)
    assert not verify_password(DESK_PW, "not a hash")
    assert needs_rehash("scrypt$14$8$1$AAAA$BBBB") and not needs_rehash(first)


def test_right_password_logs_in_and_is_audited(auth: AuthService, db) -> None:
    user = auth.login("desk", DESK_PW)
    assert (user.username, user.role) == ("desk", "front_desk")
    assert user.may("enroll") and user.may("edit_people")
    assert not user.may("delete_people") and not user.may("export_log")
    assert not user.may("settings") and not user.may("accounts")
    assert auth.get_account("desk").last_login is not None
    (entry,) = _audit(db, actions=("login",), actor="desk")
    assert entry.success and entry.target == "desk"


def test_wrong_password_and_unknown_user_get_the_same_answer(auth: AuthService, db) -> None:
    with pytest.raises(LoginError) as wrong:
        auth.login("desk", "not the password")
    with pytest.raises(LoginError) as unknown:
        auth.login("nobody", "not the password")
    assert str(wrong.value) == str(unknown.value) == "Wrong user name or password."
    failed = _audit(db, actions=("login_failed",))
    assert [(e.target, e.success) for e in failed] == [("desk", False), ("nobody", False)]
    assert "wrong password" in failed[0].detail and "unknown user" in failed[1].detail
    assert auth.get_account("desk").failed_count == 1


def test_backoff_grows_then_the_account_locks(auth: AuthService, clock: Clock, db) -> None:
    with pytest.raises(LoginError) as first:  # a typo: no wait yet
        auth.login("desk", "typo 1")
    assert not isinstance(first.value, AccountLockedError)
    with pytest.raises(LoginError):
        auth.login("desk", "guess 2")
    # Failure 2: one second during which even the right password is not checked.
    with pytest.raises(AccountLockedError) as waiting:
        auth.login("desk", DESK_PW)
    assert waiting.value.retry_after_s == pytest.approx(1.0)
    assert "wait 1 second" in str(waiting.value)
    clock.advance(seconds=1.1)
    with pytest.raises(LoginError):
        auth.login("desk", "guess 3")
    with pytest.raises(AccountLockedError) as waiting:
        auth.login("desk", DESK_PW)
    assert waiting.value.retry_after_s == pytest.approx(2.0)  # doubled
    clock.advance(seconds=2.1)
    with pytest.raises(LoginError):
        auth.login("desk", "guess 4")
    clock.advance(seconds=4.1)
    with pytest.raises(AccountLockedError) as locked:  # failure 5: locked 15 minutes
        auth.login("desk", "guess 5")
    assert locked.value.retry_after_s == pytest.approx(15 * 60)
    assert "locked for 15 minutes" in str(locked.value)
    clock.advance(minutes=14)
    with pytest.raises(AccountLockedError):
        auth.login("desk", DESK_PW)
    assert auth.get_account("desk").failed_count == 5  # refused attempts are not counted
    clock.advance(minutes=1, seconds=1)
    assert auth.login("desk", DESK_PW).username == "desk"
    info = auth.get_account("desk")
    assert info.failed_count == 0 and info.locked_until is None
    details = [e.detail for e in _audit(db, actor="desk", actions=("login_failed",))]
    assert any("locked for 15 minutes after 5 failed attempts" in d for d in details)
    assert any(d.startswith("refused without checking") for d in details)


def test_an_admin_unlocks_a_locked_account(auth: AuthService, clock: Clock) -> None:
    for i in range(5):
        with pytest.raises(LoginError):
            auth.login("desk", f"guess number {i}")
        clock.advance(minutes=1)  # past each backoff
    with pytest.raises(AccountLockedError):
        auth.login("desk", DESK_PW)
    auth.set_disabled("desk", False, actor="boss")
    assert auth.login("desk", DESK_PW).username == "desk"


def test_disabled_account_cannot_log_in(auth: AuthService, db) -> None:
    auth.set_disabled("desk", True, actor="boss")
    with pytest.raises(AccountDisabledError, match="disabled"):
        auth.login("desk", DESK_PW)
    (entry,) = _audit(db, actions=("account_disable",))
    assert (entry.actor, entry.target) == ("boss", "desk")


def test_first_account_rules(db) -> None:
    auth = AuthService(db)
    with pytest.raises(AccountError, match="first account must be an admin"):
        auth.create_account("desk", DESK_PW, "front_desk", actor="os:someone")
    assert not auth.has_accounts()
    user = auth.create_first_admin("boss", ADMIN_PW)
    assert user.role == "admin"
    with pytest.raises(AccountError, match="exists already"):
        auth.create_first_admin("intruder", "another long password")
    assert [a.username for a in auth.list_accounts()] == ["boss"]


def test_the_last_admin_stays(auth: AuthService) -> None:
    with pytest.raises(AccountError, match="last admin"):
        auth.set_disabled("boss", True, actor="boss")
    with pytest.raises(AccountError, match="last admin"):
        auth.set_role("boss", "front_desk", actor="boss")
    auth.set_role("desk", "admin", actor="boss")
    auth.set_disabled("boss", True, actor="desk")  # another admin exists now
    assert auth.get_account("boss").disabled


@pytest.mark.parametrize(("password", "message"), [
    ("short", "at least 10"),
    ("desk", "at least 10"),
    ("aaaaaaaaaaaa", "too easy"),
    ("x" * 1025, "at most 1024"),
])
def test_weak_passwords_are_refused(auth: AuthService, password: str, message: str) -> None:
    with pytest.raises(AccountError, match=message):
        auth.create_account("newdesk", password, "front_desk", actor="boss")
    with pytest.raises(AccountError, match="must not be the user name"):
        auth.create_account("longusername", "LongUserName", "front_desk", actor="boss")
    assert [a.username for a in auth.list_accounts()] == ["boss", "desk"]


def test_change_password(auth: AuthService, db) -> None:
    with pytest.raises(AccountError, match="current password is wrong"):
        auth.change_password("desk", "a brand new secret", actor="desk",
                             old_password="wrong old one")
    auth.change_password("desk", "a brand new secret", actor="desk", old_password=DESK_PW)
    with pytest.raises(LoginError):
        auth.login("desk", DESK_PW)
    assert auth.login("desk", "a brand new secret")
    actions = [(e.action, e.success) for e in _audit(db, actions=("account_password",))]
    assert actions == [("account_password", False), ("account_password", True)]


INJECTIONS = [
    "Robert'); DROP TABLE accounts;--",
    "' OR '1'='1",
    'admin"--',
    "%_\\; DELETE FROM audit_entries WHERE 1=1; --",
]


@pytest.mark.parametrize("name", INJECTIONS)
def test_sql_injection_strings_are_plain_text(auth: AuthService, db, db_file: Path,
                                              name: str) -> None:
    auth.create_account(name, "a long enough secret", "front_desk", actor="boss")
    assert auth.get_account(name).username == name
    # As a password, an injection string is just a wrong password.
    with pytest.raises(LoginError):
        auth.login("boss", "' OR '1'='1")
    with pytest.raises(LoginError):
        auth.login(name, "' OR 1=1 --")
    assert auth.login(name, "a long enough secret").username == name
    assert sorted(a.username for a in auth.list_accounts()) == sorted(["boss", "desk", name])
    # Stored verbatim, every table still there, audit searchable by the literal text.
    with sqlite3.connect(db_file) as connection:
        names = {n for (n,) in connection.execute("SELECT username FROM accounts")}
        tables = {t for (t,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
    connection.close()
    assert name in names and {"accounts", "audit_entries", "employees"} <= tables
    found = _audit(db, text=name, actions=("account_add",))
    assert [e.target for e in found] == [name]
    assert len(_audit(db)) >= 5  # nothing was deleted from the audit trail


def test_control_characters_in_user_names_are_refused(auth: AuthService) -> None:
    for bad in ("", "   ", "two\nlines", "tab\there", "x" * 65):
        with pytest.raises(AccountError):
            auth.create_account(bad, "a long enough secret", "front_desk", actor="boss")


def test_passwords_never_reach_logs_or_exceptions(db, clock: Clock,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = ["first-admin-secret!", "wrong-guess-secret", "second-desk-secret",
               "renewed-desk-secret"]
    auth = AuthService(db, max_failed=3, clock=clock)
    messages: list[str] = []
    auth.create_first_admin("boss", secrets[0])
    auth.create_account("desk", secrets[2], "front_desk", actor="boss")
    for _ in range(4):
        try:
            auth.login("desk", secrets[1])
        except LoginError as exc:
            messages += [str(exc), repr(exc), str(exc.args)]
    try:
        auth.create_account("weak", "short", "front_desk", actor="boss")
    except AccountError as exc:
        messages += [str(exc), repr(exc)]
    auth.change_password("desk", secrets[3], actor="boss")
    from turnstile.services.audit import AuditService

    trail = " ".join(f"{e.actor} {e.target} {e.detail}" for e in AuditService(db).query())
    logged = caplog.text + " ".join(messages) + trail
    assert "locked" in logged  # the failures were reported...
    for secret in [*secrets, "short"]:
        assert secret not in logged  # ...without a password


def test_app_context_audits_as_the_current_user(tmp_path: Path) -> None:
    ctx = AppContext(database_url=f"sqlite:///{tmp_path / 'ctx.db'}")
    try:
        ctx.audit("export", "file x.csv")
        ctx.current_user = ctx.auth.create_first_admin("boss", ADMIN_PW)
        assert ctx.may("delete_people")
        ctx.audit("export", "file y.csv")
        entries = ctx.audit_trail.query(AuditFilter(actions=("export",)), newest_first=False)
        assert [(e.actor, e.target) for e in entries] == [("system", "file x.csv"),
                                                          ("boss", "file y.csv")]
        ctx.current_user = None
        assert not ctx.may("enroll")
    finally:
        ctx.close()
