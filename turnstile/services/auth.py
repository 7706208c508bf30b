"""Operator accounts: password hashing, login with backoff and lockout, roles.

Roles:

- ``front_desk``: enroll people, edit their details, suspend and re-activate them, add
  photos, import a CSV of people.
- ``admin``: everything a front desk may do, and delete people, see and export the access
  log, change settings, manage accounts, read and export the audit trail.

Passwords are hashed with scrypt (:func:`hashlib.scrypt`, memory-hard: 32 MiB per hash),
with the OWASP-equivalent parameter set N=2^15, r=8, p=3 and a 16-byte random salt. The
parameters are stored with each hash (``scrypt$15$8$3$<salt>$<key>``), so they can be raised
later: a login with an older set re-hashes the password.

Failed logins: after the k-th failure in a row (k >= 2) an account refuses every attempt
(without even checking it) for ``2^(k-2)`` seconds, up to :data:`BACKOFF_MAX_S`; after
``max_failed`` failures it is locked for ``lockout`` (15 minutes by default) or until an
admin enables it again. A wrong password and an unknown user name get the same message and
take the same time, so the login does not reveal which accounts exist.

Before any account exists: the desktop app asks for the first admin at start; the command
line lets only the OS user who owns the data folder (the folder of the SQLite database file,
or Turnstile's data folder for a database server) run commands that need a role, and records
them as ``os:<login>``. ``turnstile accounts add NAME --role admin`` creates that first
admin; from then on every such command needs ``--user``.

Nothing here logs or raises with a password in it; log lines carry account ids only.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import hmac
import logging
import os
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from turnstile.errors import TurnstileError
from turnstile.services import audit as audit_actions
from turnstile.services.audit import add_entry
from turnstile.storage.accounts import ROLES, USERNAME_MAX_CHARS, Account
from turnstile.storage.db import Database
from turnstile.storage.models import utcnow

log = logging.getLogger(__name__)

Role = Literal["front_desk", "admin"]
FRONT_DESK: Role = "front_desk"
ADMIN: Role = "admin"
ROLE_LABELS: dict[str, str] = {FRONT_DESK: "front desk", ADMIN: "admin"}
_ROLE_RANK: dict[str, int] = {FRONT_DESK: 1, ADMIN: 2}

PERMISSIONS: dict[str, Role] = {
    "enroll": FRONT_DESK,
    "edit_people": FRONT_DESK,
    "import_people": FRONT_DESK,
    "delete_people": ADMIN,
    "view_log": ADMIN,
    "export_log": ADMIN,
    "settings": ADMIN,
    "accounts": ADMIN,
    "audit": ADMIN,
}
"""What each permission needs at least (an admin has every front-desk permission)."""

SCRYPT_LOG2_N = 15
"""CPU/memory cost 2^15: 128 * r * N = 32 MiB per hash. Higher is stricter and slower."""
SCRYPT_R = 8
SCRYPT_P = 3
"""N=2^15, r=8, p=3 is one of OWASP's equivalent scrypt settings (Password Storage Cheat
Sheet); about 0.4 s per hash on a small PC."""
SCRYPT_KEY_BYTES = 32
SALT_BYTES = 16
_SCRYPT_MAXMEM = 256 * 1024 * 1024

MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1024
"""Longer input is refused before hashing (a megabyte "password" is an attack on the CPU)."""

DEFAULT_MAX_FAILED = 5
DEFAULT_LOCKOUT = timedelta(minutes=15)
BACKOFF_BASE_S = 1.0
BACKOFF_MAX_S = 60.0

OS_ACTOR_PREFIX = "os:"


class AuthError(TurnstileError):
    """Base of the account and login errors (messages never hold a password)."""


class LoginError(AuthError):
    """The user name or the password is wrong, or the account may not log in now."""


class AccountLockedError(LoginError):
    """Too many failed logins: no attempt is checked before ``retry_after_s`` seconds."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class AccountDisabledError(LoginError):
    """The password is right but the account was disabled by an admin."""


class PermissionDenied(AuthError):
    """The logged-in account's role may not do this (or nobody is logged in)."""


class AccountError(AuthError):
    """An account cannot be created or changed as asked (the message says why).

    Attributes:
        field: ``"username"``, ``"password"`` or ``"role"`` when one value is at fault.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class AccountNotFound(AccountError):
    """No account has that user name."""


# --- roles --------------------------------------------------------------------------------


def role_allows(role: str | None, needed: str) -> bool:
    """Whether an account of ``role`` may do what needs ``needed`` (a role name)."""
    return role is not None and _ROLE_RANK.get(role, 0) >= _ROLE_RANK[needed]


def role_label(role: str) -> str:
    """``"front desk"`` or ``"admin"``."""
    return ROLE_LABELS.get(role, role)


@dataclass(frozen=True)
class CurrentUser:
    """Who is logged in (no password, no hash)."""

    account_id: int
    username: str
    role: str

    def has_role(self, needed: str) -> bool:
        """Whether this account has ``needed`` or a higher role."""
        return role_allows(self.role, needed)

    def may(self, permission: str) -> bool:
        """Whether this account has ``permission`` (a key of :data:`PERMISSIONS`)."""
        return role_allows(self.role, PERMISSIONS[permission])


@dataclass(frozen=True)
class AccountInfo:
    """An account as plain values, for lists (the hash stays in the database)."""

    id: int
    username: str
    role: str
    disabled: bool
    created_at: datetime
    last_login: datetime | None
    failed_count: int
    locked_until: datetime | None

    @classmethod
    def of(cls, a: Account) -> AccountInfo:
        return cls(a.id, a.username, a.role, bool(a.disabled), a.created_at, a.last_login,
                   a.failed_count, a.locked_until)

    def locked(self, now: datetime | None = None) -> bool:
        """Whether logins are refused at ``now`` because of failed attempts."""
        return self.locked_until is not None and (now or utcnow()) < self.locked_until


# --- passwords ----------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int, key_bytes: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=1 << log2_n, r=r, p=p,
                          maxmem=_SCRYPT_MAXMEM, dklen=key_bytes)


def hash_password(password: str) -> str:
    """Hash a password for storage: ``scrypt$<log2 N>$<r>$<p>$<salt b64>$<key b64>``."""
    salt = secrets.token_bytes(SALT_BYTES)
    key = _scrypt(password, salt, SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P, SCRYPT_KEY_BYTES)
    return f"scrypt${SCRYPT_LOG2_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches the stored hash (constant-time comparison). A hash
    that cannot be read never matches."""
    try:
        scheme, log2_n, r, p, salt_b64, key_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        salt, key = base64.b64decode(salt_b64), base64.b64decode(key_b64)
        candidate = _scrypt(password, salt, int(log2_n), int(r), int(p), len(key))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(candidate, key)


def needs_rehash(stored: str) -> bool:
    """Whether a stored hash was made with weaker parameters than today's."""
    try:
        scheme, log2_n, r, p, _salt, _key = stored.split("$")
        return (scheme != "scrypt" or int(log2_n) < SCRYPT_LOG2_N or int(r) < SCRYPT_R
                or int(p) < SCRYPT_P)
    except ValueError:
        return True


_DUMMY_HASH: str | None = None


def _burn_time(password: str) -> None:
    """Spend the time of one verification, so an unknown user name answers as slowly as a
    wrong password."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
    verify_password(password, _DUMMY_HASH)


def normalize_username(username: str) -> str:
    """The user name as stored: NFC, surrounding spaces removed.

    Any printable characters are allowed (quotes and SQL keywords are just characters:
    every query binds parameters).

    Raises:
        AccountError: empty, too long, or holding control characters.
    """
    if not isinstance(username, str):
        raise AccountError("A user name is text.", "username")
    name = unicodedata.normalize("NFC", username).strip()
    if not name:
        raise AccountError("Type a user name.", "username")
    if len(name) > USERNAME_MAX_CHARS:
        raise AccountError(f"A user name has at most {USERNAME_MAX_CHARS} characters.",
                           "username")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        raise AccountError("A user name cannot hold control characters or line breaks.",
                           "username")
    return name


def check_password_policy(password: str, username: str | None = None) -> None:
    """Refuse a password too weak to protect biometric data.

    Raises:
        AccountError: shorter than :data:`MIN_PASSWORD_CHARS`, longer than
            :data:`MAX_PASSWORD_CHARS`, or the user name itself (``field="password"``).
    """
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(f"A password needs at least {MIN_PASSWORD_CHARS} characters.",
                           "password")
    if len(password) > MAX_PASSWORD_CHARS:
        raise AccountError(f"A password has at most {MAX_PASSWORD_CHARS} characters.",
                           "password")
    if username is not None and password.strip().casefold() == username.strip().casefold():
        raise AccountError("The password must not be the user name.", "password")
    if len(set(password)) < 4:
        raise AccountError("That password is too easy to guess: use more different "
                           "characters.", "password")


def backoff_s(failures: int) -> float:
    """Seconds during which no attempt is checked after ``failures`` failures in a row:
    none after the first (a typo), then 1, 2, 4, ... up to :data:`BACKOFF_MAX_S`."""
    if failures <= 1:
        return 0.0
    return min(BACKOFF_BASE_S * 2 ** (failures - 2), BACKOFF_MAX_S)


def _attempts(n: int) -> str:
    return f"{n} failed attempt{'' if n == 1 else 's'}"


def _wait_text(seconds: float) -> str:
    seconds = max(1, round(seconds))
    if seconds < 90:
        return f"{seconds} second{'' if seconds == 1 else 's'}"
    minutes = round(seconds / 60)
    return f"{minutes} minute{'' if minutes == 1 else 's'}"


# --- the OS-owner rule before the first account -------------------------------------------


def os_actor() -> str:
    """``os:<login>`` of the user running this process."""
    try:
        name = getpass.getuser()
    except (OSError, KeyError, ImportError):
        name = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return OS_ACTOR_PREFIX + name


def data_folder_of(database_url: str) -> Path:
    """The folder whose owner may act before any account exists: the folder of the SQLite
    file, or Turnstile's data folder for a database server or an in-memory database."""
    from turnstile.config import data_dir

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).expanduser().resolve().parent
    return data_dir().resolve()


def owns_folder(folder: Path) -> bool:
    """Whether the user running this process owns ``folder`` (or, for a folder not made
    yet, its nearest existing parent). On systems without user ids (Windows) the test is
    whether the folder is writable, which for a per-user data folder is the same."""
    path = folder
    while not path.exists() and path.parent != path:
        path = path.parent
    if hasattr(os, "getuid"):
        try:
            return path.stat().st_uid == os.getuid()
        except OSError:
            return False
    return os.access(path, os.W_OK)


# --- the service --------------------------------------------------------------------------


class AuthService:
    """Accounts and logins over the database.

    Args:
        db: the database.
        max_failed: failed logins in a row that lock an account.
        lockout: how long a locked account stays locked.
        clock: the current time as an aware UTC datetime (tests move it forward).
    """

    def __init__(self, db: Database, *, max_failed: int = DEFAULT_MAX_FAILED,
                 lockout: timedelta = DEFAULT_LOCKOUT,
                 clock: Callable[[], datetime] = utcnow) -> None:
        if max_failed < 1:
            raise ValueError("max_failed must be at least 1")
        self.db = db
        self.max_failed = max_failed
        self.lockout = lockout
        self.clock = clock

    # -- reading ---------------------------------------------------------------------------
    def has_accounts(self) -> bool:
        """Whether any account exists (disabled ones count)."""
        with self.db.session() as s:
            return bool(s.execute(select(func.count(Account.id))).scalar_one())

    def list_accounts(self) -> list[AccountInfo]:
        """Every account, by user name."""
        with self.db.session() as s:
            return [AccountInfo.of(a) for a in
                    s.scalars(select(Account).order_by(Account.username, Account.id))]

    def get_account(self, username: str) -> AccountInfo:
        """One account.

        Raises:
            AccountNotFound: no account has that user name.
        """
        with self.db.session() as s:
            return AccountInfo.of(self._find(s, username))

    @staticmethod
    def _find(s: Session, username: str) -> Account:
        name = normalize_username(username)
        account = s.scalar(select(Account).where(Account.username == name))
        if account is None:
            raise AccountNotFound(f"No account is named {name!r}.", "username")
        return account

    # -- creating --------------------------------------------------------------------------
    def create_account(self, username: str, password: str, role: str, *, actor: str
                       ) -> AccountInfo:
        """Create an account. The first account must be an admin (otherwise nobody could
        manage accounts).

        Raises:
            AccountError: a bad user name, a weak password, an unknown role, a name taken,
                or a first account that is not an admin.
        """
        name = normalize_username(username)
        if role not in ROLES:
            raise AccountError(f"A role is front_desk or admin, not {role!r}.", "role")
        check_password_policy(password, name)
        hashed = hash_password(password)
        with self.db.session() as s:
            if s.scalar(select(Account.id).where(Account.username == name)) is not None:
                raise AccountError(f"An account named {name!r} exists already.", "username")
            first = not s.execute(select(func.count(Account.id))).scalar_one()
            if first and role != ADMIN:
                raise AccountError("The first account must be an admin (an admin is needed to "
                                   "manage the others).", "role")
            account = Account(username=name, password_hash=hashed, role=role,
                              created_at=self.clock(), disabled=False, failed_count=0)
            s.add(account)
            s.flush()
            add_entry(s, actor=actor, action=audit_actions.ACCOUNT_ADD, target=name,
                      detail=f"role {role}" + (" (first account)" if first else ""),
                      at=self.clock())
            info = AccountInfo.of(account)
        log.info("Account #%d created (%s)", info.id, role)
        return info

    def create_first_admin(self, username: str, password: str) -> CurrentUser:
        """Create the first admin and log them in. Refused once any account exists (two
        windows racing through the first run cannot both create one).

        Raises:
            AccountError: bad values, or an account exists already.
        """
        name = normalize_username(username)
        check_password_policy(password, name)
        hashed = hash_password(password)
        now = self.clock()
        with self.db.session() as s:
            if s.execute(select(func.count(Account.id))).scalar_one():
                raise AccountError("An admin account exists already: log in with it.")
            account = Account(username=name, password_hash=hashed, role=ADMIN, created_at=now,
                              disabled=False, failed_count=0, last_login=now)
            s.add(account)
            s.flush()
            add_entry(s, actor=name, action=audit_actions.ACCOUNT_ADD, target=name,
                      detail="role admin (first account, created at first run)", at=now)
            add_entry(s, actor=name, action=audit_actions.LOGIN, target=name,
                      detail="first run", at=now)
            user = CurrentUser(account.id, account.username, account.role)
        log.info("First admin account #%d created", user.account_id)
        return user

    # -- logging in ------------------------------------------------------------------------
    def login(self, username: str, password: str, *, via: str = "desktop app") -> CurrentUser:
        """Check a user name and password; record the attempt in the audit trail.

        Raises:
            AccountLockedError: too many failures: the attempt was not even checked.
            AccountDisabledError: the account is disabled.
            LoginError: the user name or the password is wrong (one message for both).
        """
        try:
            name = normalize_username(username)
        except AccountError:
            raise LoginError("Wrong user name or password.") from None
        if not isinstance(password, str) or len(password) > MAX_PASSWORD_CHARS:
            password = ""
        now = self.clock()
        failure: LoginError | None = None
        user: CurrentUser | None = None
        with self.db.session() as s:
            account = s.scalar(select(Account).where(Account.username == name))
            if account is None:
                _burn_time(password)
                add_entry(s, actor=name, action=audit_actions.LOGIN_FAILED, target=name,
                          detail=f"unknown user name ({via})", success=False, at=now)
                failure = LoginError("Wrong user name or password.")
            elif account.locked_until is not None and now < account.locked_until:
                wait = (account.locked_until - now).total_seconds()
                add_entry(s, actor=name, action=audit_actions.LOGIN_FAILED, target=name,
                          detail=f"refused without checking: locked after "
                                 f"{_attempts(account.failed_count)} ({via})",
                          success=False, at=now)
                failure = AccountLockedError(
                    f"Too many failed attempts: wait {_wait_text(wait)} before trying again "
                    f"(or ask an admin to unlock the account).", wait)
            elif not verify_password(password, account.password_hash):
                account.failed_count += 1
                if account.failed_count >= self.max_failed:
                    account.locked_until = now + self.lockout
                    wait = self.lockout.total_seconds()
                    detail = (f"wrong password; account locked for {_wait_text(wait)} after "
                              f"{_attempts(account.failed_count)} ({via})")
                    failure = AccountLockedError(
                        f"Wrong user name or password. Too many failed attempts: the account "
                        f"is locked for {_wait_text(wait)} (or until an admin unlocks it).",
                        wait)
                    log.warning("Account #%d locked after %d failed logins", account.id,
                                account.failed_count)
                else:
                    wait = backoff_s(account.failed_count)
                    account.locked_until = now + timedelta(seconds=wait) if wait else None
                    detail = f"wrong password, failure {account.failed_count} ({via})"
                    failure = LoginError("Wrong user name or password.")
                add_entry(s, actor=name, action=audit_actions.LOGIN_FAILED, target=name,
                          detail=detail, success=False, at=now)
            elif account.disabled:
                add_entry(s, actor=name, action=audit_actions.LOGIN_FAILED, target=name,
                          detail=f"account disabled ({via})", success=False, at=now)
                failure = AccountDisabledError("This account is disabled. Ask an admin.")
            else:
                account.failed_count = 0
                account.locked_until = None
                account.last_login = now
                if needs_rehash(account.password_hash):
                    account.password_hash = hash_password(password)
                add_entry(s, actor=name, action=audit_actions.LOGIN, target=name,
                          detail=via, at=now)
                user = CurrentUser(account.id, account.username, account.role)
        # Raised after the block: the failure count and the audit entry are committed.
        if failure is not None:
            raise failure
        assert user is not None
        log.info("Account #%d logged in (%s)", user.account_id, via)
        return user

    # -- changing --------------------------------------------------------------------------
    def change_password(self, username: str, new_password: str, *, actor: str,
                        old_password: str | None = None) -> None:
        """Set a new password (and clear a lockout). With ``old_password`` (someone changing
        their own) the old one must be right.

        Raises:
            AccountNotFound, AccountError: no such account, a weak password, a wrong old
                password.
        """
        with self.db.session() as s:
            account = self._find(s, username)
            name, stored = account.username, account.password_hash
        check_password_policy(new_password, name)
        if old_password is not None and not verify_password(old_password, stored):
            self._audit(actor, audit_actions.ACCOUNT_PASSWORD, name,
                        "refused: wrong current password", success=False)
            raise AccountError("The current password is wrong.", "password")
        hashed = hash_password(new_password)
        with self.db.session() as s:
            account = self._find(s, name)
            account.password_hash = hashed
            account.failed_count = 0
            account.locked_until = None
            add_entry(s, actor=actor, action=audit_actions.ACCOUNT_PASSWORD, target=name,
                      detail="password changed", at=self.clock())
        log.info("Password of an account changed")

    def set_disabled(self, username: str, disabled: bool, *, actor: str) -> AccountInfo:
        """Disable an account (it can no longer log in) or enable it again (which also
        clears a lockout). The last enabled admin cannot be disabled.

        Raises:
            AccountNotFound, AccountError.
        """
        with self.db.session() as s:
            account = self._find(s, username)
            if disabled and account.role == ADMIN and not account.disabled:
                self._refuse_last_admin(s, account, "disable")
            account.disabled = disabled
            if not disabled:
                account.failed_count = 0
                account.locked_until = None
            add_entry(s, actor=actor, target=account.username, at=self.clock(),
                      action=(audit_actions.ACCOUNT_DISABLE if disabled
                              else audit_actions.ACCOUNT_ENABLE),
                      detail="disabled" if disabled else "enabled, lockout cleared")
            return AccountInfo.of(account)

    def set_role(self, username: str, role: str, *, actor: str) -> AccountInfo:
        """Change an account's role. The last enabled admin cannot be made front desk.

        Raises:
            AccountNotFound, AccountError.
        """
        if role not in ROLES:
            raise AccountError(f"A role is front_desk or admin, not {role!r}.", "role")
        with self.db.session() as s:
            account = self._find(s, username)
            if account.role == ADMIN and role != ADMIN and not account.disabled:
                self._refuse_last_admin(s, account, "make front desk")
            before = account.role
            account.role = role
            add_entry(s, actor=actor, action=audit_actions.ACCOUNT_ROLE,
                      target=account.username, detail=f"role {before} -> {role}",
                      at=self.clock())
            return AccountInfo.of(account)

    @staticmethod
    def _refuse_last_admin(s: Session, account: Account, what: str) -> None:
        others = s.execute(select(func.count(Account.id)).where(
            Account.role == ADMIN, Account.disabled.is_(False), Account.id != account.id,
        )).scalar_one()
        if not others:
            raise AccountError(f"Cannot {what} the last admin account: create another admin "
                               f"first.", "role")

    def _audit(self, actor: str, action: str, target: str | None, detail: str | None,
               success: bool = True) -> None:
        with self.db.session() as s:
            add_entry(s, actor=actor, action=action, target=target, detail=detail,
                      success=success, at=self.clock())
