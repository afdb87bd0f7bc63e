"""Pages of the bridge follow-ups and the person-code history (field workers only)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from .. import audit, conflicts, versions
from ..access import get_scoped_or_404, role_required
from ..extensions import db
from ..formats import format_date
from ..models import Bridge, BridgeStep, Contact, Role
from ..outreach.records import team_candidates
from ..referrals.service import Conflict, active_organisations, referrals_of_bridge
from ..validation import Invalid
from ..web import local_now
from . import bp
from .history import history_for_code, history_for_hash
from .service import (
    apply_step,
    clean_bridge,
    clean_step,
    close_bridge,
    create_step,
    follow_ups,
    hand_over,
    open_bridge,
    open_bridges_led_by,
    open_bridges_of_team,
    open_step_notes,
)

worker_only = role_required(Role.FIELD_WORKER)


def _form_values(form) -> dict:
    return {key: form.get(key) for key in form}


@bp.route("/contacts/<uuid:contact_id>/bridge", methods=["GET", "POST"])
@worker_only
def open_from_contact(contact_id):
    contact = get_scoped_or_404(Contact, contact_id)
    team = team_candidates([contact.neighbourhood_id])
    default_due = (local_now().date() + timedelta(
        days=current_app.config["BRIDGE_NEXT_STEP_DAYS"])).isoformat()
    values = {"lead": str(current_user.id), "next_step_due": default_due}
    errors: dict = {}
    if request.method == "POST":
        values = _form_values(request.form)
        payload = {"contact": str(contact.id), "lead": values.get("lead"),
                   "organisation": values.get("organisation") or None,
                   "next_step_due": values.get("next_step_due") or None}
        try:
            bridge = open_bridge(uuid.uuid4(), clean_bridge(payload, user=current_user),
                                 current_user)
            db.session.commit()
        except Invalid as exc:
            db.session.rollback()
            errors = exc.errors
        except Conflict as exc:
            db.session.rollback()
            errors = {"contact": [exc.message]}
        else:
            flash(_("Suivi-pont ouvert."), "success")
            return redirect(url_for("bridges.bridge", bridge_id=bridge.id))
    history = history_for_hash(contact.person_code_hash, exclude_contact=contact.id) \
        if contact.person_code_hash else None
    return render_template("bridges/open.html", contact=contact, team=team, values=values,
                           errors=errors, organisations=active_organisations(),
                           code_history=history), 422 if errors else 200


@bp.get("/bridges")
@worker_only
def my_bridges():
    mine = request.args.get("team") != "1"
    bridges = open_bridges_led_by(current_user) if mine else open_bridges_of_team()
    return render_template("bridges/list.html", items=follow_ups(bridges, local_now().date()),
                           mine=mine, review_days=current_app.config["BRIDGE_REVIEW_DAYS"])


def _changes(bridge: Bridge) -> list:
    """The bridge's history and its steps', in the order they happened."""
    entries = conflicts.history_of(bridge)
    for step in bridge.steps:
        entries += conflicts.history_of(step, subject=_(
            "Étape du %(day)s", day=format_date(step.occurred_on, "medium")))
    return conflicts.in_order(entries)


def _render_bridge(bridge: Bridge, *, notes=None, errors=None, values=None, status=200):
    today = local_now().date()
    return render_template(
        "bridges/bridge.html", bridge=bridge, notes=notes, errors=errors or {},
        values=values or {}, follow_up=follow_ups([bridge], today)[0] if bridge.is_open else None,
        team=[u for u in team_candidates([bridge.neighbourhood_id]) if u.id != bridge.lead_id],
        organisations=active_organisations(), today=today.isoformat(), step_id=uuid.uuid4(),
        referrals=referrals_of_bridge(bridge), changes=_changes(bridge),
    ), status


@bp.get("/bridges/<uuid:bridge_id>")
@worker_only
def bridge(bridge_id):
    return _render_bridge(get_scoped_or_404(Bridge, bridge_id))


@bp.get("/bridges/<uuid:bridge_id>/notes")
@worker_only
def bridge_notes(bridge_id):
    found = get_scoped_or_404(Bridge, bridge_id)
    return _render_bridge(found, notes=open_step_notes(found, via="bridge_page"))


@bp.post("/bridges/<uuid:bridge_id>/steps")
@worker_only
def add_step(bridge_id):
    found = get_scoped_or_404(Bridge, bridge_id)
    form = request.form
    try:
        step_id = uuid.UUID(form.get("step_id", ""))
    except ValueError:
        abort(400)
    try:
        clean = clean_step({"occurred_on": form.get("occurred_on") or None,
                            "kind": form.get("kind") or None, "note": form.get("note", ""),
                            "next_step_due": form.get("next_step_due") or None})
        step = db.session.get(BridgeStep, step_id)
        created = step is None
        if created:
            create_step(found, step_id, clean, current_user)
        elif step.bridge_id != found.id:
            raise Conflict(_("Cette étape appartient à un autre suivi-pont."))
        else:  # the same form sent twice: its step again
            with versions.tracked(step, via="page"):
                apply_step(step, clean)
        db.session.commit()
    except Invalid as exc:
        db.session.rollback()
        return _render_bridge(get_scoped_or_404(Bridge, bridge_id), errors=exc.errors,
                              values=_form_values(form), status=422)
    except Conflict as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("bridges.bridge", bridge_id=bridge_id))
    flash(_("Étape ajoutée.") if created else _("Étape déjà enregistrée."), "success")
    return redirect(url_for("bridges.bridge", bridge_id=found.id))


@bp.post("/bridges/<uuid:bridge_id>/handover")
@worker_only
def handover(bridge_id):
    found = get_scoped_or_404(Bridge, bridge_id)
    try:
        clean = clean_bridge({"lead": request.form.get("lead") or None}, found,
                             user=current_user)
        if clean["lead"].id == found.lead_id:
            raise Invalid({"lead": [_("Choisissez une autre personne de l'équipe.")]})
        hand_over(found, clean["lead"], current_user)
        db.session.commit()
    except Invalid as exc:
        db.session.rollback()
        return _render_bridge(get_scoped_or_404(Bridge, bridge_id), errors=exc.errors,
                              status=422)
    except Conflict as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("bridges.bridge", bridge_id=bridge_id))
    flash(_("Suivi-pont confié à %(name)s.", name=found.lead.display_name), "success")
    return redirect(url_for("bridges.bridge", bridge_id=found.id))


@bp.post("/bridges/<uuid:bridge_id>/close")
@worker_only
def close(bridge_id):
    found = get_scoped_or_404(Bridge, bridge_id)
    payload = {"outcome": request.form.get("outcome") or None,
               "organisation": request.form.get("organisation") or None}
    try:
        close_bridge(found, payload, current_user)
        db.session.commit()
    except Invalid as exc:
        db.session.rollback()
        return _render_bridge(get_scoped_or_404(Bridge, bridge_id), errors=exc.errors,
                              values=_form_values(request.form), status=422)
    except Conflict as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("bridges.bridge", bridge_id=bridge_id))
    flash(_("Suivi-pont clôturé."), "success")
    return redirect(url_for("bridges.bridge", bridge_id=found.id))


@bp.post("/person-code-history")
@worker_only
def person_code_history():
    """The history behind a typed code, as an HTML fragment for the forms (the code travels
    in the body of a POST, never in an address)."""
    code = (request.form.get("person_code") or "").strip()
    exclude = request.form.get("exclude_contact")
    try:
        exclude_id = uuid.UUID(exclude) if exclude else None
        history = history_for_code(code, exclude_id)
    except ValueError:
        return render_template("bridges/_code_history.html", history=None), 200
    audit.record("person_code_lookup", detail={"found": not history.empty})
    db.session.commit()
    return render_template("bridges/_code_history.html", history=history)
