"""Small building blocks to check incoming records field by field.

Pages and API share them, so that a contact is judged the same way whether it comes from
the form or from the offline queue. Messages are translatable and collected per field.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from flask_babel import lazy_gettext as _l

from . import vocab

# Clocks on phones drift: accept a few minutes "in the future".
CLOCK_SKEW = timedelta(minutes=10)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


class Invalid(Exception):
    """Raised with every field message at once (422 on the API, messages on the form)."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("invalid input")
        self.errors = {k: [str(m) for m in v] for k, v in errors.items()}


class Checker:
    """Collects messages while fields are read from a payload."""

    def __init__(self, payload: dict, allowed: set[str], *, from_form: bool = False):
        self.payload = payload
        self.from_form = from_form
        self.errors: dict[str, list] = {}
        for key in payload:
            if key not in allowed:
                self.fail(key, _l("Champ inconnu."))

    def fail(self, field: str, message) -> None:
        self.errors.setdefault(field, []).append(message)

    def done(self) -> None:
        if self.errors:
            raise Invalid(self.errors)

    def has(self, field: str) -> bool:
        return field in self.payload

    def _missing(self, field: str, value, required: bool) -> bool:
        """True when there is no value; a message too when one was required."""
        if value is None or value == "":
            if required:
                self.fail(field, _l("Ce champ est obligatoire."))
            return True
        return False

    # -- scalar readers -------------------------------------------------------------------
    def text(self, field: str, *, max_length: int, required: bool = False) -> str | None:
        value = self.payload.get(field)
        if self._missing(field, value, required):
            return None
        if not isinstance(value, str):
            self.fail(field, _l("Un texte est attendu."))
            return None
        value = value.strip()
        if len(value) > max_length:
            self.fail(field, _l("%(max)d caractères au maximum.", max=max_length))
            return None
        if "\x00" in value:
            self.fail(field, _l("Caractère non permis."))
            return None
        return value or None

    def integer(self, field: str, *, minimum: int, maximum: int, default: int | None = None):
        value = self.payload.get(field, default)
        if self.from_form and isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if self._missing(field, value, required=True):
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(field, _l("Un nombre entier est attendu."))
            return None
        if not minimum <= value <= maximum:
            self.fail(field, _l("Entre %(min)d et %(max)d.", min=minimum, max=maximum))
            return None
        return value

    def moment(self, field: str, *, required: bool = True, now: datetime) -> datetime | None:
        value = self.payload.get(field)
        if self._missing(field, value, required):
            return None
        if not isinstance(value, str):
            self.fail(field, _l("Une date et heure ISO 8601 est attendue."))
            return None
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            self.fail(field, _l("Une date et heure ISO 8601 est attendue."))
            return None
        if moment.tzinfo is None:
            self.fail(field, _l("Le fuseau horaire (décalage) manque."))
            return None
        if moment > now + CLOCK_SKEW:
            self.fail(field, _l("Ce moment est dans le futur."))
            return None
        if moment < EARLIEST:
            self.fail(field, _l("Ce moment est trop ancien."))
            return None
        return moment

    def day(self, field: str, *, required: bool, future_ok: bool) -> date | None:
        value = self.payload.get(field)
        if self._missing(field, value, required):
            return None
        if not isinstance(value, str):
            self.fail(field, _l("Une date AAAA-MM-JJ est attendue."))
            return None
        try:
            day = date.fromisoformat(value)
        except ValueError:
            self.fail(field, _l("Une date AAAA-MM-JJ est attendue."))
            return None
        if day.year < 2000 or day.year > 2100:
            self.fail(field, _l("Date hors limites."))
            return None
        if not future_ok and day > datetime.now(UTC).date() + timedelta(days=1):
            self.fail(field, _l("Ce jour est dans le futur."))
            return None
        return day

    def uuid(self, field: str) -> uuid.UUID | None:
        value = self.payload.get(field)
        if value is None or value == "":
            return None
        try:
            return uuid.UUID(value) if isinstance(value, str) else _raise()
        except (ValueError, TypeError):
            self.fail(field, _l("Identifiant non valide."))
            return None

    # -- vocabulary readers ---------------------------------------------------------------
    def term(self, field: str, vocabulary: str, *, keep: str | None = None) -> str | None:
        value = self.payload.get(field)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            self.fail(field, _l("Un code de la liste est attendu."))
            return None
        if value not in vocab.codes(vocabulary) and value != keep:
            self.fail(field, _l("Code inconnu : %(code)s.", code=value[:40]))
            return None
        return value

    def terms(self, field: str, vocabulary: str, *, keep: list[str] = ()) -> list[str]:
        value = self.payload.get(field)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(field, _l("Une liste de codes est attendue."))
            return []
        allowed = vocab.codes(vocabulary) | set(keep)
        unknown = [v for v in value if v not in allowed]
        if unknown:
            self.fail(field, _l("Code inconnu : %(code)s.", code=", ".join(unknown)[:80]))
            return []
        return list(dict.fromkeys(value))


def _raise():
    raise TypeError
