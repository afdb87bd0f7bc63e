"""What the team keeps about one person, and forgetting it: shared by the pages and the API.

Everything goes through the scoping helper: a field worker sees and forgets only what lies in
their own neighbourhoods. A code also used in another team's neighbourhood stays linked there,
with its notes: that team answers for its own records.

Linked to a person (their code's HMAC), within scope:
* the contacts carrying the code, and the origin contacts of the person's bridges;
* the bridges carrying the code, with their steps;
* the referrals of those contacts and of those bridges.

Free text is never opened here: a lookup says whether a note, a message or a reply exists
(that is what the person is told, and what forgetting erases), never what it says.
The code, its HMAC, the pseudonym and record ids never reach the audit trail: counts only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select

from .. import audit, crypto, erasure
from ..access import scoped
from ..extensions import db
from ..models import Bridge, BridgeStep, Contact, Referral

MAX_CODE_LENGTH = 64  # as everywhere a person code is typed


class BadCode(ValueError):
    """The typed code cannot be a person code; `message` says why (translatable)."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


def code_hash_of(raw) -> str:
    """The HMAC of a typed code, or BadCode (blank, too long, no letter or digit)."""
    if not isinstance(raw, str):
        raise BadCode(_l("Un texte est attendu."))
    raw = raw.strip()
    if not raw:
        raise BadCode(_l("Ce champ est obligatoire."))
    if len(raw) > MAX_CODE_LENGTH or "\x00" in raw:
        raise BadCode(_l("%(max)d caractères au maximum.", max=MAX_CODE_LENGTH))
    try:
        return crypto.person_code_hash(raw)
    except ValueError:
        raise BadCode(_l("Le code doit contenir au moins une lettre ou un chiffre.")) from None


@dataclass
class Kept:
    contacts: list[Contact] = field(default_factory=list)
    referrals: list[Referral] = field(default_factory=list)
    bridges: list[Bridge] = field(default_factory=list)
    step_counts: dict = field(default_factory=dict)  # bridge id → (steps, steps with a note)

    @property
    def empty(self) -> bool:
        return not (self.contacts or self.referrals or self.bridges)

    def steps(self, bridge) -> int:
        return self.step_counts.get(bridge.id, (0, 0))[0]

    def step_notes(self, bridge) -> int:
        return self.step_counts.get(bridge.id, (0, 0))[1]

    def counts(self) -> dict[str, int]:
        return {
            "contacts": len(self.contacts),
            "referrals": len(self.referrals),
            "bridges": len(self.bridges),
            "notes": sum(c.note is not None for c in self.contacts),
            "messages": sum(r.message is not None for r in self.referrals),
            "replies": sum(r.reply is not None for r in self.referrals),
            "step_notes": sum(self.step_notes(b) for b in self.bridges),
        }


def _bridge_ids(code_hash: str):
    return scoped(Bridge).where(Bridge.person_code_hash == code_hash) \
        .with_only_columns(Bridge.id)


def _contact_ids(code_hash: str):
    origins = scoped(Bridge).where(Bridge.person_code_hash == code_hash) \
        .with_only_columns(Bridge.origin_contact_id)
    return scoped(Contact).where(or_(Contact.person_code_hash == code_hash,
                                     Contact.id.in_(origins))).with_only_columns(Contact.id)


def kept_for(code_hash: str) -> Kept:
    """What the current user's neighbourhoods keep linked to `code_hash`."""
    contacts = list(db.session.scalars(
        scoped(Contact).where(Contact.id.in_(_contact_ids(code_hash)))
        .order_by(Contact.occurred_at.desc())))
    bridges = list(db.session.scalars(
        scoped(Bridge).where(Bridge.id.in_(_bridge_ids(code_hash)))
        .order_by(Bridge.opened_at.desc())))
    referrals = list(db.session.scalars(
        scoped(Referral).where(or_(Referral.contact_id.in_(_contact_ids(code_hash)),
                                   Referral.bridge_id.in_(_bridge_ids(code_hash))))
        .order_by(Referral.created_at.desc())))
    step_counts = {}
    if bridges:
        rows = db.session.execute(
            select(BridgeStep.bridge_id, func.count(), func.count(BridgeStep.note))
            .where(BridgeStep.bridge_id.in_(_bridge_ids(code_hash)))
            .group_by(BridgeStep.bridge_id))
        step_counts = {bridge_id: (steps, notes) for bridge_id, steps, notes in rows}
    return Kept(contacts=contacts, referrals=referrals, bridges=bridges,
                step_counts=step_counts)


def looked_up(kept: Kept, via: str) -> None:
    """Audit a lookup: counts only (never the code, its HMAC or a record id)."""
    audit.record("person_looked_up", detail={"via": via, **kept.counts()})
    db.session.commit()


def forget(code_hash: str, via: str) -> dict | None:
    """Erase, within the current user's neighbourhoods, the free text of every record linked
    to `code_hash` (and of its kept versions), unlink the code from those records, and make
    the database files lose it. None when nothing is linked in scope (nothing done).

    The figures do not move: erasing keeps every count and term, and the records of the
    person keep one pseudonym between them (app.erasure)."""
    kept = kept_for(code_hash)
    if kept.empty:
        return None
    contact_ids = [c.id for c in kept.contacts]
    bridge_ids = [b.id for b in kept.bridges]
    done: Counter = Counter()
    done += erasure.erase_free_text("contact", contact_ids)
    done += erasure.erase_free_text("referral", [r.id for r in kept.referrals])
    done += erasure.erase_bridges_free_text(bridge_ids)
    done += erasure.unlink_codes([code_hash], contact_ids=contact_ids, bridge_ids=bridge_ids)
    result = {
        "erased": {
            "notes": done["contact.note"],
            "messages": done["referral.message"],
            "replies": done["referral.reply"],
            "step_notes": done["bridge_step.note"],
            "earlier_versions": done["contact.history"] + done["referral.history"]
            + done["bridge_step.history"],
        },
        "unlinked": {"contacts": done["contact.code"], "bridges": done["bridge.code"]},
        "records": {"contacts": len(kept.contacts), "referrals": len(kept.referrals),
                    "bridges": len(kept.bridges)},
    }
    # The bulk updates went past the loaded objects: write the kept versions' changes
    # first (expiring would drop them), then forget what was loaded.
    db.session.flush()
    db.session.expire_all()
    audit.record("person_forgotten", detail={"via": via, **result["records"],
                                             **result["erased"], **{
                                                 f"unlinked_{k}": v
                                                 for k, v in result["unlinked"].items()}})
    db.session.commit()
    erasure.reclaim_space()
    return result
