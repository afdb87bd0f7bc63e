"""Field encryption and pseudonymous person codes.

* Free text (notes, messages, TOTP secrets) is sealed with AES-256-GCM. Each value gets a
  random 96-bit nonce and associated data naming its table, column and row id, so a
  ciphertext copied into another row or column no longer opens.
* Every stored value names the key that sealed it (``v1.<key id>.<base64>``). The key ring
  holds several keys: new values use the newest, every key still opens what it sealed.
* Person codes are normalised and kept only as HMAC-SHA256 under a secret pepper that lives
  beside the keys, never in the database.

Nothing here ever falls back to plaintext: a missing key ring, an unknown key id or a
tampered value raises.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import stat
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT_VERSION = "v1"
NONCE_BYTES = 12
KEY_BYTES = 32


class KeyRingError(RuntimeError):
    """The key ring is missing, unreadable or malformed."""


class DecryptionError(RuntimeError):
    """A stored value cannot be opened: unknown key, tampering or wrong row."""


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def associated_data(table: str, column: str, row_id) -> bytes:
    """Bind a ciphertext to one cell: table, column and row id."""
    return f"relais|{table}|{column}|{row_id}".encode()


def normalise_person_code(raw: str) -> str:
    """Fold spacing, case, accents and punctuation so that "Mo-12 é" == "MO12E".

    Workers type codes on a phone, in a hurry: the same person must always give the same code.
    """
    decomposed = unicodedata.normalize("NFKD", raw)
    without_marks = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return "".join(ch for ch in without_marks.casefold() if ch.isalnum())


@dataclass(frozen=True)
class DataKey:
    key_id: str
    secret: bytes


class KeyRing:
    def __init__(self, keys: list[DataKey], pepper: bytes):
        if not keys:
            raise KeyRingError("the key ring holds no data key")
        if len(pepper) < 32:
            raise KeyRingError("the person-code pepper must be at least 32 bytes")
        for key in keys:
            if len(key.secret) != KEY_BYTES:
                raise KeyRingError(f"data key {key.key_id!r} is not a 256-bit key")
        self._keys = {key.key_id: key for key in keys}
        if len(self._keys) != len(keys):
            raise KeyRingError("two data keys share one id")
        self.current = keys[-1]
        self._pepper = pepper

    # -- loading and saving -------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict) -> KeyRing:
        try:
            keys = [DataKey(k["id"], _b64decode(k["key"])) for k in data["data_keys"]]
            pepper = _b64decode(data["pepper"])
        except (KeyError, TypeError, ValueError) as exc:
            raise KeyRingError(f"malformed key ring ({exc.__class__.__name__}: {exc})") from exc
        return cls(keys, pepper)

    @classmethod
    def load(cls, path: str | os.PathLike) -> KeyRing:
        """Read the key file; refuse it when group or others may read or write it."""
        path = Path(path)
        if not path.exists():
            raise KeyRingError(
                f"key file {path} not found: create it with `flask --app app keys init`"
            )
        try:
            with open(path, "rb") as fh:
                check_private(path, os.fstat(fh.fileno()).st_mode)
                data = json.loads(fh.read().decode("utf-8"))
        except (OSError, ValueError) as exc:
            raise KeyRingError(f"cannot read key file {path}: {exc}") from exc
        return cls.from_dict(data)

    def to_dict(self) -> dict:
        return {
            "version": 1,
            "data_keys": [{"id": k.key_id, "key": _b64encode(k.secret)}
                          for k in self._keys.values()],
            "pepper": _b64encode(self._pepper),
        }

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    # -- encryption ---------------------------------------------------------------------
    def encrypt(self, plaintext: str, aad: bytes) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.current.secret).encrypt(nonce, plaintext.encode("utf-8"), aad)
        return f"{FORMAT_VERSION}.{self.current.key_id}.{_b64encode(nonce + sealed)}"

    def decrypt(self, token: str, aad: bytes) -> str:
        try:
            version, key_id, body = token.split(".", 2)
        except (AttributeError, ValueError) as exc:
            raise DecryptionError("stored value is not an encrypted value") from exc
        if version != FORMAT_VERSION:
            raise DecryptionError(f"unknown encryption format {version!r}")
        key = self._keys.get(key_id)
        if key is None:
            raise DecryptionError(f"key {key_id!r} is not in the key ring")
        try:
            raw = _b64decode(body)
            plain = AESGCM(key.secret).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad)
        except (InvalidTag, ValueError) as exc:
            raise DecryptionError("stored value does not open: tampered or moved") from exc
        return plain.decode("utf-8")

    def key_id_of(self, token: str) -> str:
        return token.split(".", 2)[1]

    # -- person codes -------------------------------------------------------------------
    def person_code_hash(self, raw: str) -> str:
        normalised = normalise_person_code(raw)
        if not normalised:
            raise ValueError("a person code needs at least one letter or digit")
        return hmac.new(self._pepper, normalised.encode("utf-8"), hashlib.sha256).hexdigest()

    # -- administration -----------------------------------------------------------------
    def with_new_key(self) -> KeyRing:
        keys = [*self._keys.values(), new_data_key()]
        return KeyRing(keys, self._pepper)

    def only_current(self) -> KeyRing:
        return KeyRing([self.current], self._pepper)


def new_data_key() -> DataKey:
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    return DataKey(f"k{stamp}{secrets.token_hex(2)}", AESGCM.generate_key(bit_length=256))


def new_key_ring() -> KeyRing:
    return KeyRing([new_data_key()], secrets.token_bytes(32))


PRIVATE_MODE = 0o600


def check_private(path: str | os.PathLike, mode: int) -> None:
    """Refuse a key file that group or others may read or write (any bit of 0o077)."""
    if os.name == "posix" and mode & 0o077:
        raise KeyRingError(
            f"key file {path} is open to group or others (mode {stat.S_IMODE(mode):04o}): "
            f"make it private with `chmod 600 {path}`"
        )


def _create_private(path: Path) -> int:
    """A new file only its owner may read and write (0600, whatever the umask), never an
    existing one and never through a symbolic link."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, PRIVATE_MODE)
    try:
        os.fchmod(fd, PRIVATE_MODE)
    except (AttributeError, OSError):  # no fchmod (Windows): os.open's mode stands
        pass
    return fd


def _sync_directory(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_key_file(path: str | os.PathLike, ring: KeyRing, *, overwrite: bool = False) -> None:
    """Write the key ring readable by its owner only (0600), atomically when replacing.

    Every file written here is created afresh with mode 0600: a temporary file left behind by
    an interrupted run (perhaps with another mode) is removed first, never reused."""
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    payload = json.dumps(ring.to_dict(), indent=2).encode("utf-8")
    if not overwrite:
        with os.fdopen(_create_private(path), "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        _sync_directory(path.parent)
        return
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        tmp.unlink()  # a leftover of an interrupted run: never written into
    except FileNotFoundError:
        pass
    try:
        fd = _create_private(tmp)
    except FileExistsError as exc:
        raise KeyRingError(f"temporary key file {tmp} appeared while writing: "
                           "another key command is running?") from exc
    with os.fdopen(fd, "wb") as fh:
        fh.write(payload)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _sync_directory(path.parent)


# -- access from the running app ---------------------------------------------------------
def keyring() -> KeyRing:
    """The key ring of the current app; a clear error when it was never configured."""
    from flask import current_app

    ring = current_app.extensions.get("relais_keyring")
    if ring is None:
        problem = current_app.extensions.get("relais_keyring_error", "no key ring loaded")
        raise KeyRingError(problem)
    return ring


def seal(table: str, column: str, row_id, plaintext: str | None) -> str | None:
    if plaintext is None:
        return None
    return keyring().encrypt(plaintext, associated_data(table, column, row_id))


def unseal(table: str, column: str, row_id, token: str | None) -> str | None:
    if token is None:
        return None
    return keyring().decrypt(token, associated_data(table, column, row_id))


def person_code_hash(raw: str) -> str:
    return keyring().person_code_hash(raw)


# -- keyed digests of free text ------------------------------------------------------------
# "Is this the text already stored?" is answered with a keyed hash kept beside the ciphertext,
# never by opening the ciphertext: opening it outside an audited read would let anyone who may
# send a value confirm a guess without the trace a reading leaves (an oracle). The digest key
# derives from the pepper, which key rotation keeps, so digests outlive rotations; the digest is
# bound to its table, column and row id like the ciphertext, so it says nothing about the same
# text in another row.
DIGEST_CONTEXT = b"relais|text-digest|v1"


def normalise_text(text: str | None) -> str | None:
    """The form in which free text is stored and compared: NFC, trimmed, blank is None."""
    if text is None:
        return None
    return unicodedata.normalize("NFC", text).strip() or None


def text_digest(table: str, column: str, row_id, text: str | None,
                ring: KeyRing | None = None) -> str | None:
    """HMAC-SHA256 of the normalised text under a key derived from the pepper, bound to one
    cell. None for no text."""
    text = normalise_text(text)
    if text is None:
        return None
    ring = ring or keyring()
    key = hmac.new(ring._pepper, DIGEST_CONTEXT, hashlib.sha256).digest()
    message = associated_data(table, column, row_id) + b"\x00" + text.encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def same_text(table: str, column: str, row_id, token: str | None, digest: str | None,
              text: str | None) -> bool:
    """Whether `text` is the value sealed in `token`, decided without opening it: from the
    digest kept beside it. A sealed value without a digest (older than digests) is never
    "the same": the caller treats it as a change or a conflict, never as a match."""
    text = normalise_text(text)
    if token is None:
        return text is None
    if text is None or digest is None:
        return False
    return hmac.compare_digest(digest, text_digest(table, column, row_id, text))
