"""Pages of the field worker: today, outings, the contact form, the list and one contact."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from .. import conflicts, versions, vocab
from ..access import get_scoped_or_404, role_required, scoped
from ..bridges.history import history_for_hash
from ..bridges.service import follow_ups, open_bridges_led_by
from ..extensions import db
from ..models import (
    CONTACT_MULTI_TERMS,
    CONTACT_SINGLE_TERMS,
    CollectiveAction,
    Contact,
    ContactTerm,
    Neighbourhood,
    Outing,
    Role,
)
from ..referrals.service import active_organisations, referrals_of_contact
from ..validation import Invalid
from ..web import local_now, local_tz
from . import bp
from .forms import contact_payload, local_input_value, outing_payload
from .records import (
    apply_collective_action,
    apply_contact,
    apply_outing,
    clean_collective_action,
    clean_contact,
    clean_outing,
    current_outing,
    open_note,
    team_candidates,
)

worker_only = role_required(Role.FIELD_WORKER)


def _day_bounds(day) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=local_tz())
    return start, start + timedelta(days=1)


@bp.get("/today")
@worker_only
def today():
    start, end = _day_bounds(local_now().date())
    contacts = db.session.scalars(
        scoped(Contact).where(Contact.occurred_at >= start, Contact.occurred_at < end)
        .order_by(Contact.occurred_at.desc())
    ).all()
    outing = current_outing(current_user)
    return render_template(
        "outreach/today.html",
        outing=outing,
        contacts=contacts,
        people_today=sum(c.people_count for c in contacts),
        colleagues=[u for u in team_candidates(current_user.neighbourhood_ids)
                    if u.id != current_user.id],
        errors={},
        usual=_usual_neighbourhood(),
        follow_ups=follow_ups(open_bridges_led_by(current_user), local_now().date()),
    )


@bp.post("/outings")
@worker_only
def start_outing():
    payload = outing_payload(request.form, local_now())
    try:
        clean = clean_outing(payload, from_form=True)
    except Invalid as exc:
        flash(" ".join(m for msgs in exc.errors.values() for m in msgs), "error")
        return redirect(url_for("outreach.today"))
    # One outing at a time: starting a new one ends the one still open.
    previous = current_outing(current_user)
    if previous is not None:
        with versions.tracked(previous, via="page"):
            previous.ended_at = max(clean["started_at"], previous.started_at)
    outing = Outing(id=uuid.uuid4(), created_by_id=current_user.id)
    apply_outing(outing, clean)
    db.session.add(outing)
    db.session.commit()
    flash(_("Sortie commencée."), "success")
    return redirect(url_for("outreach.today"))


@bp.post("/outings/<uuid:outing_id>/stop")
@worker_only
def stop_outing(outing_id):
    outing = get_scoped_or_404(Outing, outing_id)
    if outing.ended_at is None:
        with versions.tracked(outing, via="page"):
            outing.ended_at = max(local_now(), outing.started_at)
        db.session.commit()
        flash(_("Sortie terminée."), "success")
    return redirect(url_for("outreach.today"))


def _form_context(contact: Contact | None, values: dict, errors: dict, *, version=None,
                  screen=None) -> dict:
    outings = db.session.scalars(
        scoped(Outing).where(Outing.ended_at.is_(None)).order_by(Outing.started_at.desc())
    ).all()
    # The contact's own outing stays on offer once ended: an edit must not drop it unasked.
    chosen = conflicts.read_uuid(values.get("outing"))
    if chosen is not None and all(o.id != chosen for o in outings):
        own = db.session.scalar(scoped(Outing).where(Outing.id == chosen))
        outings = [*outings, own] if own is not None else outings
    return {
        "contact": contact,
        "values": values,
        "errors": errors,
        "neighbourhoods": current_user.neighbourhoods,
        "outings": outings,
        "multi_fields": CONTACT_MULTI_TERMS,
        "version": version,
        "screen": screen,
    }


def _usual_neighbourhood() -> Neighbourhood | None:
    """Where the worker recorded their latest contact, else their first neighbourhood."""
    latest = db.session.scalar(
        scoped(Contact).where(Contact.author_id == current_user.id)
        .order_by(Contact.occurred_at.desc()).limit(1)
    )
    if latest is not None:
        return latest.neighbourhood
    return current_user.neighbourhoods[0] if current_user.neighbourhoods else None


def _new_contact_defaults() -> dict:
    outing = current_outing(current_user)
    neighbourhood = outing.neighbourhood if outing else _usual_neighbourhood()
    return {
        "neighbourhood": neighbourhood.code if neighbourhood else "",
        "outing": str(outing.id) if outing else "",
        "occurred_at": local_input_value(local_now()),
        "people_count": 1,
    }


def _submitted_values(form) -> dict:
    values = {key: form.get(key) for key in form}
    for field in CONTACT_MULTI_TERMS:
        values[field] = form.getlist(field)
    values.pop("person_code", None)  # never echoed back into the page
    return values


@bp.route("/contacts/new", methods=["GET", "POST"])
@worker_only
def new_contact():
    if not current_user.neighbourhoods:
        abort(403)
    if request.method == "POST":
        try:
            clean = clean_contact(contact_payload(request.form, editing=False), from_form=True)
        except Invalid as exc:
            return render_template("outreach/contact_form.html", **_form_context(
                None, _submitted_values(request.form), exc.errors)), 422
        contact = Contact(id=uuid.uuid4(), author_id=current_user.id)
        apply_contact(contact, clean)
        db.session.add(contact)
        db.session.commit()
        flash(_("Contact enregistré."), "success")
        if request.form.get("then") == "another":
            return redirect(url_for("outreach.new_contact"))
        return redirect(url_for("outreach.today"))
    return render_template("outreach/contact_form.html",
                           **_form_context(None, _new_contact_defaults(), {}))


def _contact_values(snapshot: dict) -> dict:
    """A contact's fields (in a snapshot's terms) as the values of its form."""
    moment = snapshot.get("occurred_at")
    return {
        "neighbourhood": snapshot.get("neighbourhood") or "",
        "outing": snapshot.get("outing") or "",
        "occurred_at": local_input_value(datetime.fromisoformat(moment)) if moment else "",
        "people_count": snapshot.get("people_count"),
        **{f: snapshot.get(f) for f in CONTACT_SINGLE_TERMS},
        **{f: list(snapshot.get(f) or ()) for f in CONTACT_MULTI_TERMS},
        "note": snapshot.get("note") or "",
    }


def _apply_contact_form(contact: Contact, payload: dict) -> None:
    apply_contact(contact, clean_contact(payload, contact, from_form=True))


@bp.route("/contacts/<uuid:contact_id>/edit", methods=["GET", "POST"])
@worker_only
def edit_contact(contact_id):
    contact = get_scoped_or_404(Contact, contact_id)
    template = "outreach/contact_form.html"
    if request.method == "POST":
        form = request.form
        try:
            result = conflicts.submit(lambda: get_scoped_or_404(Contact, contact_id), form,
                                      contact_payload(form, editing=True), _apply_contact_form)
        except Invalid as exc:
            db.session.rollback()
            return render_template(template, **_form_context(
                get_scoped_or_404(Contact, contact_id), _submitted_values(form), exc.errors,
                version=conflicts.carried(form))), 422
        if result.screen is not None:
            values = _contact_values(result.screen.values)
            # A code the person removed stays removed in the form (a typed one is never shown).
            values["remove_person_code"] = "person_code" in result.screen.names \
                and result.screen.values.get("person_code") is None
            return render_template(template, **_form_context(
                result.record, values, {}, version=result.screen.version,
                screen=result.screen)), 409
        flash(conflicts.saved_message(result.saved, _("Contact modifié.")), "success")
        return redirect(url_for("outreach.contact", contact_id=contact_id))
    open_note(contact, via="edit")  # the form shows the note: a reading, audited
    return render_template(template, **_form_context(
        contact, _contact_values(versions.snapshot(contact)), {}, version=contact.version))


@bp.get("/contacts/<uuid:contact_id>")
@worker_only
def contact(contact_id):
    found = get_scoped_or_404(Contact, contact_id)
    return render_template("outreach/contact.html", **_contact_page(found), note=None,
                           shown=False)


@bp.get("/contacts/<uuid:contact_id>/note")
@worker_only
def contact_note(contact_id):
    found = get_scoped_or_404(Contact, contact_id)
    note = open_note(found, via="page")
    return render_template("outreach/contact.html", **_contact_page(found), note=note,
                           shown=True)


def _contact_page(contact: Contact) -> dict:
    history = history_for_hash(contact.person_code_hash, exclude_contact=contact.id) \
        if contact.person_code_hash else None
    return {
        "contact": contact,
        "changes": conflicts.history_of(contact),
        "referrals": referrals_of_contact(contact),
        "code_history": history,
        "open_bridge": next((b for b in history.bridges if b.is_open), None) if history else None,
    }


def _parse_date(value: str | None):
    try:
        return datetime.strptime(value, "%Y-%m-%d").date() if value else None
    except ValueError:
        return None


@bp.get("/contacts")
@worker_only
def contacts():
    args = request.args
    query = scoped(Contact)
    filters = {
        "neighbourhood": args.get("neighbourhood", ""),
        "from": _parse_date(args.get("from")),
        "to": _parse_date(args.get("to")),
        "theme": args.get("theme", ""),
        "situation": args.get("situation", ""),
        "mine": args.get("mine") == "1",
        "with_code": args.get("with_code") == "1",
    }
    if filters["neighbourhood"]:
        query = query.join(Neighbourhood).where(Neighbourhood.code == filters["neighbourhood"])
    if filters["from"]:
        query = query.where(Contact.occurred_at >= _day_bounds(filters["from"])[0])
    if filters["to"]:
        query = query.where(Contact.occurred_at < _day_bounds(filters["to"])[1])
    for field, vocabulary in (("theme", "theme"), ("situation", "situation")):
        if filters[field]:
            query = query.where(Contact.id.in_(select(ContactTerm.contact_id).where(
                ContactTerm.vocabulary == vocabulary, ContactTerm.code == filters[field])))
    if filters["mine"]:
        query = query.where(Contact.author_id == current_user.id)
    if filters["with_code"]:
        query = query.where(Contact.person_code_hash.is_not(None))

    per_page = current_app.config["CONTACTS_PER_PAGE"]
    page = max(args.get("page", 1, type=int) or 1, 1)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.scalars(
        query.order_by(Contact.occurred_at.desc()).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return render_template(
        "outreach/contacts.html",
        contacts=rows, total=total, page=page, pages=max((total + per_page - 1) // per_page, 1),
        filters=filters, neighbourhoods=current_user.neighbourhoods,
        themes=vocab.terms("theme"), situations=vocab.terms("situation"),
    )


# -- collective actions (missions 3 and 4, maillage) ---------------------------------------------
def _action_form(action, values: dict, errors: dict, status: int = 200, *, version=None,
                 screen=None):
    return render_template("outreach/collective_action_form.html", action=action, values=values,
                           errors=errors, neighbourhoods=current_user.neighbourhoods,
                           organisations=active_organisations(), version=version, screen=screen,
                           changes=conflicts.history_of(action) if action else None), status


def _action_snapshot_values(snapshot: dict) -> dict:
    """A collective action's fields (in a snapshot's terms) as the values of its form."""
    return {"neighbourhood": snapshot.get("neighbourhood") or "",
            "mission": snapshot.get("mission"), "occurred_on": snapshot.get("occurred_on") or "",
            "participants": str(snapshot.get("participants") or 0),
            "title": snapshot.get("title") or "", "themes": list(snapshot.get("themes") or ()),
            "organisations": [str(i) for i in snapshot.get("organisations") or ()]}


def _apply_action_form(action, payload: dict) -> None:
    apply_collective_action(action, clean_collective_action(payload, action, from_form=True))


def _action_payload(form) -> dict:
    return {"neighbourhood": form.get("neighbourhood") or None,
            "mission": form.get("mission") or None,
            "occurred_on": form.get("occurred_on") or None,
            "participants": form.get("participants", "0"),
            "organisations": form.getlist("organisations"), "themes": form.getlist("themes"),
            "title": form.get("title", "")}


def _action_values(form) -> dict:
    return {**{key: form.get(key) for key in form}, "organisations": form.getlist(
        "organisations"), "themes": form.getlist("themes")}


@bp.get("/collective-actions")
@worker_only
def collective_actions():
    actions = db.session.scalars(
        scoped(CollectiveAction).order_by(CollectiveAction.occurred_on.desc()).limit(200)).all()
    return render_template("outreach/collective_actions.html", actions=actions)


@bp.route("/collective-actions/new", methods=["GET", "POST"])
@worker_only
def new_collective_action():
    if not current_user.neighbourhoods:
        abort(403)
    if request.method == "POST":
        try:
            clean = clean_collective_action(_action_payload(request.form), from_form=True)
        except Invalid as exc:
            return _action_form(None, _action_values(request.form), exc.errors, 422)
        action = CollectiveAction(id=uuid.uuid4(), created_by_id=current_user.id)
        apply_collective_action(action, clean)
        db.session.add(action)
        db.session.commit()
        flash(_("Action collective enregistrée."), "success")
        return redirect(url_for("outreach.collective_actions"))
    usual = _usual_neighbourhood()
    return _action_form(None, {"neighbourhood": usual.code if usual else "",
                               "occurred_on": local_now().date().isoformat(),
                               "participants": "0"}, {})


@bp.route("/collective-actions/<uuid:action_id>/edit", methods=["GET", "POST"])
@worker_only
def edit_collective_action(action_id):
    action = get_scoped_or_404(CollectiveAction, action_id)
    if request.method == "POST":
        form = request.form
        try:
            result = conflicts.submit(lambda: get_scoped_or_404(CollectiveAction, action_id),
                                      form, _action_payload(form), _apply_action_form)
        except Invalid as exc:
            db.session.rollback()
            return _action_form(get_scoped_or_404(CollectiveAction, action_id),
                                _action_values(form), exc.errors, 422,
                                version=conflicts.carried(form))
        if result.screen is not None:
            return _action_form(result.record, _action_snapshot_values(result.screen.values),
                                {}, 409, version=result.screen.version, screen=result.screen)
        flash(conflicts.saved_message(result.saved, _("Action collective modifiée.")), "success")
        return redirect(url_for("outreach.collective_actions"))
    return _action_form(action, _action_snapshot_values(versions.snapshot(action)), {},
                        version=action.version)
