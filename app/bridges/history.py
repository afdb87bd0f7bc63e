"""What a team already knows behind a person code: earlier contacts, bridges, referrals.

Only within the user's own neighbourhoods (everything goes through the scoping helper), only
for field workers (the routes say so), and the code itself is never given back: the answer is
about records, not about the code.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import func, select

from .. import crypto
from ..access import scoped
from ..extensions import db
from ..models import Bridge, Contact, Referral

CONTACTS_SHOWN = 10


@dataclass
class CodeHistory:
    contact_count: int = 0
    people_count: int = 0
    contacts: list[Contact] = field(default_factory=list)
    bridges: list[Bridge] = field(default_factory=list)
    referrals: list[Referral] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.contact_count or self.bridges or self.referrals)


def history_for_code(raw_code: str, exclude_contact: uuid.UUID | None = None) -> CodeHistory:
    """Raises ValueError when the code has no letter or digit."""
    return history_for_hash(crypto.person_code_hash(raw_code), exclude_contact)


def history_for_hash(code_hash: str, exclude_contact: uuid.UUID | None = None) -> CodeHistory:
    contacts = scoped(Contact).where(Contact.person_code_hash == code_hash)
    if exclude_contact is not None:
        contacts = contacts.where(Contact.id != exclude_contact)
    counted = contacts.subquery()
    contact_count, people_count = db.session.execute(
        select(func.count(), func.coalesce(func.sum(counted.c.people_count), 0))
        .select_from(counted)
    ).one()
    with_code = scoped(Contact).where(Contact.person_code_hash == code_hash) \
        .with_only_columns(Contact.id)
    return CodeHistory(
        contact_count=contact_count,
        people_count=people_count,
        contacts=list(db.session.scalars(
            contacts.order_by(Contact.occurred_at.desc()).limit(CONTACTS_SHOWN))),
        bridges=list(db.session.scalars(
            scoped(Bridge).where(Bridge.person_code_hash == code_hash)
            .order_by(Bridge.status.desc(), Bridge.opened_at.desc()))),
        referrals=list(db.session.scalars(
            scoped(Referral).where(Referral.contact_id.in_(with_code))
            .order_by(Referral.created_at.desc()))),
    )
