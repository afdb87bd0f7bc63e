"""The rules of a bridge follow-up, shared by the pages and the API.

A bridge is opened from a contact that carries a person code, led by one worker of the
neighbourhood team (handed over within that team only), takes steps while open, and closes
with an outcome; "attached to a service" names the service.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

from flask import current_app
from flask_babel import lazy_gettext as _l

from .. import audit, crypto, versions
from ..access import scoped
from ..extensions import db
from ..models import Bridge, BridgeHandover, BridgeStep, Contact, Organisation, User
from ..outreach.records import team_candidates
from ..referrals.service import Conflict
from ..validation import Checker

BRIDGE_FIELDS = {"neighbourhood", "contact", "lead", "organisation", "next_step_due"}
STEP_FIELDS = {"occurred_on", "kind", "note", "next_step_due"}
CLOSE_FIELDS = {"outcome", "organisation"}
ATTACHED = "accroche_service"
NOTE_MAX_LENGTH = 4000


def _organisation(check: Checker, field: str, *, keep_id: int | None = None):
    value = check.payload.get(field)
    if isinstance(value, str) and value.isdigit():
        value = int(value)  # from a form
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        check.fail(field, _l("Identifiant non valide."))
        return None
    organisation = db.session.get(Organisation, value)
    if organisation is None or not (organisation.active or value == keep_id):
        check.fail(field, _l("Service inconnu ou inactif."))
        return None
    return organisation


def _lead(check: Checker, neighbourhood_id: int | None, default: User | None):
    value = check.payload.get("lead")
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        check.fail("lead", _l("Identifiant non valide."))
        return None
    team = {u.id: u for u in team_candidates([neighbourhood_id])} if neighbourhood_id else {}
    if value not in team:
        check.fail("lead", _l("Un suivi-pont reste dans l'équipe du quartier."))
        return None
    return team[value]


def clean_bridge(payload: dict, existing: Bridge | None = None, *, user) -> dict:
    check = Checker(payload, BRIDGE_FIELDS)
    clean: dict = {"contact": existing.origin_contact if existing else None}
    if existing is None:
        contact_id = check.uuid("contact")
        if contact_id is None and "contact" not in check.errors:
            check.fail("contact", _l("Ce champ est obligatoire."))
        elif contact_id is not None:
            clean["contact"] = db.session.execute(
                scoped(Contact).where(Contact.id == contact_id)).scalar_one_or_none()
            if clean["contact"] is None:
                check.fail("contact", _l("Contact inconnu."))
            elif clean["contact"].person_code_hash is None:
                check.fail("contact", _l("Un suivi-pont demande un code personne : "
                                         "ajoutez-le d'abord au contact."))
    elif check.has("contact") and str(check.payload["contact"]) != str(existing.origin_contact_id):
        check.fail("contact", _l("Le contact d'origine d'un suivi-pont ne change pas."))
    contact = clean["contact"]
    neighbourhood_id = contact.neighbourhood_id if contact is not None else None
    code = check.payload.get("neighbourhood")
    if code is not None and contact is not None and code != contact.neighbourhood.code:
        check.fail("neighbourhood", _l("Le suivi-pont est dans le quartier de son contact."))
    default_lead = existing.lead if existing else (
        user if user.id in {u.id for u in team_candidates([neighbourhood_id])} else None
    ) if neighbourhood_id else None
    clean["lead"] = _lead(check, neighbourhood_id, default_lead)
    if clean["lead"] is None and "lead" not in check.errors and contact is not None:
        check.fail("lead", _l("Choisissez qui mène le suivi."))
    clean["organisation"] = _organisation(
        check, "organisation", keep_id=existing.organisation_id if existing else None)
    clean["next_step_due"] = check.day("next_step_due", required=False, future_ok=True)
    check.done()
    return clean


def open_bridge(bridge_id: uuid.UUID, clean: dict, user) -> Bridge:
    contact = clean["contact"]
    already = db.session.scalar(
        scoped(Bridge).where(Bridge.person_code_hash == contact.person_code_hash,
                             Bridge.neighbourhood_id == contact.neighbourhood_id,
                             Bridge.status == "open"))
    if already is not None:
        raise Conflict(_l("Un suivi-pont est déjà ouvert pour cette personne dans ce quartier."))
    bridge = Bridge(
        id=bridge_id, neighbourhood_id=contact.neighbourhood_id,
        person_code_hash=contact.person_code_hash, origin_contact=contact,
        created_by_id=user.id, status="open", opened_at=datetime.now(UTC),
    )
    apply_bridge(bridge, clean, user)
    db.session.add(bridge)
    return bridge


def apply_bridge(bridge: Bridge, clean: dict, user) -> None:
    if bridge.lead_id is not None and clean["lead"].id != bridge.lead_id:
        hand_over(bridge, clean["lead"], user)
    bridge.lead = clean["lead"]
    bridge.lead_id = clean["lead"].id
    bridge.organisation = clean["organisation"]
    bridge.next_step_due = clean["next_step_due"]


def hand_over(bridge: Bridge, to: User, user) -> None:
    if not bridge.is_open:
        raise Conflict(_l("Ce suivi-pont est clôturé."))
    with versions.tracked(bridge, via="handover"):
        bridge.handovers.append(BridgeHandover(from_id=bridge.lead_id, to_id=to.id,
                                               by_id=user.id, at=datetime.now(UTC)))
        bridge.lead = to
        bridge.lead_id = to.id


def clean_step(payload: dict) -> dict:
    check = Checker(payload, STEP_FIELDS)
    clean = {
        "occurred_on": check.day("occurred_on", required=True, future_ok=False),
        "kind": check.term("kind", "bridge_step_kind"),
        "note": check.text("note", max_length=NOTE_MAX_LENGTH) if check.has("note") else None,
        "next_step_due": check.day("next_step_due", required=False, future_ok=True),
    }
    if clean["kind"] is None and "kind" not in check.errors:
        check.fail("kind", _l("Choisissez le type d'étape."))
    check.done()
    return clean


def create_step(bridge: Bridge, step_id: uuid.UUID, clean: dict, user) -> BridgeStep:
    if not bridge.is_open:
        raise Conflict(_l("Ce suivi-pont est clôturé : il ne prend plus d'étape."))
    step = BridgeStep(id=step_id, bridge=bridge, author_id=user.id)
    db.session.add(step)
    apply_step(step, clean)
    return step


def apply_step(step: BridgeStep, clean: dict) -> None:
    """Write a step's fields; a step may move its bridge's next step date."""
    bridge = step.bridge
    if not bridge.is_open:
        step_sent_again(step, clean)
        return  # a retry of a step sent before the bridge was closed
    if clean.get("next_step_due") and clean["next_step_due"] != bridge.next_step_due:
        with versions.tracked(bridge, via="step"):
            bridge.next_step_due = clean["next_step_due"]
    step.occurred_on = clean["occurred_on"]
    step.kind = clean["kind"]
    if not _same_note(step, clean.get("note")):
        step.set_note(clean["note"])


def _same_note(step: BridgeStep, text: str | None) -> bool:
    """Compared with the keyed digest beside the note, never by opening it (no unaudited
    reading, no oracle); a note older than digests is never "the same"."""
    return crypto.same_text(step.__tablename__, "note", step.id, step.note, step.note_digest,
                            text)


def _same_step(step: BridgeStep, clean: dict) -> bool:
    return (step.occurred_on == clean["occurred_on"] and step.kind == clean["kind"]
            and _same_note(step, clean.get("note")))


def step_sent_again(step: BridgeStep, clean: dict) -> None:
    """A step sent again once its bridge is closed: a retry of what was sent before the
    closing is answered as done, anything else is refused (409).

    Judged from the keyed digest beside the note, never by opening it, and a comparison
    with a stored note is audited whatever its result: guessing a note this way leaves the
    same trace as reading it. Nothing of the step is changed."""
    same = _same_step(step, clean)
    if step.note is not None and crypto.normalise_text(clean.get("note")) is not None:
        audit.opened(step.bridge, step.note, via="compare", detail={"step": str(step.id)})
    if not same:
        raise Conflict(_l("Ce suivi-pont est clôturé : il ne prend plus d'étape."))


def open_step_notes(bridge: Bridge, via: str) -> dict:
    """Decrypt the notes of a bridge's steps for its team; the reading is audited."""
    notes = {step.id: step.read_note() for step in bridge.steps}
    audit.opened(bridge, *notes.values(), via=via,
                 detail={"steps": sum(note is not None for note in notes.values())})
    return notes


def close_bridge(bridge: Bridge, payload: dict, user) -> bool:
    check = Checker(payload, CLOSE_FIELDS)
    outcome = check.term("outcome", "bridge_outcome")
    if outcome is None and "outcome" not in check.errors:
        check.fail("outcome", _l("Indiquez comment le suivi-pont se termine."))
    organisation = _organisation(check, "organisation",
                                 keep_id=bridge.attached_organisation_id)
    if outcome == ATTACHED and organisation is None and "organisation" not in check.errors:
        check.fail("organisation", _l("Indiquez le service qui a pris le relais."))
    check.done()
    if not bridge.is_open:
        same = (bridge.outcome == outcome and bridge.attached_organisation_id ==
                (organisation.id if organisation and outcome == ATTACHED else None))
        if same:
            return False
        raise Conflict(_l("Ce suivi-pont est déjà clôturé."))
    with versions.tracked(bridge, via="close"):
        bridge.status = "closed"
        bridge.outcome = outcome
        bridge.attached_organisation = organisation if outcome == ATTACHED else None
        bridge.closed_at = datetime.now(UTC)
        bridge.next_step_due = None
    return True


@dataclass
class FollowUp:
    bridge: Bridge
    overdue: bool
    days_late: int
    open_days: int
    needs_review: bool


def follow_ups(bridges: list[Bridge], today: date, review_days: int | None = None) -> list:
    """Open bridges as a to-do list: overdue first (most late first), then by next step due,
    those without a date last; long-open ones flagged for review (a bridge is meant short)."""
    review_days = review_days or current_app.config["BRIDGE_REVIEW_DAYS"]
    items = []
    for bridge in bridges:
        due = bridge.next_step_due
        opened = bridge.opened_at.date()
        open_days = (today - opened).days
        items.append(FollowUp(
            bridge=bridge, overdue=due is not None and due < today,
            days_late=(today - due).days if due is not None and due < today else 0,
            open_days=open_days, needs_review=open_days > review_days,
        ))
    return sorted(items, key=lambda f: (not f.overdue, f.bridge.next_step_due or date.max,
                                        f.bridge.opened_at))


def open_bridges_led_by(user) -> list[Bridge]:
    return list(db.session.scalars(
        scoped(Bridge).where(Bridge.status == "open", Bridge.lead_id == user.id)))


def open_bridges_of_team() -> list[Bridge]:
    return list(db.session.scalars(scoped(Bridge).where(Bridge.status == "open")))
