"""Record versions, their history and the three-way merge: one place for every record type.

DESIGN §5 "Versions and conflicts": no edit is ever lost silently.

* A record's *snapshot* is the dict of its versioned fields in the API's own terms (codes,
  ids, ISO dates), so that a snapshot can be sent back as a PUT body. Free text is in clear
  in memory only; a person code is its HMAC (write-only: never shown, compared by hash).
* Every change that alters a snapshot bumps `version` and keeps the new fields in
  `record_version`, free text sealed again and bound to that history row. The version a
  record was created with is kept lazily, by the first change (a record never edited
  keeps its first version in its own row).
* A stale writer (it saw version v, the record is at w > v) is merged three ways against
  version v (`merge`): a field changed on one side only takes that side's value; a
  multi-valued field takes the additions and removals of both sides; a field changed on
  both sides to different values is a conflict, and then nothing is written.

Pages, the API and the phone's queue all go through `save` (or `tracked` for the changes
that follow their own transition rules: status changes, handovers, closings).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from flask import current_app, has_request_context
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import event, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from . import crypto
from .extensions import db
from .models import (
    CONTACT_MULTI_TERMS,
    CONTACT_SINGLE_TERMS,
    Bridge,
    BridgeStep,
    CollectiveAction,
    Contact,
    Indicator,
    Objective,
    Organisation,
    Outing,
    RecordVersion,
    Referral,
)

ANY = "*"  # If-Match: * — overwrite whatever the version
# How often a write is judged again when another writer of the same record committed between
# its read and its commit. With n writers at once one may lose n - 1 times: 5 gave a 500 to
# the sixth of six stale phones on PostgreSQL (tests/test_versions_concurrency.py); losing is
# cheap, so keep room.
WRITE_ATTEMPTS = 20


def retrying(write: Callable[[], Any], *also: type[Exception]) -> Any:
    """Run `write` (which reads, decides and commits) again from the start each time another
    writer of the same record committed first: its commit fails on the version check or on a
    unique id (or one of `also`), and nothing of it is kept."""
    for attempt in range(WRITE_ATTEMPTS):
        try:
            return write()
        except (StaleDataError, IntegrityError, *also):
            db.session.rollback()
            if attempt == WRITE_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


# -- what is versioned, record type by record type ---------------------------------------------
def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def _day(day: date | None) -> str | None:
    return day.isoformat() if day else None


# Snapshots read relationships rather than foreign-key columns: right after a change is
# applied, and before it is flushed, only the relationship holds the new value.
def _id(related) -> Any:
    return related.id if related is not None else None


def _uuid(related) -> str | None:
    return str(related.id) if related is not None else None


def _contact(c: Contact) -> dict:
    return {
        "neighbourhood": c.neighbourhood.code if c.neighbourhood else None,
        "outing": _uuid(c.outing),
        "occurred_at": _iso(c.occurred_at),
        "people_count": c.people_count,
        **{f: getattr(c, f) for f in CONTACT_SINGLE_TERMS},
        **{f: sorted(c.codes(v)) for f, v in CONTACT_MULTI_TERMS.items()},
        "person_code": c.person_code_hash,
        "note": c.read_note(),
    }


def _outing(o: Outing) -> dict:
    return {
        "neighbourhood": o.neighbourhood.code if o.neighbourhood else None,
        "kind": o.kind,
        "started_at": _iso(o.started_at),
        "ended_at": _iso(o.ended_at),
        "team": sorted(u.id for u in o.team),
        "place_label": o.place_label,
    }


def _referral(r: Referral) -> dict:
    return {
        "contact": _uuid(r.contact),
        "organisation": _id(r.organisation),
        "modality": r.modality,
        "message": r.read_message(),
        "bridge": _uuid(r.bridge),
        "status": r.status,
        "outcome": r.outcome,
        "reply": r.read_reply(),
    }


def _bridge(b: Bridge) -> dict:
    return {
        "lead": _id(b.lead),
        "organisation": _id(b.organisation),
        "next_step_due": _day(b.next_step_due),
        "status": b.status,
        "outcome": b.outcome,
        "attached_organisation": _id(b.attached_organisation),
    }


def _step(s: BridgeStep) -> dict:
    return {"occurred_on": _day(s.occurred_on), "kind": s.kind, "note": s.read_note()}


def _action(a: CollectiveAction) -> dict:
    return {
        "neighbourhood": a.neighbourhood.code if a.neighbourhood else None,
        "mission": a.mission,
        "occurred_on": _day(a.occurred_on),
        "participants": a.participants,
        "organisations": sorted(o.id for o in a.organisations),
        "themes": sorted(a.codes("theme")),
        "title": a.title,
    }


def _columns(*names: str) -> Callable[[Any], dict]:
    return lambda record: {name: getattr(record, name) for name in names}


ORGANISATION_FIELDS = ("name", "category", "commune", "phone", "email", "website",
                       "description", "active")
OBJECTIVE_FIELDS = ("title_fr", "title_nl", "title_en", "target")
INDICATOR_FIELDS = ("objective_id", "code", "label_fr", "label_nl", "label_en", "record",
                    "measure", "filter", "position", "active")

LABELS = {
    "neighbourhood": _l("Quartier"), "outing": _l("Sortie"), "occurred_at": _l("Moment"),
    "people_count": _l("Nombre de personnes"), "place_type": _l("Lieu"),
    "initiative": _l("Initiative"), "age_band": _l("Âge"), "gender": _l("Genre"),
    "languages": _l("Langues"), "situations": _l("Situations"), "themes": _l("Thèmes"),
    "responses": _l("Réponses"), "person_code": _l("Code personne"), "note": _l("Note"),
    "kind": _l("Type"), "started_at": _l("Début"), "ended_at": _l("Fin"),
    "team": _l("Équipe"), "place_label": _l("Lieu"), "contact": _l("Contact"),
    "organisation": _l("Service"), "modality": _l("Modalité"), "message": _l("Message"),
    "bridge": _l("Suivi-pont"), "status": _l("Statut"), "outcome": _l("Issue"),
    "reply": _l("Réponse du service"), "lead": _l("Personne qui mène le suivi"),
    "next_step_due": _l("Prochaine étape"), "attached_organisation": _l("Service relais"),
    "occurred_on": _l("Date"), "mission": _l("Mission"), "participants": _l("Participants"),
    "organisations": _l("Services partenaires"), "title": _l("Titre"), "name": _l("Nom"),
    "category": _l("Catégorie"), "commune": _l("Commune"), "phone": _l("Téléphone"),
    "email": _l("Courriel"), "website": _l("Site web"), "description": _l("Description"),
    "active": _l("Actif"), "title_fr": _l("Intitulé en français"),
    "title_nl": _l("Intitulé en néerlandais"), "title_en": _l("Intitulé en anglais"),
    "target": _l("Cible"), "objective_id": _l("Objectif"), "code": _l("Code"),
    "label_fr": _l("Intitulé en français"), "label_nl": _l("Intitulé en néerlandais"),
    "label_en": _l("Intitulé en anglais"),
    "record": _l("Enregistrements comptés"), "measure": _l("Mesure"),
    "filter": _l("Filtre"), "position": _l("Ordre"),
}


@dataclass(frozen=True)
class Kind:
    """How one record type is versioned."""

    name: str
    model: type
    snapshot: Callable[[Any], dict]
    sets: frozenset[str] = frozenset()       # multi-valued: merged as sets
    secrets: frozenset[str] = frozenset()    # free text: sealed in history, never displayed
    hashed: dict[str, str] = field(default_factory=dict)  # write-only field → its column
    read_only: frozenset[str] = frozenset()  # moved by transition rules, never by a PUT
    # Who made the first version and when (kept by the first change).
    creator: str | None = None
    created: str | None = None

    def label(self, name: str) -> str:
        return str(LABELS.get(name, name))


KINDS = {kind.model: kind for kind in (
    Kind("contact", Contact, _contact, sets=frozenset(CONTACT_MULTI_TERMS),
         secrets=frozenset({"note"}), hashed={"person_code": "person_code_hash"},
         creator="author_id", created="created_at"),
    Kind("outing", Outing, _outing, sets=frozenset({"team"}), creator="created_by_id",
         created="created_at"),
    Kind("referral", Referral, _referral, secrets=frozenset({"message", "reply"}),
         read_only=frozenset({"status", "outcome", "reply"}), creator="created_by_id",
         created="created_at"),
    Kind("bridge", Bridge, _bridge,
         read_only=frozenset({"status", "outcome", "attached_organisation"}),
         creator="created_by_id", created="opened_at"),
    Kind("bridge_step", BridgeStep, _step, secrets=frozenset({"note"}), creator="author_id",
         created="created_at"),
    Kind("collective_action", CollectiveAction, _action,
         sets=frozenset({"organisations", "themes"}), creator="created_by_id",
         created="created_at"),
    Kind("organisation", Organisation, _columns(*ORGANISATION_FIELDS)),
    Kind("objective", Objective, _columns(*OBJECTIVE_FIELDS)),
    Kind("indicator", Indicator, _columns(*INDICATOR_FIELDS)),
)}
KINDS_BY_NAME = {kind.name: kind for kind in KINDS.values()}


def kind_of(record) -> Kind:
    return KINDS[type(record)]


def snapshot(record) -> dict:
    # Reading must not flush a change still being judged (a merge may yet refuse it).
    with db.session.no_autoflush:
        return kind_of(record).snapshot(record)


def changed_fields(before: dict, after: dict) -> list[str]:
    return [name for name in after if before.get(name) != after.get(name)]


# -- the three-way merge ---------------------------------------------------------------------
@dataclass
class Merge:
    values: dict
    conflicts: list[str]
    theirs: list[str]   # fields where a colleague's change was kept beside the sender's


def merge(base: dict, theirs: dict, yours: dict, sets=frozenset()) -> Merge:
    """Merge the sender's version (`yours`) into the current one (`theirs`), both made from
    `base`. Pure: property-tested in tests/test_merge.py."""
    values, conflicts, kept = {}, [], []
    for name in dict.fromkeys([*base, *theirs, *yours]):
        b, t, y = base.get(name), theirs.get(name), yours.get(name)
        if name in sets:
            b, t, y = set(b or ()), set(t or ()), set(y or ())
            added, removed = (t - b) | (y - b), (b - t) | (b - y)
            values[name] = sorted((b | added) - removed, key=str)
            # Named only when the colleague's codes change what the sender sent, as for a
            # single value: the same codes added (or removed) on both sides is not news.
            if set(values[name]) != y:
                kept.append(name)
        elif y == b:
            values[name] = t
            if t != b:
                kept.append(name)
        elif t in (b, y):
            values[name] = y
        else:
            values[name] = t
            conflicts.append(name)
    return Merge(values, conflicts, [n for n in kept if n not in conflicts])


# -- the history ---------------------------------------------------------------------------------
def _history_aad(kind: Kind, record_id, version: int, name: str) -> bytes:
    return crypto.associated_data("record_version", name, f"{kind.name}/{record_id}/{version}")


def _sealed(kind: Kind, record_id, version: int, values: dict) -> dict:
    out = dict(values)
    for name in kind.secrets:
        if out.get(name) is not None:
            out[name] = crypto.keyring().encrypt(
                out[name], _history_aad(kind, record_id, version, name))
    return out


def _opened(kind: Kind, row: RecordVersion) -> dict:
    out = dict(row.fields)
    for name in kind.secrets:
        if out.get(name) is not None:
            out[name] = crypto.keyring().decrypt(
                out[name], _history_aad(kind, row.record_id, row.version, name))
    return out


def reseal_history(ring: crypto.KeyRing) -> int:
    """Re-encrypt the free text of kept versions under the newest key (key rotation)."""
    count = 0
    for row in db.session.scalars(select(RecordVersion)):
        kind = KINDS_BY_NAME.get(row.record_type)
        if kind is None or not kind.secrets:
            continue
        fields, touched = dict(row.fields), False
        for name in kind.secrets:
            token = fields.get(name)
            if token is not None and ring.key_id_of(token) != ring.current.key_id:
                aad = _history_aad(kind, row.record_id, row.version, name)
                fields[name] = ring.encrypt(ring.decrypt(token, aad), aad)
                touched = True
                count += 1
        if touched:
            row.fields = fields
    return count


def _row(kind: Kind, record, version: int) -> RecordVersion | None:
    return db.session.scalar(select(RecordVersion).where(
        RecordVersion.record_type == kind.name, RecordVersion.record_id == str(record.id),
        RecordVersion.version == version))


def stored(record, version: int) -> dict | None:
    """The fields of `record` as they were at `version` (None when not known)."""
    kind = kind_of(record)
    if version == record.version:
        return snapshot(record)
    with db.session.no_autoflush:
        row = _row(kind, record, version)
    return _opened(kind, row) if row is not None else None


def history(record) -> list[RecordVersion]:
    """The kept versions of a record, newest first (only versions after a first change)."""
    kind = kind_of(record)
    return list(db.session.scalars(
        select(RecordVersion).where(RecordVersion.record_type == kind.name,
                                    RecordVersion.record_id == str(record.id))
        .order_by(RecordVersion.version.desc())))


def last_changes(record, upto: int) -> dict[str, RecordVersion]:
    """For each field, the kept version that last changed it (up to version `upto`)."""
    found: dict = {}
    for row in history(record):  # newest first
        if row.version <= upto:
            for name in row.changed or ():
                found.setdefault(name, row)
    return found


def user_names(ids) -> dict[int, str]:
    from .models import User

    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return {u.id: u.display_name for u in db.session.scalars(select(User).where(
        User.id.in_(ids)))}


def changed_by(record, fields, upto: int) -> dict[str, dict]:
    """Who gave each of `fields` its value at version `upto`, and when (for the person who
    has to choose between that value and their own)."""
    last = last_changes(record, upto)
    names = user_names({row.changed_by_id for row in last.values()})
    return {name: {"name": names.get(last[name].changed_by_id),
                   "at": _iso(last[name].changed_at)}
            for name in fields if name in last}


def _user():
    if has_request_context() and current_user.is_authenticated:
        return current_user
    return None


def record_change(record, before: dict, after: dict, *, via: str, by=None) -> list[str]:
    """Keep a change made by `by` (default: the signed-in person): bump the version and
    store the new fields. Returns the changed fields (none: nothing is written and the
    version stays)."""
    kind = kind_of(record)
    changed = changed_fields(before, after)
    _tracked(record)
    if not changed:
        return []
    version = record.version or 1
    neighbourhood_id = getattr(record, "neighbourhood_id", None)
    if version == 1:
        # The first change keeps the version the record was created with.
        db.session.add(RecordVersion(
            record_type=kind.name, record_id=str(record.id), version=1,
            neighbourhood_id=neighbourhood_id, via="created",
            changed_by_id=getattr(record, kind.creator) if kind.creator else None,
            changed_at=(getattr(record, kind.created) if kind.created else None)
            or datetime.now(UTC),
            changed=None, fields=_sealed(kind, record.id, 1, before)))
    record.version = version + 1
    user = by or _user()
    db.session.add(RecordVersion(
        record_type=kind.name, record_id=str(record.id), version=version + 1,
        neighbourhood_id=neighbourhood_id, via=via, changed_by_id=getattr(user, "id", None),
        changed_at=datetime.now(UTC), changed=changed,
        fields=_sealed(kind, record.id, version + 1, after)))
    return changed


@contextmanager
def tracked(record, *, via: str, by=None) -> Iterator[Any]:
    """Around a change made by its own rules (a status change, a handover, a closing).

    Inside `save` (a PUT that also moves a status) the change is already being kept, and a
    record not yet stored has no version to keep: both pass through.
    """
    if not inspect(record).persistent or id(record) in db.session.info.get("versions_saving",
                                                                              ()):
        yield record
        return
    before = snapshot(record)
    _tracked(record)  # the change may flush before it is kept (a lazy load in between)
    yield record
    record_change(record, before, snapshot(record), via=via, by=by)


@contextmanager
def _saving(record) -> Iterator[None]:
    saving = db.session.info.setdefault("versions_saving", set())
    saving.add(id(record))
    _tracked(record)
    try:
        yield
    finally:
        saving.discard(id(record))


def not_a_change(record) -> None:
    """A rewrite that leaves every field as it was (a note re-encrypted under a new key):
    no version, and the record's last change (`updated_at`, which retention reads as its
    last activity) stays as it was."""
    _tracked(record)
    if hasattr(type(record), "updated_at") and inspect(record).persistent:
        # Written back as it is, so that the column's onupdate does not set it to now.
        record.updated_at = record.updated_at  # loaded, if it was expired
        flag_modified(record, "updated_at")


# -- saving with a precondition --------------------------------------------------------------------
class PreconditionFailed(Exception):
    """If-Match named a version this record never had."""


@dataclass
class Saved:
    record: Any
    changed: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)  # a colleague's fields kept beside yours
    conflict: Conflict | None = None


@dataclass
class Conflict:
    fields: list[str]
    current: dict
    base: dict | None
    yours: dict
    current_version: int
    base_version: int | None  # None: the sender did not say which version it saw


def save(load: Callable[[], Any], payload: dict, seen, apply: Callable[[Any, dict], None],
         *, via: str) -> Saved:
    """Apply `payload` to the record `load()` gives, as an edit of version `seen`.

    `seen` is the version the sender saw, or ANY to overwrite. `apply(record, payload)`
    checks and applies a payload (raising Invalid or a transition rule's refusal). The caller
    commits; a concurrent writer makes that commit fail, and the caller calls `save` again.
    On a conflict the session is rolled back and nothing is written.
    """
    kind = None
    merged: list[str] = []
    for _ in range(8):
        record = load()
        kind = kind_of(record)
        version = record.version
        current = snapshot(record)
        with _saving(record):
            apply(record, payload)
        yours = snapshot(record)
        if seen == ANY or seen == version:
            return Saved(record, record_change(record, current, yours,
                                               via="merge" if merged else via), merged)
        if not isinstance(seen, int) or not 1 <= seen < version:
            db.session.rollback()
            raise PreconditionFailed
        base = stored(record, seen)
        if base is None:
            # A base never kept (an untracked change): every difference must be chosen.
            result = Merge(dict(current), changed_fields(current, yours), [])
        else:
            result = merge(base, current, yours, kind.sets)
        if result.conflicts:
            db.session.rollback()
            return Saved(record, conflict=Conflict(result.conflicts, current, base, yours,
                                           version, seen))
        merged = sorted(set(merged) | set(result.theirs))
        if result.values == yours:
            return Saved(record, record_change(record, current, yours, via="merge"), merged)
        # Take the colleague's fields back: start again from the stored record with the
        # merged values, as an edit of the version they were merged with.
        db.session.rollback()
        payload = payload_for(kind, result.values, yours, payload)
        seen = version
    raise RuntimeError(f"{kind.name if kind else 'record'} kept changing while being merged")


def payload_for(kind: Kind, values: dict, yours: dict, payload: dict) -> dict:
    """The PUT body that gives `values`: the sender's own body for what they keep,
    write-only fields left out when the stored value stays."""
    body = dict(payload)
    for name, value in values.items():
        if name in kind.read_only:
            continue
        if name in kind.hashed:
            if value != yours.get(name):
                body.pop(name, None)  # absent: the stored code stays
            continue
        body[name] = value
    return body


def trial(load: Callable[[], Any], payload: dict, apply) -> tuple[Any, int, dict, dict]:
    """The record as it is and as `payload` would make it; only tried, nothing is kept.
    Returns the record (loaded again), its version, and both snapshots."""
    record = load()
    version = record.version
    current = snapshot(record)
    try:
        with _saving(record):
            apply(record, payload)
        yours = snapshot(record)
    finally:
        db.session.rollback()
    return load(), version, current, yours



# -- what a person may see of versions ----------------------------------------------------------
def public(kind: Kind, values: dict | None, version: int | None = None) -> dict | None:
    """A snapshot as the API shows it: a write-only code becomes `has_<field>`."""
    if values is None:
        return None
    out = {k: v for k, v in values.items() if k not in kind.hashed}
    for name in kind.hashed:
        out[f"has_{name}"] = values.get(name) is not None
    if version is not None:
        out["version"] = version
    return out


# -- a safety net: no change slips past the versions ----------------------------------------------
def _tracked(record) -> None:
    db.session.info.setdefault("versions_tracked", set()).add(id(record))


def _before_flush(session: Session, flush_context, instances) -> None:
    done = session.info.get("versions_tracked", set())
    for record in session.dirty:
        if type(record) not in KINDS or id(record) in done or not _changed(record):
            continue
        kind = KINDS[type(record)]
        # A change made outside app.versions: its base is not kept, so a stale edit against
        # the version before will have to choose field by field (never a silent loss). The
        # test suite refuses it from any page or API call: every view must keep its changes.
        if current_app.config.get("TESTING") and has_request_context():
            raise RuntimeError(f"untracked change of a {kind.name}: use app.versions")
        current_app.logger.warning("untracked change of a %s", kind.name)
        record.version = (record.version or 1) + 1


IGNORED = {"updated_at", "version"}


def _changed(record) -> bool:
    """Any attribute, column or collection, changed in memory (but the bookkeeping ones)."""
    return any(attr.history.has_changes() for attr in inspect(record).attrs
               if attr.key not in IGNORED)


def _clear(session: Session, *args) -> None:
    session.info.pop("versions_tracked", None)


def install() -> None:
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)
        event.listen(Session, "after_commit", _clear)
        event.listen(Session, "after_soft_rollback", _clear)
