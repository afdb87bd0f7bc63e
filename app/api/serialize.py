"""Records as the JSON the API returns (see openapi.py for the contract)."""

from __future__ import annotations

from ..models import (
    CONTACT_MULTI_TERMS,
    CONTACT_SINGLE_TERMS,
    Bridge,
    BridgeStep,
    Contact,
    Organisation,
    Outing,
    Referral,
)


def iso(moment) -> str | None:
    return moment.isoformat() if moment else None


def contact_json(contact: Contact, *, note: str | None = None, include_note=False) -> dict:
    body = {
        "id": str(contact.id),
        "version": contact.version,
        "neighbourhood": contact.neighbourhood.code,
        "outing": str(contact.outing_id) if contact.outing_id else None,
        "occurred_at": iso(contact.occurred_at),
        "people_count": contact.people_count,
        **{field: getattr(contact, field) for field in CONTACT_SINGLE_TERMS},
        **{field: contact.codes(vocabulary) for field, vocabulary in CONTACT_MULTI_TERMS.items()},
        # The person code is write-only: say whether there is one, never what it is.
        "has_person_code": contact.person_code_hash is not None,
        "has_note": contact.has_note,
        "author": contact.author_id,
        "created_at": iso(contact.created_at),
        "updated_at": iso(contact.updated_at),
    }
    if include_note:
        body["note"] = note
    return body


def outing_json(outing: Outing) -> dict:
    return {
        "id": str(outing.id),
        "version": outing.version,
        "neighbourhood": outing.neighbourhood.code,
        "kind": outing.kind,
        "started_at": iso(outing.started_at),
        "ended_at": iso(outing.ended_at),
        "team": [u.id for u in outing.team],
        "place_label": outing.place_label,
        "created_at": iso(outing.created_at),
        "updated_at": iso(outing.updated_at),
    }


def organisation_json(organisation: Organisation) -> dict:
    return {
        "id": organisation.id,
        "version": organisation.version,
        "name": organisation.name,
        "category": organisation.category,
        "commune": organisation.commune,
        "phone": organisation.phone,
        "email": organisation.email,
        "website": organisation.website,
        "description": organisation.description,
        "active": organisation.active,
    }


def referral_json(referral: Referral, *, for_partner: bool, texts: dict | None = None) -> dict:
    """A referral as its team sees it, or as the addressed partner sees it.

    The partner gets what it needs to take the person up and call the worker back, and
    nothing of the contact itself: no contact id (it would link referrals together), no
    note, no person code. The message and the reply are in it only when `texts` (decrypted
    and audited, referrals.service.open_texts) is given: lists and write answers only say
    whether there is one.
    """
    body = {
        "id": str(referral.id),
        "version": referral.version,
        "organisation": referral.organisation_id,
        "neighbourhood": referral.neighbourhood.code,
        "modality": referral.modality,
        "has_message": referral.message is not None,
        "status": referral.status,
        "outcome": referral.outcome,
        "has_reply": referral.reply is not None,
        "created_at": iso(referral.created_at),
        "sent_at": iso(referral.sent_at),
        "history": [{"status": e.status, "outcome": e.outcome, "at": iso(e.at), "by": e.by_id,
                     "by_name": e.by.display_name} for e in referral.history],
        "worker": {"id": referral.created_by_id, "name": referral.created_by.display_name,
                   "email": referral.created_by.email},
    }
    if texts is not None:
        body["message"], body["reply"] = texts["message"], texts["reply"]
    if for_partner:
        body["themes"] = referral.contact.codes("theme")
    else:
        body["contact"] = str(referral.contact_id)
        body["bridge"] = str(referral.bridge_id) if referral.bridge_id else None
    return body


def step_json(step: BridgeStep, *, note: str | None = None, include_note=False) -> dict:
    body = {
        "id": str(step.id),
        "version": step.version,
        "bridge": str(step.bridge_id),
        "occurred_on": step.occurred_on.isoformat(),
        "kind": step.kind,
        "author": step.author_id,
        "has_note": step.note is not None,
        "created_at": iso(step.created_at),
    }
    if include_note:
        body["note"] = note
    return body


def bridge_json(bridge: Bridge, *, notes: dict | None = None) -> dict:
    """A bridge for its team. Step notes only when `notes` (decrypted, audited) is given."""
    return {
        "id": str(bridge.id),
        "version": bridge.version,
        "neighbourhood": bridge.neighbourhood.code,
        "contact": str(bridge.origin_contact_id),
        "lead": bridge.lead_id,
        "organisation": bridge.organisation_id,
        "next_step_due": bridge.next_step_due.isoformat() if bridge.next_step_due else None,
        "status": bridge.status,
        "outcome": bridge.outcome,
        "attached_organisation": bridge.attached_organisation_id,
        "opened_at": iso(bridge.opened_at),
        "closed_at": iso(bridge.closed_at),
        "steps": [step_json(s, note=(notes or {}).get(s.id), include_note=notes is not None)
                  for s in bridge.steps],
        "handovers": [{"from": h.from_id, "to": h.to_id, "at": iso(h.at)}
                      for h in bridge.handovers],
    }


def code_history_json(history) -> dict:
    """What the team knows behind a person code; the code itself is never in it."""
    return {
        "contact_count": history.contact_count,
        "people_count": history.people_count,
        "contacts": [{"id": str(c.id), "occurred_at": iso(c.occurred_at),
                      "neighbourhood": c.neighbourhood.code, "themes": c.codes("theme")}
                     for c in history.contacts],
        "bridges": [{"id": str(b.id), "status": b.status, "outcome": b.outcome,
                     "opened_at": iso(b.opened_at), "closed_at": iso(b.closed_at),
                     "lead": b.lead_id} for b in history.bridges],
        "referrals": [{"id": str(r.id), "organisation": r.organisation_id, "status": r.status,
                       "outcome": r.outcome} for r in history.referrals],
    }


def collective_action_json(action) -> dict:
    return {
        "id": str(action.id),
        "version": action.version,
        "neighbourhood": action.neighbourhood.code,
        "mission": action.mission,
        "occurred_on": action.occurred_on.isoformat(),
        "participants": action.participants,
        "organisations": [o.id for o in action.organisations],
        "themes": action.codes("theme"),
        "title": action.title,
        "created_at": iso(action.created_at),
        "updated_at": iso(action.updated_at),
    }


def indicator_json(figure) -> dict:
    """One indicator figure, suppressed: a hidden figure is null with "suppressed": true."""
    indicator, cell = figure.indicator, figure.current
    previous = figure.previous
    return {
        "code": indicator.code,
        "plan": indicator.objective.plan,
        "objective": indicator.objective.code,
        "label": indicator.label(),
        "labels": {"fr": indicator.label_fr, "nl": indicator.label_nl,
                   "en": indicator.label_en},
        "record": indicator.record,
        "measure": indicator.measure,
        "value": None if cell.suppressed else cell.value,
        "suppressed": cell.suppressed,
        "previous_year": None if previous.suppressed else previous.value,
        "previous_year_suppressed": previous.suppressed,
        "target": indicator.objective.target,
    }
