"""Field worker pages: refer a contact, my referrals, a referral; the directory for everyone."""

from __future__ import annotations

import uuid

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import or_, select

from .. import conflicts, vocab
from ..access import get_scoped_or_404, role_required, scoped
from ..extensions import db
from ..models import OPEN_STATUSES, Contact, Organisation, Referral, Role
from ..validation import Invalid
from . import bp
from .service import (
    active_organisations,
    change_status,
    clean_referral,
    create_referral,
    open_texts,
    recent_outcomes,
)

ALL_ROLES = tuple(Role)
worker_only = role_required(Role.FIELD_WORKER)


@bp.route("/contacts/<uuid:contact_id>/refer", methods=["GET", "POST"])
@worker_only
def refer(contact_id):
    contact = get_scoped_or_404(Contact, contact_id)
    values: dict = {"send": "1", "bridge": request.args.get("bridge", "")}
    errors: dict = {}
    if request.method == "POST":
        form = request.form
        values = {key: form.get(key) for key in form}
        payload = {"contact": str(contact.id), "organisation": form.get("organisation") or None,
                   "modality": form.get("modality") or None, "message": form.get("message", ""),
                   "bridge": form.get("bridge") or None}
        try:
            clean = clean_referral(payload)
        except Invalid as exc:
            errors = exc.errors
        else:
            create_referral(uuid.uuid4(), clean, current_user, send=bool(form.get("send")))
            db.session.commit()
            flash(_("Orientation enregistrée vers %(name)s.", name=clean["organisation"].name),
                  "success")
            if clean["bridge"] is not None:
                return redirect(url_for("bridges.bridge", bridge_id=clean["bridge"].id))
            return redirect(url_for("outreach.contact", contact_id=contact.id))
    return render_template(
        "referrals/refer.html", contact=contact, organisations=active_organisations(),
        values=values, errors=errors,
    ), 422 if errors else 200


@bp.get("/referrals")
@worker_only
def my_referrals():
    show = request.args.get("show", "open")
    mine = request.args.get("team") != "1"
    query = scoped(Referral)
    if show == "closed":
        query = query.where(Referral.status == "closed")
    else:
        show = "open"
        query = query.where(Referral.status.in_(OPEN_STATUSES))
    if mine:
        query = query.where(Referral.created_by_id == current_user.id)
    referrals = db.session.scalars(
        query.order_by(Referral.status_changed_at.desc()).limit(200)
    ).all()
    return render_template("referrals/list.html", referrals=referrals, show=show, mine=mine)


def _referral_page(found: Referral, **context):
    """The partner's page or the team's; only the team sees who changed what. The page shows
    the message and the reply: an audited reading."""
    texts = open_texts(found, via="page")
    if current_user.role == Role.PARTNER:
        return render_template("partners/referral.html", referral=found, **texts, **context)
    return render_template("referrals/referral.html", referral=found,
                           changes=conflicts.history_of(found), **texts, **context)


@bp.get("/referrals/<uuid:referral_id>")
@role_required(Role.FIELD_WORKER, Role.PARTNER)
def referral(referral_id):
    return _referral_page(get_scoped_or_404(Referral, referral_id), errors={})


@bp.post("/referrals/<uuid:referral_id>/status")
@role_required(Role.FIELD_WORKER, Role.PARTNER)
def referral_status(referral_id):
    found = get_scoped_or_404(Referral, referral_id)
    payload = {"status": request.form.get("status") or None}
    if request.form.get("outcome"):
        payload["outcome"] = request.form["outcome"]
    if request.form.get("reply", "").strip():
        payload["reply"] = request.form["reply"]
    try:
        changed = change_status(found, current_user, payload)
    except Invalid as exc:
        db.session.rollback()
        found = get_scoped_or_404(Referral, referral_id)
        return _referral_page(found, errors=exc.errors, values=request.form), 422
    db.session.commit()
    if changed:
        flash(_("Orientation mise à jour."), "success")
    return redirect(url_for("referrals.referral", referral_id=found.id))


# -- the directory, readable by every signed-in user ------------------------------------------
@bp.get("/directory")
@role_required(*ALL_ROLES)
def directory():
    q = request.args.get("q", "").strip()
    category = request.args.get("category", "")
    commune = request.args.get("commune", "")
    query = select(Organisation).where(Organisation.active.is_(True))
    if q:
        pattern = f"%{q}%"
        query = query.where(or_(Organisation.name.ilike(pattern),
                                Organisation.description.ilike(pattern)))
    if category:
        query = query.where(Organisation.category == category)
    if commune:
        query = query.where(Organisation.commune == commune)
    organisations = db.session.scalars(query.order_by(Organisation.name)).all()
    communes = db.session.scalars(
        select(Organisation.commune).where(Organisation.active.is_(True),
                                           Organisation.commune.is_not(None))
        .distinct().order_by(Organisation.commune)
    ).all()
    return render_template("referrals/directory.html", organisations=organisations, q=q,
                           category=category, commune=commune, communes=communes,
                           categories=vocab.terms("org_category"))


@bp.get("/directory/<int:organisation_id>")
@role_required(*ALL_ROLES)
def organisation(organisation_id):
    found = db.session.get(Organisation, organisation_id)
    if found is None or not (found.active or current_user.role == Role.ADMIN):
        abort(404)
    recent = recent_outcomes(found) if current_user.role == Role.FIELD_WORKER else None
    return render_template("referrals/organisation.html", organisation=found, recent=recent)
