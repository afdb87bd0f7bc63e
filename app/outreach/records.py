"""Checking and applying outings and contacts, for the pages and the API alike."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from .. import audit
from ..access import require_member, scoped
from ..crypto import normalise_person_code
from ..extensions import db
from ..models import (
    CONTACT_MULTI_TERMS,
    CONTACT_SINGLE_TERMS,
    Contact,
    Neighbourhood,
    Outing,
    Role,
    User,
    membership,
)
from ..validation import Checker

CONTACT_FIELDS = {
    "neighbourhood", "outing", "occurred_at", "people_count", "person_code", "note",
    *CONTACT_SINGLE_TERMS, *CONTACT_MULTI_TERMS,
}
OUTING_FIELDS = {"neighbourhood", "kind", "started_at", "ended_at", "team", "place_label"}


def _neighbourhood(check: Checker, default: Neighbourhood | None) -> Neighbourhood | None:
    """The target neighbourhood: 422 when unknown, 403 when the user is not a member."""
    code = check.payload.get("neighbourhood")
    if code is None and default is not None:
        return default
    if not isinstance(code, str) or not code:
        check.fail("neighbourhood", _l("Choisissez un quartier."))
        return None
    found = db.session.scalar(select(Neighbourhood).where(Neighbourhood.code == code))
    if found is None:
        check.fail("neighbourhood", _l("Quartier inconnu."))
        return None
    require_member(found.id)
    return found


def clean_contact(payload: dict, existing: Contact | None = None, *, from_form=False) -> dict:
    check = Checker(payload, CONTACT_FIELDS, from_form=from_form)
    now = datetime.now(UTC)
    config = current_app.config
    clean: dict = {
        "neighbourhood": _neighbourhood(check, existing.neighbourhood if existing else None),
        "occurred_at": check.moment("occurred_at", now=now),
        "people_count": check.integer("people_count", minimum=1,
                                      maximum=config["MAX_PEOPLE_PER_CONTACT"], default=1),
    }
    for field, vocabulary in CONTACT_SINGLE_TERMS.items():
        keep = getattr(existing, field) if existing else None
        clean[field] = check.term(field, vocabulary, keep=keep)
    for field, vocabulary in CONTACT_MULTI_TERMS.items():
        keep = existing.codes(vocabulary) if existing else []
        clean[field] = check.terms(field, vocabulary, keep=keep)

    outing_id = check.uuid("outing")
    clean["outing"] = None
    if outing_id is not None:
        outing = db.session.execute(
            scoped(Outing).where(Outing.id == outing_id)
        ).scalar_one_or_none()
        if outing is None:
            check.fail("outing", _l("Sortie inconnue."))
        elif clean["neighbourhood"] and outing.neighbourhood_id != clean["neighbourhood"].id:
            check.fail("outing", _l("Cette sortie a lieu dans un autre quartier."))
        else:
            clean["outing"] = outing

    # Write-only secrets: absent means "leave as it is", null or "" means "remove".
    if check.has("person_code"):
        code = check.text("person_code", max_length=config["PERSON_CODE_MAX_LENGTH"])
        if code is not None and not normalise_person_code(code):
            check.fail("person_code",
                       _l("Le code doit contenir au moins une lettre ou un chiffre."))
        clean["person_code"] = code
    if check.has("note"):
        clean["note"] = check.text("note", max_length=config["NOTE_MAX_LENGTH"])
    check.done()
    return clean


def apply_contact(contact: Contact, clean: dict) -> None:
    contact.neighbourhood = clean["neighbourhood"]
    contact.neighbourhood_id = clean["neighbourhood"].id
    contact.outing = clean["outing"]
    contact.occurred_at = clean["occurred_at"]
    contact.people_count = clean["people_count"]
    for field in CONTACT_SINGLE_TERMS:
        setattr(contact, field, clean[field])
    for field, vocabulary in CONTACT_MULTI_TERMS.items():
        contact.set_codes(vocabulary, clean[field])
    if "person_code" in clean:
        contact.set_person_code(clean["person_code"])
    if "note" in clean:
        contact.set_note(clean["note"])


def open_note(contact: Contact, via: str) -> str | None:
    """Decrypt a contact's note for its team; every reading leaves an audit event."""
    note = contact.read_note()
    audit.opened(contact, note, via=via)
    return note


def team_candidates(neighbourhood_ids) -> list[User]:
    """Field workers who may join an outing in these neighbourhoods."""
    members = select(membership.c.user_id).where(
        membership.c.neighbourhood_id.in_(list(neighbourhood_ids))
    )
    return list(db.session.scalars(
        select(User).where(User.id.in_(members), User.role == Role.FIELD_WORKER,
                           User.active.is_(True)).order_by(User.display_name)
    ))


def clean_outing(payload: dict, existing: Outing | None = None, *, from_form=False) -> dict:
    check = Checker(payload, OUTING_FIELDS, from_form=from_form)
    now = datetime.now(UTC)
    clean: dict = {
        "neighbourhood": _neighbourhood(check, existing.neighbourhood if existing else None),
        "kind": check.term("kind", "outing_kind", keep=existing.kind if existing else None),
        "started_at": check.moment("started_at", now=now),
        "ended_at": check.moment("ended_at", now=now, required=False),
        "place_label": check.text("place_label", max_length=80),
    }
    if clean["kind"] is None and "kind" not in check.errors:
        check.fail("kind", _l("Choisissez le type de sortie."))
    if clean["started_at"] and clean["ended_at"] and clean["ended_at"] < clean["started_at"]:
        check.fail("ended_at", _l("La fin précède le début."))

    team_ids = check.payload.get("team", [])
    if from_form and isinstance(team_ids, list):
        team_ids = [int(t) if isinstance(t, str) and t.isdigit() else t for t in team_ids]
    if not isinstance(team_ids, list) or not all(
        isinstance(t, int) and not isinstance(t, bool) for t in team_ids
    ):
        check.fail("team", _l("Une liste d'identifiants d'utilisateurs est attendue."))
        team_ids = []
    team: list[User] = []
    if clean["neighbourhood"] is not None:
        candidates = {u.id: u for u in team_candidates([clean["neighbourhood"].id])}
        unknown = [t for t in team_ids if t not in candidates]
        if unknown:
            check.fail("team", _l("Ces personnes ne travaillent pas dans ce quartier."))
        team = [candidates[t] for t in dict.fromkeys(team_ids) if t in candidates]
    clean["team"] = team
    check.done()
    return clean


def apply_outing(outing: Outing, clean: dict) -> None:
    outing.neighbourhood = clean["neighbourhood"]
    outing.neighbourhood_id = clean["neighbourhood"].id
    outing.kind = clean["kind"]
    outing.started_at = clean["started_at"]
    outing.ended_at = clean["ended_at"]
    outing.place_label = clean["place_label"]
    team = list(clean["team"])
    # Whoever records the outing is part of it.
    if current_user.role == Role.FIELD_WORKER and current_user not in team:
        team.insert(0, current_user._get_current_object())
    outing.team = team


def current_outing(user) -> Outing | None:
    """The newest open outing the user is part of."""
    from ..models import outing_team

    mine = select(outing_team.c.outing_id).where(outing_team.c.user_id == user.id)
    return db.session.execute(
        scoped(Outing, user).where(Outing.ended_at.is_(None), Outing.id.in_(mine))
        .order_by(Outing.started_at.desc()).limit(1)
    ).scalar_one_or_none()


ACTION_FIELDS = {"neighbourhood", "mission", "occurred_on", "participants", "organisations",
                 "themes", "title"}


def clean_collective_action(payload: dict, existing=None, *, from_form=False) -> dict:
    from ..models import Organisation

    check = Checker(payload, ACTION_FIELDS, from_form=from_form)
    clean: dict = {
        "neighbourhood": _neighbourhood(check, existing.neighbourhood if existing else None),
        "mission": check.term("mission", "collective_mission",
                              keep=existing.mission if existing else None),
        "occurred_on": check.day("occurred_on", required=True, future_ok=True),
        "participants": check.integer("participants", minimum=0, maximum=100000, default=0),
        "themes": check.terms("themes", "theme",
                              keep=existing.codes("theme") if existing else []),
        "title": check.text("title", max_length=120),
    }
    if clean["mission"] is None and "mission" not in check.errors:
        check.fail("mission", _l("Choisissez la mission."))
    ids = check.payload.get("organisations", [])
    if from_form and isinstance(ids, list):
        ids = [int(i) if isinstance(i, str) and i.isdigit() else i for i in ids]
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool)
                                            for i in ids):
        check.fail("organisations", _l("Une liste d'identifiants de services est attendue."))
        ids = []
    found = {o.id: o for o in db.session.scalars(
        select(Organisation).where(Organisation.id.in_(ids)))} if ids else {}
    if len(found) != len(set(ids)):
        check.fail("organisations", _l("Service inconnu."))
    clean["organisations"] = [found[i] for i in dict.fromkeys(ids) if i in found]
    check.done()
    return clean


def apply_collective_action(action, clean: dict) -> None:
    action.neighbourhood = clean["neighbourhood"]
    action.neighbourhood_id = clean["neighbourhood"].id
    action.mission = clean["mission"]
    action.occurred_on = clean["occurred_on"]
    action.participants = clean["participants"]
    action.title = clean["title"]
    action.organisations = clean["organisations"]
    action.set_codes("theme", clean["themes"])
