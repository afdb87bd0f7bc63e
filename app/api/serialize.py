"""Records as the JSON the API returns (see openapi.py for the contract)."""

from __future__ import annotations

from ..models import CONTACT_MULTI_TERMS, CONTACT_SINGLE_TERMS, Contact, Outing


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
