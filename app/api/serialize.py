"""Records as the JSON the API returns (see openapi.py for the contract)."""

from __future__ import annotations

from ..models import (
    CONTACT_MULTI_TERMS,
    CONTACT_SINGLE_TERMS,
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
        "name": organisation.name,
        "category": organisation.category,
        "commune": organisation.commune,
        "phone": organisation.phone,
        "email": organisation.email,
        "website": organisation.website,
        "description": organisation.description,
        "active": organisation.active,
    }


def referral_json(referral: Referral, *, for_partner: bool) -> dict:
    """A referral as its team sees it, or as the addressed partner sees it.

    The partner gets what it needs to take the person up and call the worker back, and
    nothing of the contact itself: no contact id (it would link referrals together), no
    note, no person code.
    """
    body = {
        "id": str(referral.id),
        "organisation": referral.organisation_id,
        "neighbourhood": referral.neighbourhood.code,
        "modality": referral.modality,
        "message": referral.read_message(),
        "status": referral.status,
        "outcome": referral.outcome,
        "reply": referral.read_reply(),
        "created_at": iso(referral.created_at),
        "sent_at": iso(referral.sent_at),
        "history": [{"status": e.status, "outcome": e.outcome, "at": iso(e.at), "by": e.by_id,
                     "by_name": e.by.display_name} for e in referral.history],
        "worker": {"id": referral.created_by_id, "name": referral.created_by.display_name,
                   "email": referral.created_by.email},
    }
    if for_partner:
        body["themes"] = referral.contact.codes("theme")
    else:
        body["contact"] = str(referral.contact_id)
    return body
