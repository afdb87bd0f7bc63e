"""The rights of the person met, through the API (issue 14): what the worker's
neighbourhoods keep linked to a person code, and forgetting it. The code travels in the
body only; nothing linked within the worker's scope answers 404 (for them it does not exist)."""

from __future__ import annotations

from flask import abort, jsonify
from flask_babel import lazy_gettext as _l

from ..access import role_required
from ..models import Role
from ..people.service import BadCode, code_hash_of, forget, kept_for, looked_up
from ..validation import Checker, Invalid
from . import bp
from .routes import _json_object
from .serialize import iso


def _code_hash() -> str:
    payload = _json_object()
    check = Checker(payload, {"person_code"})
    if not check.has("person_code"):
        check.fail("person_code", _l("Ce champ est obligatoire."))
    check.done()
    try:
        return code_hash_of(payload["person_code"])
    except BadCode as exc:
        raise Invalid({"person_code": [exc.message]}) from None


def _kept_json(kept) -> dict:
    """Counts and records without free text, internal ids or names of workers."""
    return {
        "counts": kept.counts(),
        "contacts": [{
            "occurred_at": iso(c.occurred_at), "neighbourhood": c.neighbourhood.code,
            "people_count": c.people_count, "place_type": c.place_type,
            "initiative": c.initiative, "age_band": c.age_band, "gender": c.gender,
            "languages": c.codes("language"), "situations": c.codes("situation"),
            "themes": c.codes("theme"), "responses": c.codes("response"),
            "has_note": c.note is not None,
        } for c in kept.contacts],
        "referrals": [{
            "created_at": iso(r.created_at), "neighbourhood": r.neighbourhood.code,
            "organisation": r.organisation_id, "modality": r.modality, "status": r.status,
            "outcome": r.outcome, "has_message": r.message is not None,
            "has_reply": r.reply is not None,
        } for r in kept.referrals],
        "bridges": [{
            "neighbourhood": b.neighbourhood.code, "opened_at": iso(b.opened_at),
            "closed_at": iso(b.closed_at), "status": b.status, "outcome": b.outcome,
            "organisation": b.organisation_id, "steps": kept.steps(b),
            "step_notes": kept.step_notes(b),
        } for b in kept.bridges],
    }


@bp.post("/people/lookup")
@role_required(Role.FIELD_WORKER)
def people_lookup():
    kept = kept_for(_code_hash())
    if kept.empty:
        abort(404)
    looked_up(kept, via="api")
    return jsonify(_kept_json(kept))


@bp.post("/people/forget")
@role_required(Role.FIELD_WORKER)
def people_forget():
    result = forget(_code_hash(), via="api")
    if result is None:
        abort(404)
    return jsonify(result)
