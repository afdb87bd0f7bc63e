"""API routes. Writes are idempotent PUTs keyed by client-generated UUIDs."""

from __future__ import annotations

import hashlib
import uuid

from flask import abort, jsonify, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select

from .. import audit, versions, vocab
from ..access import get_scoped_or_404, role_required, scoped
from ..bridges.history import history_for_code
from ..bridges.service import (
    apply_bridge,
    apply_step,
    clean_bridge,
    clean_step,
    close_bridge,
    create_step,
    open_bridge,
    open_step_notes,
    step_sent_again,
)
from ..evaluation import dashboard, selection
from ..extensions import db
from ..models import (
    STATUSES,
    Bridge,
    BridgeStep,
    CollectiveAction,
    Contact,
    Organisation,
    Outing,
    Referral,
    Role,
)
from ..outreach.records import (
    apply_collective_action,
    apply_contact,
    apply_outing,
    clean_collective_action,
    clean_contact,
    clean_outing,
    open_note,
)
from ..referrals.service import (
    Conflict,
    change_status,
    clean_referral,
    create_referral,
    open_texts,
    update_referral,
)
from ..validation import Checker, Invalid
from . import bp, preconditions
from .openapi import openapi_document
from .serialize import (
    bridge_json,
    code_history_json,
    collective_action_json,
    contact_json,
    indicator_json,
    organisation_json,
    outing_json,
    referral_json,
    step_json,
)

ALL_ROLES = tuple(Role)


@bp.errorhandler(Invalid)
def invalid(exc: Invalid):
    db.session.rollback()
    return jsonify(error=str(_l("Certaines données ne sont pas valides.")),
                   errors=exc.errors), 422


def _json_object() -> dict:
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        raise Invalid({"_body": [_("Un objet JSON est attendu.")]})
    return payload


def _put(model, record_id: uuid.UUID, clean, create, update, serialize):
    """Create or change one record under the precondition the sender gives (DESIGN §5).

    Scope comes first: a record outside the user's scope answers 404 whatever the headers.
    Validation happens before anything is written; any refusal rolls back. When another
    writer commits the same record at the same moment, the loser's commit fails on the
    version check (or the unique id) and the whole request is judged again.
    """
    payload = _json_object()
    if db.session.get(model, record_id) is not None:
        # Scope comes first (DESIGN §5): another team's record answers 404 whatever the
        # headers, a malformed precondition included (it was a 422 before the scope check).
        get_scoped_or_404(model, record_id)
    precondition = preconditions.read(request.headers)
    return versions.retrying(
        lambda: _put_once(model, record_id, payload, precondition, clean, create, update,
                          serialize),
        _CreatedMeanwhile)


class _CreatedMeanwhile(Exception):
    """A creation refused by a rule because of this very id, created by another request."""


def _put_once(model, record_id, payload, precondition, clean, create, update, serialize):
    if db.session.get(model, record_id) is None:
        if precondition.version not in (None, versions.ANY):
            return preconditions.missing()
        try:
            record = create(record_id, clean(payload))
        except Conflict:
            # The same creation sent twice at once (the page and the phone's queue): when the
            # twin has committed first, a rule such as "one open bridge per person" sees it
            # and refuses. If it is this very id, judge the request again, as a resend.
            db.session.rollback()
            if db.session.get(model, record_id) is not None:
                raise _CreatedMeanwhile from None
            raise
        db.session.commit()
        return preconditions.answer(serialize(record), record, 201)

    def load():
        return get_scoped_or_404(model, record_id)  # exists, but maybe not for this user

    def apply(record, body):
        update(record, clean(body, record))

    if precondition.version is None:
        try:
            record, _, current, yours = versions.trial(load, payload, apply)
        except Conflict:
            db.session.rollback()
            _compared(load(), payload)
            raise
        if precondition.create and versions.changed_fields(current, yours):
            return preconditions.exists(record, current)  # shows the record: audited there
        if not versions.changed_fields(current, yours):
            response = preconditions.answer(serialize(record), record, 200)
        else:
            response = preconditions.required()
        _compared(load(), payload)
        return response
    try:
        saved = versions.save(load, payload, precondition.version, apply,
                              via="overwrite" if precondition.version == versions.ANY else "api")
    except versions.PreconditionFailed:
        return preconditions.unknown_version(load())
    if saved.conflict is not None:
        return preconditions.conflict(load(), saved.conflict)
    if precondition.version == versions.ANY and saved.changed:
        audit.record("record_overwritten", obj=saved.record,
                     object_type=versions.kind_of(saved.record).name,
                     detail={"fields": saved.changed})
    db.session.commit()
    body = serialize(saved.record)
    body["merged"] = saved.merged
    return preconditions.answer(body, saved.record, 200)


def _compared(record, payload: dict) -> None:
    """A resend without a version is answered "unchanged" (200) or refused (428, 409) after
    comparing it with the stored record: when that comparison involves stored free text
    (a note, a message), the answer tells whether a guess of it was right. Such a comparison
    is audited like a reading, whatever its result."""
    kind = versions.kind_of(record)
    stored = [getattr(record, name) for name in kind.secrets
              if name in payload and payload[name] not in (None, "")]
    audit.opened(record, *stored, object_type=kind.name, via="api_compare")


def _creator(model, apply, **fields):
    """A `create(record_id, clean)` for _put: a new row of `model` with `apply` on it."""
    def create(record_id, clean):
        record = model(id=record_id, **fields)
        apply(record, clean)
        db.session.add(record)
        return record
    return create


@bp.get("/me")
@role_required(*ALL_ROLES)
def me():
    user = current_user
    return jsonify(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        role=user.role,
        organisation=user.organisation.name if user.organisation else None,
        neighbourhoods=[{"code": n.code, "name": n.name, "commune": n.commune}
                        for n in user.neighbourhoods],
        csrf_token=generate_csrf(),
    )


@bp.get("/vocabularies")
@role_required(*ALL_ROLES)
def vocabularies():
    grouped = {
        name: [{"code": t.code, "label": t.label(),
                "labels": {"fr": t.label_fr, "nl": t.label_nl, "en": t.label_en},
                "active": t.active} for t in terms]
        for name, terms in vocab.vocabularies().items()
    }
    response = jsonify(vocabularies=grouped)
    # Phones keep the vocabularies offline and only download them again when they change.
    response.set_etag(hashlib.sha256(response.get_data()).hexdigest()[:32])
    response.headers["Cache-Control"] = "private, no-cache"
    return response.make_conditional(request)


@bp.get("/contacts/<uuid:contact_id>")
@role_required(Role.FIELD_WORKER)
def get_contact(contact_id):
    contact = get_scoped_or_404(Contact, contact_id)
    note = open_note(contact, via="api")
    return preconditions.answer(contact_json(contact, note=note, include_note=True), contact)


@bp.put("/contacts/<uuid:contact_id>")
@role_required(Role.FIELD_WORKER)
def put_contact(contact_id):
    return _put(Contact, contact_id, clean_contact,
                _creator(Contact, apply_contact, author_id=current_user.id), apply_contact,
                contact_json)


@bp.get("/outings/<uuid:outing_id>")
@role_required(Role.FIELD_WORKER)
def get_outing(outing_id):
    outing = get_scoped_or_404(Outing, outing_id)
    return preconditions.answer(outing_json(outing), outing)


@bp.put("/outings/<uuid:outing_id>")
@role_required(Role.FIELD_WORKER)
def put_outing(outing_id):
    return _put(Outing, outing_id, clean_outing,
                _creator(Outing, apply_outing, created_by_id=current_user.id), apply_outing,
                outing_json)


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())


# -- directory and referrals -----------------------------------------------------------------
@bp.get("/directory")
@role_required(*ALL_ROLES)
def directory():
    organisations = db.session.scalars(select(Organisation).order_by(Organisation.id)).all()
    response = jsonify(organisations=[organisation_json(o) for o in organisations])
    # The ETag changes with any change to the directory: a phone downloads it only then.
    response.set_etag(hashlib.sha256(response.get_data()).hexdigest()[:32])
    response.headers["Cache-Control"] = "private, no-cache"
    return response.make_conditional(request)


@bp.errorhandler(Conflict)
def conflict(exc: Conflict):
    db.session.rollback()
    return jsonify(error=exc.message), 409


def _partner_aware_json(referral: Referral, texts: dict | None = None) -> dict:
    return referral_json(referral, for_partner=current_user.role == Role.PARTNER, texts=texts)


@bp.get("/referrals")
@role_required(Role.FIELD_WORKER, Role.PARTNER)
def list_referrals():
    query = scoped(Referral)
    status = request.args.get("status")
    if status:
        wanted = status.split(",")
        if not set(wanted) <= set(STATUSES):
            raise Invalid({"status": [_("Statut inconnu : %(status)s", status=status[:40])]})
        query = query.where(Referral.status.in_(wanted))
    referrals = db.session.scalars(query.order_by(Referral.created_at.desc()).limit(500)).all()
    return jsonify(referrals=[_partner_aware_json(r) for r in referrals])


@bp.get("/referrals/<uuid:referral_id>")
@role_required(Role.FIELD_WORKER, Role.PARTNER)
def get_referral(referral_id):
    referral = get_scoped_or_404(Referral, referral_id)
    texts = open_texts(referral, via="api")  # the record itself: shown, audited
    return preconditions.answer(_partner_aware_json(referral, texts), referral)


@bp.put("/referrals/<uuid:referral_id>")
@role_required(Role.FIELD_WORKER)
def put_referral(referral_id):
    # Created "proposed", or "sent" with "send": true (one request for the offline queue);
    # later moves are status changes (POST …/status).
    return _put(Referral, referral_id, clean_referral,
                lambda rid, clean: create_referral(rid, clean, current_user,
                                                   send=clean["send"]),
                update_referral, _partner_aware_json)


@bp.post("/referrals/<uuid:referral_id>/status")
@role_required(Role.FIELD_WORKER, Role.PARTNER)
def referral_status(referral_id):
    referral = get_scoped_or_404(Referral, referral_id)
    change_status(referral, current_user, _json_object())
    db.session.commit()
    return jsonify(_partner_aware_json(referral))


# -- bridge follow-ups and the person-code history -------------------------------------------
@bp.get("/bridges")
@role_required(Role.FIELD_WORKER)
def list_bridges():
    query = scoped(Bridge)
    status = request.args.get("status")
    if status:
        if status not in ("open", "closed"):
            raise Invalid({"status": [_("Statut inconnu : %(status)s", status=status[:40])]})
        query = query.where(Bridge.status == status)
    bridges = db.session.scalars(query.order_by(Bridge.opened_at.desc()).limit(500)).all()
    return jsonify(bridges=[bridge_json(b) for b in bridges])


@bp.get("/bridges/<uuid:bridge_id>")
@role_required(Role.FIELD_WORKER)
def get_bridge(bridge_id):
    bridge = get_scoped_or_404(Bridge, bridge_id)
    notes = open_step_notes(bridge, via="api")
    return preconditions.answer(bridge_json(bridge, notes=notes), bridge)


@bp.put("/bridges/<uuid:bridge_id>")
@role_required(Role.FIELD_WORKER)
def put_bridge(bridge_id):
    def clean(payload, existing=None):
        return clean_bridge(payload, existing, user=current_user)

    def update(bridge, data):
        if not bridge.is_open:
            unchanged = (data["lead"].id == bridge.lead_id
                         and data["organisation"] == bridge.organisation)
            if unchanged:
                return  # a retry of what was sent before the bridge was closed
            raise Conflict(_l("Ce suivi-pont est clôturé : il ne change plus."))
        apply_bridge(bridge, data, current_user)

    return _put(Bridge, bridge_id, clean,
                lambda rid, data: open_bridge(rid, data, current_user), update, bridge_json)


@bp.get("/bridges/<uuid:bridge_id>/steps/<uuid:step_id>")
@role_required(Role.FIELD_WORKER)
def get_bridge_step(bridge_id, step_id):
    step = get_scoped_or_404(BridgeStep, step_id)
    if step.bridge_id != bridge_id:
        abort(404)
    note = step.read_note()
    audit.opened(step.bridge, note, via="api", detail={"step": str(step.id)})
    return preconditions.answer(step_json(step, note=note, include_note=True), step)


@bp.put("/bridges/<uuid:bridge_id>/steps/<uuid:step_id>")
@role_required(Role.FIELD_WORKER)
def put_bridge_step(bridge_id, step_id):
    get_scoped_or_404(Bridge, bridge_id)
    step = db.session.get(BridgeStep, step_id)
    if step is not None and step.bridge_id != bridge_id:
        raise Conflict(_l("Cette étape appartient à un autre suivi-pont."))
    if step is not None and not step.bridge.is_open:
        # Sent again to a closed bridge: answered from the note's digest, nothing opened.
        step_sent_again(step, clean_step(_json_object()))
        return preconditions.answer(step_json(step), step)

    def create(new_id, clean):
        return create_step(get_scoped_or_404(Bridge, bridge_id), new_id, clean, current_user)

    return _put(BridgeStep, step_id, lambda payload, existing=None: clean_step(payload),
                create, apply_step, step_json)


@bp.post("/bridges/<uuid:bridge_id>/close")
@role_required(Role.FIELD_WORKER)
def close_bridge_api(bridge_id):
    bridge = get_scoped_or_404(Bridge, bridge_id)
    close_bridge(bridge, _json_object(), current_user)
    db.session.commit()
    return jsonify(bridge_json(bridge))


@bp.post("/person-codes/history")
@role_required(Role.FIELD_WORKER)
def person_code_history():
    payload = _json_object()
    check = Checker(payload, {"person_code", "exclude_contact"})
    code = check.text("person_code", max_length=64, required=True)
    exclude = check.uuid("exclude_contact")
    check.done()
    try:
        history = history_for_code(code, exclude)
    except ValueError:
        raise Invalid({"person_code": [_("Le code doit contenir au moins une lettre ou un "
                                         "chiffre.")]}) from None
    audit.record("person_code_lookup", detail={"found": not history.empty, "via": "api"})
    db.session.commit()
    return jsonify(code_history_json(history))


# -- collective actions and indicators -----------------------------------------------------------
@bp.get("/collective-actions/<uuid:action_id>")
@role_required(Role.FIELD_WORKER)
def get_collective_action(action_id):
    action = get_scoped_or_404(CollectiveAction, action_id)
    return preconditions.answer(collective_action_json(action), action)


@bp.put("/collective-actions/<uuid:action_id>")
@role_required(Role.FIELD_WORKER)
def put_collective_action(action_id):
    return _put(CollectiveAction, action_id, clean_collective_action,
                _creator(CollectiveAction, apply_collective_action,
                         created_by_id=current_user.id),
                apply_collective_action, collective_action_json)


@bp.get("/indicators")
@role_required(Role.COORDINATOR, Role.FIELD_WORKER)
def indicators():
    chosen = selection.read(request.args, strict=True)
    k = dashboard.suppression_k()
    perturbed = not selection.inside_the_team(current_user)
    figures = dashboard.indicator_figures([n.id for n in chosen.neighbourhoods],
                                          chosen.period, k, perturbed)
    audit.record("export", object_type="evaluation", detail={
        "format": "api", "neighbourhoods": [n.code for n in chosen.neighbourhoods],
        "from": chosen.period.start.isoformat(), "to": chosen.period.end.isoformat()})
    db.session.commit()
    return jsonify(
        neighbourhoods=[n.code for n in chosen.neighbourhoods],
        **{"from": chosen.period.start.isoformat(), "to": chosen.period.end.isoformat()},
        k=k, perturbed=perturbed, indicators=[indicator_json(f) for f in figures],
    )
