"""The rules of a referral's life, shared by the pages and the API.

proposed → sent → received → closed, never backwards; closing needs an outcome; the
neighbourhood team and the addressed partner move it, nobody else; every change is kept.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from .. import audit, crypto, versions
from ..access import scoped
from ..extensions import db
from ..models import (
    STATUSES,
    Bridge,
    Contact,
    Organisation,
    Referral,
    ReferralEvent,
    Role,
)
from ..validation import Checker, Invalid

REFERRAL_FIELDS = {"contact", "organisation", "modality", "message", "bridge", "send"}
STATUS_FIELDS = {"status", "outcome", "reply"}
MESSAGE_MAX_LENGTH = 2000


class Conflict(Exception):
    """The request is valid but the record's state no longer allows it (409)."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = str(message)


def clean_referral(payload: dict, existing: Referral | None = None) -> dict:
    check = Checker(payload, REFERRAL_FIELDS)
    clean: dict = {}
    contact_id = check.uuid("contact")
    clean["contact"] = None
    if contact_id is None and "contact" not in check.errors:
        check.fail("contact", _l("Ce champ est obligatoire."))
    elif contact_id is not None:
        clean["contact"] = db.session.execute(
            scoped(Contact).where(Contact.id == contact_id)
        ).scalar_one_or_none()
        if clean["contact"] is None:
            check.fail("contact", _l("Contact inconnu."))
    organisation_id = check.payload.get("organisation")
    clean["organisation"] = None
    if isinstance(organisation_id, str) and organisation_id.isdigit():
        organisation_id = int(organisation_id)  # from a form
    if organisation_id is None or organisation_id == "":
        check.fail("organisation", _l("Choisissez un service."))
    elif isinstance(organisation_id, bool) or not isinstance(organisation_id, int):
        check.fail("organisation", _l("Identifiant non valide."))
    else:
        organisation = db.session.get(Organisation, organisation_id)
        same_as_before = existing is not None and existing.organisation_id == organisation_id
        if organisation is None or not (organisation.active or same_as_before):
            check.fail("organisation", _l("Service inconnu ou inactif."))
        clean["organisation"] = organisation
    clean["bridge"] = existing.bridge if existing else None
    bridge_id = check.uuid("bridge")
    if bridge_id is not None and clean["contact"] is not None:
        bridge = db.session.execute(
            scoped(Bridge).where(Bridge.id == bridge_id)).scalar_one_or_none()
        if bridge is None or bridge.person_code_hash != clean["contact"].person_code_hash:
            check.fail("bridge", _l("Ce suivi-pont ne concerne pas ce contact."))
        else:
            clean["bridge"] = bridge
    clean["modality"] = check.term("modality", "referral_modality",
                                   keep=existing.modality if existing else None)
    if clean["modality"] is None and "modality" not in check.errors:
        check.fail("modality", _l("Choisissez comment la personne est orientée."))
    if check.has("message"):
        clean["message"] = check.text("message", max_length=MESSAGE_MAX_LENGTH)
    clean["send"] = check.payload.get("send", False)
    if not isinstance(clean["send"], bool):
        check.fail("send", _l("Vrai ou faux est attendu."))
    check.done()
    return clean


def create_referral(referral_id: uuid.UUID, clean: dict, user, *, send: bool) -> Referral:
    contact = clean["contact"]
    referral = Referral(
        id=referral_id, contact=contact, contact_id=contact.id,
        neighbourhood_id=contact.neighbourhood_id, organisation=clean["organisation"],
        modality=clean["modality"], status="proposed", created_by_id=user.id,
        bridge=clean.get("bridge"),
    )
    referral.set_message(clean.get("message"))
    referral.history.append(ReferralEvent(status="proposed", by_id=user.id,
                                          at=datetime.now(UTC)))
    db.session.add(referral)
    if send:
        change_status(referral, user, {"status": "sent"})
    return referral


def update_referral(referral: Referral, clean: dict) -> None:
    """A referral can be corrected while it is only proposed; once sent, it stays as sent."""
    if clean.get("send") and referral.status == "proposed":
        change_status(referral, referral.created_by, {"status": "sent"})
    # Compared with the keyed digest beside the message, never by opening it (no unaudited
    # reading, no oracle); a message older than digests is never "the same".
    message_changes = "message" in clean and not crypto.same_text(
        referral.__tablename__, "message", referral.id, referral.message,
        referral.message_digest, clean["message"])
    changes = (
        clean["contact"].id != referral.contact_id
        or clean["organisation"].id != referral.organisation_id
        or clean["modality"] != referral.modality
        or message_changes
    )
    if not changes:
        return
    if referral.status != "proposed":
        raise Conflict(_l("Cette orientation a déjà été envoyée : elle ne peut plus être "
                          "modifiée. Créez-en une nouvelle si besoin."))
    referral.contact = clean["contact"]
    referral.neighbourhood_id = clean["contact"].neighbourhood_id
    referral.organisation = clean["organisation"]
    referral.modality = clean["modality"]
    if "message" in clean:
        referral.set_message(clean["message"])


def open_texts(referral: Referral, via: str) -> dict:
    """Decrypt a referral's message and reply for the record's own page or API answer; the
    reading is audited (lists only say whether there is a message or a reply)."""
    texts = {"message": referral.read_message(), "reply": referral.read_reply()}
    audit.opened(referral, *texts.values(), via=via,
                 detail={"fields": [name for name, text in texts.items() if text is not None]})
    return texts


def _rank(status: str) -> int:
    return STATUSES.index(status)


def change_status(referral: Referral, user, payload: dict) -> bool:
    """Move a referral on. Returns False when it already was in that state (a retry)."""
    check = Checker(payload, STATUS_FIELDS)
    status = payload.get("status")
    if status not in STATUSES:
        check.fail("status", _l("Statut inconnu."))
        check.done()
    outcome = check.term("outcome", "referral_outcome")
    reply = check.text("reply", max_length=MESSAGE_MAX_LENGTH) if check.has("reply") else None
    is_partner = user.role == Role.PARTNER
    if is_partner and status not in ("received", "closed"):
        check.fail("status", _l("Le service peut accuser réception ou clôturer."))
    if not is_partner and check.has("reply") and reply:
        check.fail("reply", _l("Seul le service destinataire peut répondre."))
    if status == "closed" and outcome is None and "outcome" not in check.errors:
        check.fail("outcome", _l("Indiquez l'issue de l'orientation pour la clôturer."))
    if status != "closed" and outcome is not None:
        check.fail("outcome", _l("Une issue ne se donne qu'à la clôture."))
    check.done()

    if referral.status == "closed":
        if status == "closed" and outcome == referral.outcome and not reply:
            return False  # the same closing sent again
        raise Invalid({"status": [str(_l("Cette orientation est clôturée."))]})
    if _rank(status) < _rank(referral.status):
        raise Invalid({"status": [str(_l("Une orientation ne revient pas en arrière."))]})

    changed = False
    with versions.tracked(referral, via="status"):
        if reply:
            referral.set_reply(reply)
            changed = True
        if status != referral.status:
            now = datetime.now(UTC)
            referral.status = status
            referral.outcome = outcome
            referral.status_changed_at = now
            if status in ("sent", "received") and referral.sent_at is None:
                referral.sent_at = now
            referral.history.append(ReferralEvent(status=status, outcome=outcome, at=now,
                                                  by_id=user.id))
            changed = True
    return changed


def referrals_of_contact(contact: Contact) -> list[Referral]:
    return list(db.session.scalars(
        scoped(Referral).where(Referral.contact_id == contact.id)
        .order_by(Referral.created_at.desc())
    ))


def referrals_of_bridge(bridge) -> list[Referral]:
    return list(db.session.scalars(
        scoped(Referral).where(Referral.bridge_id == bridge.id)
        .order_by(Referral.created_at.desc())
    ))


def recent_outcomes(organisation: Organisation, days: int = 90) -> dict:
    """What became of the team's referrals to one service lately: how many, and how many
    ended in each outcome (a saturated service shows here)."""
    since = datetime.now(UTC) - timedelta(days=days)
    rows = db.session.execute(
        scoped(Referral).with_only_columns(Referral.outcome, func.count())
        .where(Referral.organisation_id == organisation.id, Referral.created_at >= since)
        .group_by(Referral.outcome)
    ).all()
    by_outcome = {outcome: n for outcome, n in rows}
    return {"days": days, "total": sum(by_outcome.values()), "open": by_outcome.pop(None, 0),
            "outcomes": by_outcome}


def active_organisations() -> list[Organisation]:
    return list(db.session.scalars(
        select(Organisation).where(Organisation.active.is_(True)).order_by(Organisation.name)
    ))
