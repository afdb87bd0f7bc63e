"""A partner's home: what was sent to its organisation, newest first, new ones counted."""

from __future__ import annotations

from flask import render_template
from flask_login import current_user

from ..access import role_required, scoped
from ..extensions import db
from ..models import Referral, Role
from . import bp

RECENTLY_CLOSED = 30


@bp.get("/partner")
@role_required(Role.PARTNER)
def home():
    def listed(*statuses, limit=None):
        query = scoped(Referral).where(Referral.status.in_(statuses)) \
            .order_by(Referral.sent_at.desc())
        return db.session.scalars(query.limit(limit) if limit else query).all()

    return render_template(
        "partners/home.html",
        organisation=current_user.organisation,
        new=listed("sent"),
        in_progress=listed("received"),
        closed=listed("closed", limit=RECENTLY_CLOSED),
    )
