"""Encryption at rest of face templates, face crops and snapshots; the data key and its home.

**What is encrypted.** ``face_templates.embedding``, ``face_templates.confirm_embedding``,
``face_templates.face_crop`` and ``access_events.snapshot`` are stored as AES-256-GCM
ciphertext: ``nonce (12 bytes) || ciphertext || tag (16 bytes)``, with a fresh random nonce
per value and the id of the data key in the row (``face_templates.key_id``,
``access_events.snapshot_key_id``). The associated data binds a value to its row (table,
column, template id, employee id and model for a template; the event's chain hash for a
snapshot), so a ciphertext copied onto another row, for instance one person's template onto
another person, fails to decrypt (:class:`DataIntegrityError`) instead of letting someone
in. A stolen database file alone therefore holds no face and no template.

**Where the key lives.** Never in the database (it holds key ids only, table ``data_keys``).
The 32-byte key is kept in the OS keyring through ``keyring`` (service ``turnstile``, user
``data-key-<id>``) when a usable keyring exists; otherwise in a key file
``<user data folder>/keys/<id>.key`` created with mode 0600 in a 0700 folder. A key file
that other users can read is refused (:class:`KeyFileError`). ``TURNSTILE_KEY_DIR`` puts the
key files in another folder (the tests use one folder for the whole session). With
``TURNSTILE_HOME`` set (an isolated installation), the key file is used unless
``TURNSTILE_KEY_BACKEND=keyring``; ``TURNSTILE_KEY_BACKEND=file`` forces the file.

**No key.** The first key is made on first use. A database that names a key this computer
does not have gives :class:`KeyMissingError` (plain language, no secret): faces cannot be
recognised, and the door stays locked. A new key is never made silently in its place.

**Rotation.** :func:`rotate_key` makes a new key, re-encrypts every row and re-signs the access
log's chain head and checkpoints in one transaction, then deletes the old key: afterwards the
old key is no longer needed (nor kept).

The access log's signatures (chain head, retention checkpoints) use HMAC-SHA256 with a key
derived from the data key by HKDF (:func:`chain_mac`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import secrets
import stat
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from turnstile.errors import TurnstileError

if TYPE_CHECKING:
    from turnstile.storage.db import Database
    from turnstile.storage.models import AccessEvent, FaceTemplate

log = logging.getLogger(__name__)

KEY_BYTES = 32
"""AES-256."""
NONCE_BYTES = 12
TAG_BYTES = 16
KEYRING_SERVICE = "turnstile"
KEY_DIR_NAME = "keys"
BACKEND_ENV = "TURNSTILE_KEY_BACKEND"
"""``file``, ``keyring`` or ``auto`` (default)."""
KEY_DIR_ENV = "TURNSTILE_KEY_DIR"
"""A folder for the key files instead of the data folder (e.g. a separate volume, so that
backups of the data folder never carry the key); implies the file backend."""
ROTATE_CHUNK_ROWS = 500
_CHAIN_MAC_INFO = b"turnstile access log chain v1"


# --- errors -----------------------------------------------------------------------------


class ProtectionError(TurnstileError):
    """Encrypted data cannot be read or written."""


class KeyMissingError(ProtectionError):
    """The data key the database names is not on this computer.

    Attributes:
        key_id: the id of the missing key (an id, not a secret).
    """

    def __init__(self, key_id: str, where: str) -> None:
        super().__init__(
            f"The encryption key of the stored faces (key {key_id}) was not found in {where}. "
            f"Without it nobody can be recognised and the door stays locked. Restore the key "
            f"(from your key backup, or run Turnstile as the user who set it up) and start "
            f"Turnstile again.")
        self.key_id = key_id


class KeyFileError(ProtectionError):
    """The key file exists but cannot be used (readable by others, damaged, unreadable)."""


class DataIntegrityError(ProtectionError):
    """A stored value does not decrypt: it was changed or moved outside Turnstile."""


# --- where keys are kept --------------------------------------------------------------------


class KeyBackend(Protocol):
    """Somewhere a data key can be kept, by id."""

    def get(self, key_id: str) -> bytes | None:
        """The key, or ``None`` when there is no key with this id."""

    def put(self, key_id: str, key: bytes) -> None:
        """Keep a new key."""

    def delete(self, key_id: str) -> None:
        """Forget a key (no error when it is not there)."""

    def describe(self) -> str:
        """Where the keys are, in words (for messages)."""


class FileKeyBackend:
    """Key files ``<folder>/<key id>.key`` (base64), mode 0600, in a 0700 folder.

    Args:
        folder: where the key files are (created when a key is first stored).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path(self, key_id: str) -> Path:
        return self.folder / f"{_check_key_id(key_id)}.key"

    def get(self, key_id: str) -> bytes | None:
        path = self.path(key_id)
        try:
            info = path.stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise KeyFileError(f"The key file {path} cannot be read ({exc.strerror}).") from None
        if os.name == "posix" and info.st_mode & 0o077:
            raise KeyFileError(
                f"The key file {path} can be read or changed by other users of this computer "
                f"(permissions {stat.filemode(info.st_mode)}); Turnstile refuses to use it. "
                f"If nobody copied it, run: chmod 600 '{path}', then rotate the key "
                f"(turnstile keys rotate).")
        try:
            data = base64.b64decode(path.read_bytes().strip(), validate=True)
        except (OSError, binascii.Error) as exc:
            raise KeyFileError(f"The key file {path} is damaged or unreadable "
                               f"({type(exc).__name__}).") from None
        if len(data) != KEY_BYTES:
            raise KeyFileError(f"The key file {path} is damaged (wrong length).")
        return data

    def put(self, key_id: str, key: bytes) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if os.name == "posix":
            os.chmod(self.folder, 0o700)
        path = self.path(key_id)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        fd = os.open(path, flags, 0o600)
        try:
            os.write(fd, base64.b64encode(key) + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)

    def delete(self, key_id: str) -> None:
        path = self.path(key_id)
        try:
            # Overwrite before unlinking: the key must not linger in the file's old blocks
            # where the file system allows (no guarantee on SSDs; the keyring is preferred).
            size = path.stat().st_size
            with open(path, "r+b") as file:
                file.write(b"\0" * size)
                file.flush()
                os.fsync(file.fileno())
            path.unlink()
        except FileNotFoundError:
            pass

    def describe(self) -> str:
        return f"the key folder {self.folder}"


class KeyringBackend:
    """The OS keyring (Secret Service, macOS Keychain, Windows Credential Locker)."""

    def __init__(self, service: str = KEYRING_SERVICE) -> None:
        self.service = service

    def get(self, key_id: str) -> bytes | None:
        import keyring
        from keyring.errors import KeyringError

        try:
            value = keyring.get_password(self.service, _username(key_id))
        except KeyringError as exc:
            raise KeyFileError(f"The system keyring cannot be read ({type(exc).__name__}); "
                               f"unlock it, or set TURNSTILE_KEY_BACKEND=file.") from None
        if value is None:
            return None
        try:
            data = base64.b64decode(value, validate=True)
        except binascii.Error:
            raise KeyFileError(f"The keyring entry of key {key_id} is damaged.") from None
        if len(data) != KEY_BYTES:
            raise KeyFileError(f"The keyring entry of key {key_id} is damaged.")
        return data

    def put(self, key_id: str, key: bytes) -> None:
        import keyring
        from keyring.errors import KeyringError

        try:
            keyring.set_password(self.service, _username(key_id),
                                 base64.b64encode(key).decode())
        except KeyringError as exc:
            raise KeyFileError(f"The new key cannot be stored in the system keyring "
                               f"({type(exc).__name__}); unlock it, or set "
                               f"TURNSTILE_KEY_BACKEND=file.") from None

    def delete(self, key_id: str) -> None:
        import keyring
        from keyring.errors import PasswordDeleteError

        try:
            keyring.delete_password(self.service, _username(key_id))
        except PasswordDeleteError:
            pass

    def describe(self) -> str:
        return "the system keyring"


def _username(key_id: str) -> str:
    return f"data-key-{_check_key_id(key_id)}"


def _check_key_id(key_id: str) -> str:
    if not (isinstance(key_id, str) and 0 < len(key_id) <= 32
            and all(c in "0123456789abcdef" for c in key_id)):
        raise ProtectionError("A stored key id is not valid; the database may be damaged.")
    return key_id


def keyring_usable() -> bool:
    """Whether a real OS keyring is available (not the fail, null or plaintext backends)."""
    try:
        import keyring

        backend = keyring.get_keyring()
    except Exception:  # noqa: BLE001 (any keyring trouble means: use the file)
        return False
    names = {type(b).__module__ + "." + type(b).__name__
             for b in getattr(backend, "backends", [backend])}
    usable = [n for n in names
              if not any(bad in n.lower() for bad in ("fail", "null", "plaintext", "chainer"))]
    return bool(usable) and getattr(backend, "priority", 0) > 0


def default_backend() -> KeyBackend:
    """Where keys are kept on this computer (see the module docstring)."""
    if _override is not None:
        return _override
    from turnstile.config import data_dir

    key_dir = os.environ.get(KEY_DIR_ENV, "").strip()
    if key_dir:
        return FileKeyBackend(Path(key_dir).expanduser())
    choice = os.environ.get(BACKEND_ENV, "auto").strip().lower()
    file_backend = FileKeyBackend(data_dir() / KEY_DIR_NAME)
    if choice == "file":
        return file_backend
    if choice == "keyring":
        return KeyringBackend()
    if os.environ.get("TURNSTILE_HOME"):
        return file_backend
    return KeyringBackend() if keyring_usable() else file_backend


_override: KeyBackend | None = None


def set_backend(backend: KeyBackend | None) -> None:
    """Use ``backend`` for every database in this process (``None``: the default again)."""
    global _override
    _override = backend
    with _stores_lock:
        for name in [n for n in _stores if n.startswith("override:")]:
            del _stores[name]


# --- the keys -----------------------------------------------------------------------------


class DataKeys:
    """The data keys of one backend, with their ciphers cached (keys found once are kept in
    memory for the life of the process; missing ones are looked for again each time)."""

    def __init__(self, backend: KeyBackend) -> None:
        self.backend = backend
        self._keys: dict[str, bytes] = {}
        self._ciphers: dict[str, AESGCM] = {}
        self._mac_keys: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def key(self, key_id: str) -> bytes:
        """The key with this id.

        Raises:
            KeyMissingError: not in the backend.
            KeyFileError: the key file is unusable.
        """
        with self._lock:
            key = self._keys.get(key_id)
        if key is None:
            key = self.backend.get(key_id)
            if key is None:
                raise KeyMissingError(key_id, self.backend.describe())
            with self._lock:
                self._keys[key_id] = key
        return key

    def cipher(self, key_id: str) -> AESGCM:
        with self._lock:
            cipher = self._ciphers.get(key_id)
        if cipher is None:
            cipher = AESGCM(self.key(key_id))
            with self._lock:
                self._ciphers[key_id] = cipher
        return cipher

    def has(self, key_id: str) -> bool:
        try:
            self.key(key_id)
        except KeyMissingError:
            return False
        return True

    def new_key(self) -> str:
        """Make and store a new key; returns its id."""
        key_id = secrets.token_hex(16)
        key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
        self.backend.put(key_id, key)
        with self._lock:
            self._keys[key_id] = key
        log.info("New data key %s stored in %s", key_id, self.backend.describe())
        return key_id

    def forget(self, key_id: str) -> None:
        """Delete a key from the backend and from memory."""
        with self._lock:
            self._keys.pop(key_id, None)
            self._ciphers.pop(key_id, None)
            self._mac_keys.pop(key_id, None)
        self.backend.delete(key_id)

    def seal(self, key_id: str, plaintext: bytes, aad: bytes) -> bytes:
        """Encrypt with a fresh random nonce: ``nonce || ciphertext || tag``."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self.cipher(key_id).encrypt(nonce, bytes(plaintext), aad)

    def unseal(self, key_id: str, blob: bytes, aad: bytes, what: str) -> bytes:
        """Decrypt what :meth:`seal` made.

        Raises:
            KeyMissingError: the key is not here.
            DataIntegrityError: the value was changed or belongs to another row.
        """
        cipher = self.cipher(key_id)
        blob = bytes(blob)
        if len(blob) < NONCE_BYTES + TAG_BYTES:
            raise DataIntegrityError(f"The stored {what} is damaged (too short).")
        try:
            return cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
        except InvalidTag:
            raise DataIntegrityError(
                f"The stored {what} does not decrypt: it was changed or moved outside "
                f"Turnstile.") from None

    def chain_mac_key(self, key_id: str) -> bytes:
        """The HMAC key of the access log's signatures, derived from data key ``key_id``."""
        with self._lock:
            derived = self._mac_keys.get(key_id)
        if derived is None:
            derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                           info=_CHAIN_MAC_INFO).derive(self.key(key_id))
            with self._lock:
                self._mac_keys[key_id] = derived
        return derived


_stores: dict[str, DataKeys] = {}
_stores_lock = threading.Lock()


def keys() -> DataKeys:
    """The data keys of this computer's key backend (one cache per backend)."""
    backend = default_backend()
    if backend is _override:
        name = f"override:{id(backend)}"
    else:
        name = f"{type(backend).__name__}:{backend.describe()}"
    with _stores_lock:
        store = _stores.get(name)
        if store is None:
            store = _stores[name] = DataKeys(backend)
        return store


# --- the active key of a database ---------------------------------------------------------


def lock_state(session: Session) -> None:
    """Take the protection lock: the SQLite write lock, or a row lock on PostgreSQL.

    Raises:
        ProtectionError: the database has no protection state (not migrated).
    """
    from turnstile.storage.models import ProtectionState

    result = session.execute(update(ProtectionState).where(ProtectionState.id == 1)
                             .values(lock_seq=ProtectionState.lock_seq + 1)
                             .execution_options(synchronize_session=False))
    if not getattr(result, "rowcount", 0):
        raise ProtectionError("The database has no protection state; it was not migrated.")


def active_key_id(session: Session, *, create: bool = True) -> str | None:
    """The id of the key new data is encrypted with; made (and stored) on first use.

    A key made here is recorded in the caller's transaction; if that transaction is rolled
    back the stored key is merely unused.
    """
    from turnstile.storage.models import DataKey, ProtectionState

    stmt = select(ProtectionState.active_key_id).where(ProtectionState.id == 1)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(read=True)  # rotation must wait for this writer
    current = session.scalar(stmt)
    if current is not None or not create:
        return current
    store = keys()
    key_id = store.new_key()
    claimed = session.execute(
        update(ProtectionState)
        .where(ProtectionState.id == 1, ProtectionState.active_key_id.is_(None))
        .values(active_key_id=key_id).execution_options(synchronize_session=False))
    if not getattr(claimed, "rowcount", 0):  # another writer made one first
        store.forget(key_id)
        return session.scalar(select(ProtectionState.active_key_id)
                              .where(ProtectionState.id == 1))
    session.add(DataKey(key_id=key_id))
    session.flush()
    return key_id


# --- associated data and the model properties ---------------------------------------------


def template_aad(column: str, template_id: int, employee_id: int, model_id: str) -> bytes:
    """Associated data of a template column: the value only decrypts in its own row."""
    return f"turnstile:face_templates.{column}:{template_id}:{employee_id}:{model_id}".encode()


def snapshot_aad(event_hash: str | None) -> bytes:
    """Associated data of an event snapshot: bound to that event's chain hash."""
    return f"turnstile:access_events.snapshot:{event_hash or ''}".encode()


def open_template_value(column: str, template_id: int, employee_id: int, model_id: str,
                        key_id: str | None, stored: bytes | None) -> bytes | None:
    """Decrypt a stored template column (a row from before encryption is returned as is)."""
    if stored is None or key_id is None:
        return None if stored is None else bytes(stored)
    what = "face photo" if column == "face_crop" else "face template"
    return keys().unseal(key_id, stored, template_aad(column, template_id, employee_id,
                                                      model_id), what)


def open_embeddings(rows: Sequence[Sequence[Any]], model_id: str,
                    column: str = "embedding") -> list[tuple[int, int, bytes]]:
    """Decrypt gallery rows ``(template_id, employee_id, key_id, stored)`` of one model into
    ``(template_id, employee_id, embedding)`` (the door's hot path at start: ~100k rows).
    ``column`` is ``"embedding"`` or ``"confirm_embedding"``.

    Raises:
        KeyMissingError: a key is not here.
        DataIntegrityError: a value was changed or moved.
    """
    store = keys()
    ciphers: dict[str, AESGCM] = {}
    prefix = f"turnstile:face_templates.{column}:"
    suffix = f":{model_id}"
    out: list[tuple[int, int, bytes]] = []
    append = out.append
    for template_id, owner, key_id, stored in rows:
        if key_id is None:  # written before encryption; protect_legacy_data seals it
            append((template_id, owner, bytes(stored)))
            continue
        cipher = ciphers.get(key_id)
        if cipher is None:
            cipher = ciphers[key_id] = store.cipher(key_id)
        view = memoryview(stored)
        try:
            plain = cipher.decrypt(view[:NONCE_BYTES], view[NONCE_BYTES:],
                                   f"{prefix}{template_id}:{owner}{suffix}".encode())
        except (InvalidTag, ValueError):
            raise DataIntegrityError(
                f"The stored face template {template_id} does not decrypt: it was changed or "
                f"moved outside Turnstile.") from None
        append((template_id, owner, plain))
    return out


def open_template_embedding(template: FaceTemplate) -> bytes:
    """``template.embedding``, decrypted."""
    value = open_template_value("embedding", template.id, template.employee_id,
                                template.model_id, template.key_id, template.embedding_sealed)
    return value if value is not None else b""


def open_template_face_crop(template: FaceTemplate) -> bytes | None:
    """``template.face_crop``, decrypted."""
    return open_template_value("face_crop", template.id, template.employee_id,
                               template.model_id, template.key_id, template.face_crop_sealed)


def open_snapshot(key_id: str | None, stored: bytes | None, event_hash: str | None
                  ) -> bytes | None:
    """Decrypt a stored snapshot (one from before encryption is returned as is)."""
    if stored is None or key_id is None:
        return None if stored is None else bytes(stored)
    return keys().unseal(key_id, stored, snapshot_aad(event_hash), "snapshot")


def open_event_snapshot(event: AccessEvent) -> bytes | None:
    """``event.snapshot``, decrypted."""
    return open_snapshot(event.snapshot_key_id, event.snapshot_sealed, event.hash)


# --- signatures of the access log -----------------------------------------------------------


def chain_mac(key_id: str, message: bytes) -> str:
    """HMAC-SHA256 (hex) of ``message`` with the log key derived from data key ``key_id``."""
    return hmac.new(keys().chain_mac_key(key_id), message, hashlib.sha256).hexdigest()


def head_message(last_event_id: int | None, last_hash: str, events: int) -> bytes:
    """What the chain head's signature covers."""
    return f"turnstile-chain-head:v1:{last_event_id}:{last_hash}:{events}".encode()


def checkpoint_message(last_event_id: int, last_hash: str, events_purged: int,
                       purged_before: str) -> bytes:
    """What a retention checkpoint's signature covers."""
    return (f"turnstile-checkpoint:v1:{last_event_id}:{last_hash}:{events_purged}:"
            f"{purged_before}").encode()


def sign_head(session: Session, key_id: str | None) -> None:
    """(Re-)sign the chain head with ``key_id``'s log key (``None``: leave it unsigned).

    The caller holds the protection lock.
    """
    from turnstile.storage.models import ProtectionState

    state = session.get(ProtectionState, 1, populate_existing=True)
    if state is None:
        raise ProtectionError("The database has no protection state; it was not migrated.")
    if key_id is None:
        state.chain_mac, state.chain_mac_key_id = None, None
    else:
        state.chain_mac = chain_mac(key_id, head_message(
            state.chain_last_event_id, state.chain_last_hash, state.chain_events))
        state.chain_mac_key_id = key_id
    session.flush()


# --- rotation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RotationReport:
    """What :func:`rotate_key` did.

    Attributes:
        old_key_ids: the keys retired (and deleted).
        new_key_id: the key now in use.
        templates: template rows re-encrypted.
        snapshots: snapshots re-encrypted.
        checkpoints: retention checkpoints re-signed.
    """

    old_key_ids: tuple[str, ...]
    new_key_id: str
    templates: int
    snapshots: int
    checkpoints: int


def _reseal_templates(session: Session, store: DataKeys, new_key: str,
                      only_plain: bool = False) -> int:
    from turnstile.storage.models import FaceTemplate

    done, last = 0, 0
    batch: list[dict[str, object]] = []
    while True:
        stmt = (select(FaceTemplate.id, FaceTemplate.employee_id, FaceTemplate.model_id,
                       FaceTemplate.key_id, FaceTemplate.embedding_sealed,
                       FaceTemplate.face_crop_sealed, FaceTemplate.confirm_model_id,
                       FaceTemplate.confirm_sealed)
                .where(FaceTemplate.id > last).order_by(FaceTemplate.id)
                .limit(ROTATE_CHUNK_ROWS))
        if only_plain:
            stmt = stmt.where(FaceTemplate.key_id.is_(None))
        rows = session.execute(stmt).all()
        if not rows:
            return done
        for tid, eid, model, key_id, emb, crop, confirm_model, confirm in rows:
            values: dict[str, object] = {"id": tid, "key_id": new_key}
            for column, attribute, bound_to, stored in (
                    ("embedding", "embedding_sealed", model, emb),
                    ("face_crop", "face_crop_sealed", model, crop),
                    ("confirm_embedding", "confirm_sealed", confirm_model or "", confirm)):
                plain = open_template_value(column, tid, eid, bound_to, key_id, stored)
                sealed = None if plain is None else store.seal(
                    new_key, plain, template_aad(column, tid, eid, bound_to))
                values[attribute] = sealed
            batch.append(values)
        # One executemany per chunk (ORM bulk UPDATE by primary key).
        session.execute(update(FaceTemplate), batch)
        batch.clear()
        done += len(rows)
        last = rows[-1][0]


def _reseal_snapshots(session: Session, store: DataKeys, new_key: str,
                      only_plain: bool = False) -> int:
    from turnstile.storage.models import AccessEvent

    done, last = 0, 0
    while True:
        stmt = (select(AccessEvent.id, AccessEvent.hash, AccessEvent.snapshot_key_id,
                       AccessEvent.snapshot_sealed)
                .where(AccessEvent.id > last, AccessEvent.snapshot_sealed.is_not(None))
                .order_by(AccessEvent.id).limit(ROTATE_CHUNK_ROWS))
        if only_plain:
            stmt = stmt.where(AccessEvent.snapshot_key_id.is_(None))
        rows = session.execute(stmt).all()
        if not rows:
            return done
        batch = []
        for event_id, event_hash, key_id, stored in rows:
            plain = open_snapshot(key_id, stored, event_hash)
            assert plain is not None
            batch.append({"id": event_id, "snapshot_key_id": new_key,
                          "snapshot_sealed": store.seal(new_key, plain,
                                                        snapshot_aad(event_hash))})
        session.execute(update(AccessEvent), batch)
        done += len(rows)
        last = rows[-1][0]


def seal_plain_rows(session: Session) -> tuple[int, int]:
    """Encrypt the rows written before encryption existed (NULL key id) with the active key;
    the caller holds the protection lock.

    Returns:
        ``(templates, snapshots)`` encrypted.

    Raises:
        KeyMissingError: the active key is not here.
    """
    key_id = active_key_id(session)
    assert key_id is not None
    store = keys()
    store.key(key_id)
    return (_reseal_templates(session, store, key_id, only_plain=True),
            _reseal_snapshots(session, store, key_id, only_plain=True))


def resign_checkpoints(session: Session, key_id: str) -> int:
    """Re-sign every retention checkpoint with ``key_id`` (the caller holds the lock and has
    checked the old signatures if it cares)."""
    from turnstile.storage.models import LogCheckpoint

    count = 0
    for cp in session.scalars(select(LogCheckpoint)):
        cp.mac = chain_mac(key_id, checkpoint_message(
            cp.last_event_id, cp.last_hash, cp.events_purged, _moment(cp.purged_before)))
        cp.key_id = key_id
        count += 1
    session.flush()
    return count


def _moment(value: object) -> str:
    from datetime import UTC, datetime

    assert isinstance(value, datetime)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def checkpoint_moment(value: object) -> str:
    """How a checkpoint's ``purged_before`` is written into its signed message."""
    return _moment(value)


def rotate_key(db: Database) -> RotationReport:
    """Replace the data key: every encrypted row is re-encrypted, the log's head and
    checkpoints re-signed, all in one transaction; then the old key(s) are deleted.

    Raises:
        KeyMissingError: a key some row still uses is not here (nothing was changed).
        DataIntegrityError: a stored value does not decrypt (nothing was changed).
    """
    from datetime import UTC, datetime

    from turnstile.storage.models import DataKey, ProtectionState

    store = keys()
    new_key = store.new_key()
    try:
        with db.session() as s:
            lock_state(s)
            state = s.get(ProtectionState, 1, populate_existing=True)
            assert state is not None
            old = tuple(k for k in s.scalars(select(DataKey.key_id)
                                             .where(DataKey.retired_at.is_(None))))
            templates = _reseal_templates(s, store, new_key)
            snapshots = _reseal_snapshots(s, store, new_key)
            checkpoints = resign_checkpoints(s, new_key)
            now = datetime.now(UTC)
            s.execute(update(DataKey).where(DataKey.retired_at.is_(None))
                      .values(retired_at=now).execution_options(synchronize_session=False))
            s.add(DataKey(key_id=new_key, created_at=now))
            state.active_key_id = new_key
            s.flush()
            sign_head(s, new_key)
    except BaseException:
        store.forget(new_key)
        raise
    for key_id in old:
        store.forget(key_id)
    log.info("Data key rotated: %d templates and %d snapshots re-encrypted, %d checkpoints "
             "re-signed; %d old key(s) deleted", templates, snapshots, checkpoints, len(old))
    return RotationReport(old, new_key, templates, snapshots, checkpoints)

