"""Coordinator, partner and admin home pages."""

from __future__ import annotations

from datetime import datetime, time

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from .. import audit
from ..access import role_required
from ..extensions import db
from ..models import AuditEvent, Neighbourhood, Role, User
from ..stats import contact_counts, shown
from ..web import local_now, local_tz
from . import bp


def _month_start(year: int, month: int) -> datetime:
    return datetime.combine(datetime(year, month, 1).date(), time.min, tzinfo=local_tz())


@bp.get("/coordination")
@role_required(Role.COORDINATOR)
def coordinator_home():
    today = local_now().date()
    this_month = _month_start(today.year, today.month)
    last_month = _month_start(today.year - (today.month == 1), (today.month - 2) % 12 + 1)
    ids = current_user.neighbourhood_ids
    current = contact_counts(ids, this_month, local_now())
    previous = contact_counts(ids, last_month, this_month)
    rows = [
        {
            "neighbourhood": n,
            "contacts": shown(current.get(n.id, (0, 0))[0]),
            "people": shown(current.get(n.id, (0, 0))[1]),
            "previous_contacts": shown(previous.get(n.id, (0, 0))[0]),
            "previous_people": shown(previous.get(n.id, (0, 0))[1]),
        }
        for n in current_user.neighbourhoods
    ]
    return render_template("admin/coordinator_home.html", rows=rows,
                           this_month=this_month, last_month=last_month)


@bp.get("/partner")
@role_required(Role.PARTNER)
def partner_home():
    return render_template("admin/partner_home.html", organisation=current_user.organisation)


@bp.get("/admin")
@role_required(Role.ADMIN)
def admin_home():
    users = db.session.scalars(select(User).order_by(User.role, User.email)).all()
    neighbourhoods = db.session.scalars(select(Neighbourhood).order_by(Neighbourhood.name)).all()
    events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.at.desc()).limit(30)).all()
    return render_template("admin/admin_home.html", users=users, neighbourhoods=neighbourhoods,
                           events=events, now=local_now())


@bp.post("/admin/users/<int:user_id>/unlock")
@role_required(Role.ADMIN)
def unlock_user(user_id):
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    user.locked_until = None
    user.failed_logins = 0
    audit.record("user_unlocked", obj=user)
    db.session.commit()
    flash(_("Compte débloqué."), "success")
    return redirect(url_for("admin.admin_home"))
