"""Aggregate counts for people who must never see single records (coordinators).

Figures are computed in SQL and pass through small-cell suppression before display: a count
from 1 to k-1 is shown as "<k" so nobody can be singled out.
"""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import func, select

from .extensions import db
from .models import Contact


def suppression_threshold() -> int:
    return int(current_app.config.get("SUPPRESSION_K", 5))


def shown(count: int | None) -> str:
    k = suppression_threshold()
    count = count or 0
    return f"<{k}" if 0 < count < k else str(count)


def contact_counts(neighbourhood_ids, start: datetime, end: datetime) -> dict[int, tuple]:
    """neighbourhood id → (contacts, people met) between start (incl.) and end (excl.)."""
    rows = db.session.execute(
        select(Contact.neighbourhood_id, func.count(),
               func.coalesce(func.sum(Contact.people_count), 0))
        .where(Contact.neighbourhood_id.in_(list(neighbourhood_ids)),
               Contact.occurred_at >= start, Contact.occurred_at < end)
        .group_by(Contact.neighbourhood_id)
    )
    return {nid: (contacts, people) for nid, contacts, people in rows}
