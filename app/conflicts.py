"""Versions on the pages (DESIGN §5 "Versions and conflicts"): edit forms that carry the
version they were opened at, the field-by-field choice when two people changed the same
thing, and the history of a record as its team sees it.

Every edit form holds a hidden `version`. Its POST goes through `versions.save`, as a PUT
with If-Match does:

* the version is current: saved;
* it is older: merged three ways against it; a colleague's changes to other fields are kept
  and named in the message, multi-valued fields merge as sets;
* a colleague changed the same field: nothing is written, the page answers 409 with the
  form (its other fields merged, the new version) and a `conflict` section (macro in
  templates/_versions.html) that asks, field by field, "yours" or "theirs" — or "both" for
  free text, appended. Nothing is pre-chosen. The answer comes back as `choice__<field>`,
  with `conflicts` (the fields asked) and `base_version` (the version first seen);
* a form without a version (a page opened before versions existed, a hand-made POST) has
  no known base: every field that differs from the stored record is asked. A record still
  at version 1 has never changed, so such a page can only have shown that version.

The person code is write-only: its value is never put in a page, so keeping "the code I
typed" means typing it again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from . import audit, versions, vocab
from .extensions import db
from .formats import format_date, format_datetime
from .models import (
    CONTACT_MULTI_TERMS,
    CONTACT_SINGLE_TERMS,
    Neighbourhood,
    Objective,
    Organisation,
    Outing,
    User,
)
from .validation import Invalid

CHOICE = "choice__"
YOURS, THEIRS, BOTH = "yours", "theirs", "both"


def read_version(value) -> int | None:
    """The version a form carries (None: absent or not a version)."""
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 10:
        number = int(value.strip())
        return number if number >= 1 else None
    return None


def carried(form: MultiDict) -> int | None:
    """The version a form re-shown with field messages must carry: the one its person saw.

    After a conflict screen that is the version first seen (`base_version`), so that the
    fields still in conflict are asked again rather than taken from the form unasked."""
    if form.getlist("conflicts"):
        return read_version(form.get("base_version"))
    return read_version(form.get("version"))


def formdata(values: dict) -> MultiDict:
    """Values in a snapshot's terms as the form data a browser would post (WTForms)."""
    data = MultiDict()
    for name, value in values.items():
        if value is None:
            data.add(name, "")
        elif isinstance(value, bool):
            if value:
                data.add(name, "y")
        elif isinstance(value, list | tuple):
            for item in value:
                data.add(name, str(item))
        else:
            data.add(name, str(value))
    return data


def show_errors(form, exc) -> None:
    """Field messages of an `Invalid` (from an `apply`) on a WTForms form."""
    for name, messages in exc.errors.items():
        found = getattr(form, name, None)
        if found is not None:
            found.errors = [*found.errors, *messages]


# -- saving a submitted edit form -------------------------------------------------------------
@dataclass
class Choice:
    """One field both sides changed, as the comparison screen shows it."""

    name: str
    label: str
    yours: str
    theirs: str
    by: str | None = None        # who made the current value, and when (from the history)
    at: datetime | None = None
    free_text: bool = False      # "keep both" is offered
    code: bool = False           # write-only: no value is shown
    yours_set: bool = False      # code: whether each side holds a code
    theirs_set: bool = False


@dataclass
class Screen:
    """A conflict to put before the person, with the form re-shown under it."""

    fields: list[Choice]
    version: int                # the current version: the re-shown form carries it
    base_version: int | None    # the version first seen (None: the form carried none)
    values: dict                # the form's values (snapshot terms): merged, yours where asked
    problem: str | None = None  # why the same question is asked again

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]


@dataclass
class Result:
    record: Any
    saved: versions.Saved | None = None
    screen: Screen | None = None


def submit(load: Callable[[], Any], form: MultiDict, payload: dict,
           apply: Callable[[Any, dict], None], *,
           on_saved: Callable[[versions.Saved], None] | None = None) -> Result:
    """Save an edit form's `payload` as an edit of the version the form carries.

    `load()` gives the record (scoped), `apply(record, payload)` checks and applies a payload
    (raising Invalid with field messages), and accepts values in a snapshot's terms too (a
    merged field, a colleague's value chosen). Commits when saved; on a conflict nothing is
    written and `Result.screen` says what to ask.
    """
    def once() -> Result:
        result = _submit_once(load, form, dict(payload), apply)
        if result.saved is not None:
            if on_saved is not None:
                on_saved(result.saved)
            db.session.commit()
        return result

    return versions.retrying(once)


def _submit_once(load, form: MultiDict, payload: dict, apply) -> Result:
    record = load()
    kind = versions.kind_of(record)
    current = versions.snapshot(record)
    seen = read_version(form.get("version"))
    asked = [name for name in dict.fromkeys(form.getlist("conflicts")) if name in current]
    if asked:
        problem = _unanswered(kind, form, payload, asked)
        shown_then = versions.stored(record, seen) if problem is None and seen else None
        if problem is None and shown_then is None:
            problem = _("Choisissez, pour chaque champ, la version à garder.")
        if problem is not None:
            return _ask_again(load, form, payload, apply, asked, problem)
        payload = _chosen(kind, form, payload, asked, shown_then)
    if seen is None and record.version == 1:
        seen = 1  # never changed: the page can only have shown its first version
    base = versions.stored(record, seen) if seen else current
    if base is not None:
        payload = _as_shown(kind, payload, base)
    if seen is None:
        return _unknown_base(load, payload, apply)
    try:
        saved = versions.save(load, payload, seen, apply, via="page")
    except versions.PreconditionFailed:  # a version this record never had
        return _unknown_base(load, payload, apply)
    if saved.conflict is not None:
        record = load()
        return Result(record, screen=_screen(record, saved.conflict))
    return Result(saved.record, saved=saved)


def _unanswered(kind: versions.Kind, form: MultiDict, payload: dict, asked) -> str | None:
    for name in asked:
        choice = form.get(CHOICE + name)
        if choice not in ({YOURS, THEIRS, BOTH} if name in kind.secrets else {YOURS, THEIRS}):
            return _("Choisissez, pour chaque champ, la version à garder.")
        if choice == YOURS and name in kind.hashed and name not in payload:
            return _("Pour garder le code que vous aviez tapé, tapez-le à nouveau : il "
                     "n'est jamais réaffiché.")
    return None


def _chosen(kind: versions.Kind, form: MultiDict, payload: dict, asked, shown: dict) -> dict:
    """The payload with the person's choices: "theirs" is the value the screen showed."""
    out = dict(payload)
    for name in asked:
        choice = form.get(CHOICE + name)
        if choice == THEIRS:
            if name in kind.hashed:
                out.pop(name, None)  # absent: the stored code stays
            else:
                out[name] = shown.get(name)
        elif choice == BOTH:
            out[name] = both(out.get(name), shown.get(name))
    return out


def both(yours: str | None, theirs: str | None) -> str | None:
    """Two free texts kept: yours, a blank line, theirs."""
    mine, other = _text(yours), _text(theirs)
    if not mine or mine == other:
        return other or None
    if not other:
        return mine
    return f"{mine}\n\n{other}"


def _text(value: str | None) -> str:
    return (value or "").replace("\r\n", "\n").strip()


def _moment(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.astimezone(UTC).replace(second=0, microsecond=0) if moment.tzinfo else None


def _looks_same(sent, stored) -> bool:
    """Did the page send back, untouched, a value it cannot show exactly? A moment is shown
    to the minute, a textarea sends its line breaks as CRLF, an empty field means none."""
    if isinstance(sent, str) and stored is None:
        return not sent.strip()
    if not (isinstance(sent, str) and isinstance(stored, str)) or sent == stored:
        return False
    moments = _moment(sent), _moment(stored)
    if None not in moments:
        return moments[0] == moments[1]
    return _text(sent) == _text(stored)


def _as_shown(kind: versions.Kind, payload: dict, base: dict) -> dict:
    """Fields the person left as the page showed them keep their exact stored value, so an
    untouched field is never taken for a change (nor for a conflict)."""
    out = dict(payload)
    for name, value in payload.items():
        if name not in kind.hashed and name in base and _looks_same(value, base[name]):
            out[name] = base[name]
    return out


def _unknown_base(load, payload: dict, apply) -> Result:
    """A form that does not say which version it showed: every difference is asked."""
    record, version, current, yours = versions.trial(load, payload, apply)
    differing = versions.changed_fields(current, yours)
    if not differing:
        return Result(record, saved=versions.Saved(record))
    found = versions.Conflict(differing, current, None, yours, version, None)
    return Result(record, screen=_screen(record, found))


def _ask_again(load, form: MultiDict, payload: dict, apply, asked, problem: str) -> Result:
    """A choice is missing: the same fields are asked again (and any new conflict with a
    change made meanwhile), nothing is written."""
    record = load()
    kind = versions.kind_of(record)
    base_version = read_version(form.get("base_version"))
    base = versions.stored(record, base_version) if base_version else None
    payload = _as_shown(kind, payload, base if base is not None else versions.snapshot(record))
    record, version, current, yours = versions.trial(load, payload, apply)
    for name in asked:
        if name in kind.hashed and name not in payload:
            yours[name] = "typed"  # a code typed before, never shown again: to type again
    fields = list(asked)
    if base is not None:
        fields += [name for name in versions.merge(base, current, yours, kind.sets).conflicts
                   if name not in fields]
    found = versions.Conflict(fields, current, base, yours, version,
                              base_version if base is not None else None)
    return Result(record, screen=_screen(record, found, problem))


def _screen(record, found: versions.Conflict, problem: str | None = None) -> Screen:
    kind = versions.kind_of(record)
    if found.base is not None:
        values = versions.merge(found.base, found.current, found.yours, kind.sets).values
    else:
        values = dict(found.current)
    for name in found.fields:
        values[name] = found.yours.get(name)
    last = versions.last_changes(record, found.current_version)
    names = versions.user_names({row.changed_by_id for row in last.values()})
    fields = []
    for name in found.fields:
        row = last.get(name)
        yours, theirs = found.yours.get(name), found.current.get(name)
        fields.append(Choice(
            name=name, label=kind.label(name),
            yours=shown(kind, name, yours), theirs=shown(kind, name, theirs),
            by=names.get(row.changed_by_id) if row else None,
            at=row.changed_at if row else None,
            free_text=name in kind.secrets, code=name in kind.hashed,
            yours_set=yours is not None, theirs_set=theirs is not None))
    if any(found.current.get(name) is not None for name in kind.secrets):
        # The screen shows the stored free text (in the comparison or in the form).
        audit.record("note_read", obj=record, object_type=kind.name,
                     detail={"via": "conflict_page"})
        db.session.commit()
    return Screen(fields, found.current_version, found.base_version, values, problem)


def saved_message(saved: versions.Saved, done: str) -> str:
    """The flash after a save; a merge names the colleague's fields that were kept."""
    if not saved.merged:
        return done
    kind = versions.kind_of(saved.record)
    return _("%(done)s Entre-temps, un·e collègue avait modifié : %(fields)s. Ses "
             "changements sont gardés avec les vôtres.", done=done,
             fields=", ".join(kind.label(name) for name in saved.merged))


# -- values as a person reads them ------------------------------------------------------------
TERMS = {
    "contact": {**CONTACT_SINGLE_TERMS, **CONTACT_MULTI_TERMS},
    "outing": {"kind": "outing_kind"},
    "collective_action": {"mission": "collective_mission", "themes": "theme"},
    "organisation": {"category": "org_category"},
    "referral": {"modality": "referral_modality", "outcome": "referral_outcome"},
    "bridge": {"outcome": "bridge_outcome"},
    "bridge_step": {"kind": "bridge_step_kind"},
}
MOMENTS = {"occurred_at", "started_at", "ended_at"}
DAYS = {"occurred_on", "next_step_due"}
ORGANISATIONS = {"organisation", "organisations", "attached_organisation"}
USERS = {"lead", "team"}


def shown(kind: versions.Kind, name: str, value) -> str:
    """One field's value in words: vocabulary labels, names, local dates (never a code)."""
    if name in kind.hashed:
        return _("Un code") if value is not None else _("Pas de code")
    if value is None or value == "" or value == []:
        return _("(vide)")
    vocabulary = TERMS.get(kind.name, {}).get(name)
    if vocabulary:
        if isinstance(value, list):
            return ", ".join(vocab.labels_in_order(vocabulary, value)) or ", ".join(value)
        return vocab.labels_for(vocabulary).get(value, value)
    try:
        if name in MOMENTS:
            return format_datetime(datetime.fromisoformat(value), "short")
        if name in DAYS:
            return format_date(date.fromisoformat(value), "medium")
    except (TypeError, ValueError):
        return str(value)
    if name == "neighbourhood":
        found = db.session.scalar(select(Neighbourhood.name).where(Neighbourhood.code == value))
        return found or str(value)
    if name in ORGANISATIONS:
        return _names_of(Organisation, Organisation.name, value)
    if name in USERS:
        return _names_of(User, User.display_name, value)
    if name == "outing":
        outing_id = read_uuid(value)
        outing = db.session.get(Outing, outing_id) if outing_id else None
        if outing is None:
            return str(value)
        return "{} · {}".format(vocab.labels_for("outing_kind").get(outing.kind, outing.kind),
                                format_datetime(outing.started_at, "short"))
    if name == "objective_id":
        objective = db.session.get(Objective, value)
        return f"{objective.plan} {objective.code}" if objective else str(value)
    if isinstance(value, bool):
        return _("Oui") if value else _("Non")
    return str(value)


def read_uuid(value) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _names_of(model, column, value) -> str:
    ids = value if isinstance(value, list) else [value]
    names = dict(db.session.execute(select(model.id, column).where(model.id.in_(ids))).all())
    return ", ".join(str(names.get(i, i)) for i in ids)


# -- the history of a record, for its team ---------------------------------------------------
FREE_TEXT_CHANGED = {
    "note": _l("note modifiée"),
    "message": _l("message au service modifié"),
    "reply": _l("réponse du service modifiée"),
}
CODE_CHANGED = _l("code personne modifié")


@dataclass
class Entry:
    """One line of a record's history: who changed which fields, and when."""

    version: int
    at: datetime | None
    by: str | None
    what: list[str] = field(default_factory=list)  # labels; empty for the creation
    subject: str | None = None  # a part of the record (a bridge's step)

    @property
    def created(self) -> bool:
        return self.version == 1


def changed_labels(kind: versions.Kind, names) -> list[str]:
    """The labels of changed fields; free text and codes only say that they changed."""
    labels = []
    for name in names or ():
        if name in kind.secrets:
            labels.append(str(FREE_TEXT_CHANGED.get(name, _l("texte modifié"))))
        elif name in kind.hashed:
            labels.append(str(CODE_CHANGED))
        else:
            labels.append(kind.label(name))
    return labels


def history_of(record, subject: str | None = None) -> list[Entry]:
    """The versions of a record, oldest first. A record never changed has only its creation
    (from its own author and time); values are never shown, only the fields' labels."""
    kind = versions.kind_of(record)
    rows = versions.history(record)
    names = versions.user_names({row.changed_by_id for row in rows}
                                 | {getattr(record, kind.creator, None) if kind.creator else None})
    entries = [Entry(row.version, row.changed_at, names.get(row.changed_by_id),
                     [] if row.version == 1 else changed_labels(kind, row.changed), subject)
               for row in reversed(rows)]
    if not entries or entries[0].version != 1:
        creator = getattr(record, kind.creator, None) if kind.creator else None
        created = getattr(record, kind.created, None) if kind.created else None
        entries.insert(0, Entry(1, created, names.get(creator), [], subject))
    return entries


def in_order(entries: list[Entry]) -> list[Entry]:
    """Entries of several records (a bridge and its steps) in the order they happened."""
    floor = datetime.min.replace(tzinfo=UTC)
    return sorted(entries, key=lambda e: e.at if e.at is not None else floor)


# -- the edit page of a record kept with a WTForms form ------------------------------------------
def edit_page(model, record_id: int, form_class, values_of, apply, template: str, name: str,
              done: str, on_saved, after: str):
    """The edit page of a record kept with a WTForms form (the directory, the evaluation
    frame): the version it was opened at travels with the form, a stale edit is merged, a
    conflict is asked field by field; saved, it goes to the endpoint `after`."""
    def load():
        found = db.session.get(model, record_id)
        if found is None:
            abort(404)
        return found

    record = load()
    form = form_class(obj=record)
    if request.method != "POST":
        return render_template(template, form=form, version=record.version,
                               **{name: record}), 200
    if form.validate_on_submit():
        try:
            result = submit(load, request.form, values_of(form), apply, on_saved=on_saved)
        except Invalid as exc:
            db.session.rollback()
            show_errors(form, exc)
        else:
            if result.screen is not None:
                shown = form_class(formdata=None, data=result.screen.values)
                return render_template(template, form=shown, version=result.screen.version,
                                       screen=result.screen, **{name: result.record}), 409
            flash(saved_message(result.saved, done), "success")
            return redirect(url_for(after))
    return render_template(template, form=form, version=carried(request.form),
                           **{name: load()}), 422
