"""The record types the API versions (DESIGN §5 "Versions and conflicts"), described once.

tests/test_versions_api.py and tests/test_versions_concurrency.py run every header case on
every type from these descriptions: how to make one (and what it needs first), a field a
colleague changes, another the sender changes, and the multi-valued fields merged as sets.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from app import versions
from app.cli import create_user
from app.extensions import db
from app.models import (
    AuditEvent,
    Bridge,
    BridgeStep,
    CollectiveAction,
    Contact,
    Outing,
    RecordVersion,
    Referral,
    Role,
)

from .conftest import PASSWORD
from .helpers import contact_payload, moment, new_id, row_counts

# One open bridge per person and neighbourhood: each bridge a test opens has its own code.
BRIDGE_CODES = [f"PONT-{n}" for n in range(1, 41)]
_next_bridge_code = itertools.count()
PERSON_CODES = ("AB12", *BRIDGE_CODES)  # never in any JSON answer, nor their HMAC


def day(offset: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=offset)).isoformat()


def create(api, path: str, body: dict) -> None:
    response = api.put(path, body, headers={"If-None-Match": "*"})
    assert response.status_code == 201, (path, response.get_json())


@dataclass
class Made:
    """One new record's address and creation body, and the changes made to it."""

    path: str
    body: dict
    one: tuple[str, Any, Any]   # a field; the colleague's new value; the sender's other one
    other: tuple[str, Any]      # a field only the sender changes; its new value

    @property
    def id(self) -> str:
        return self.path.rsplit("/", 1)[1]

    def with_(self, **changes) -> dict:
        return {**self.body, **changes}


@dataclass(frozen=True)
class Kind:
    name: str  # as app.versions names it (record_version.record_type)
    model: type
    make: Callable[[Any, Any, str], Made]   # (api, world, neighbourhood code) → a record to create
    # Multi-valued fields: (world, app) → {field: (colleague's value, sender's, merged)}
    sets: Callable[[Any, Any], dict] | None = None
    secret: str | None = None  # free text sealed in history; showing it is a note read

    def __str__(self) -> str:
        return self.name

    def read(self, api, made: Made) -> tuple[dict, str]:
        """The record as GET shows it, and its ETag."""
        response = api.get(made.path)
        assert response.status_code == 200, response.get_json()
        return response.get_json(), response.headers["ETag"]


def _contact(api, world, where: str) -> Made:
    return Made(f"/contacts/{new_id()}",
                contact_payload(neighbourhood=where, note="Revoir mardi", person_code="AB12"),
                one=("people_count", 5, 3), other=("gender", "homme"))


def _contact_sets(world, app) -> dict:
    return {"themes": (["expulsion", "logement", "sante"], ["famille", "logement"],
                       ["famille", "logement", "sante"]),
            "languages": (["ar", "fr", "nl"], ["fr"], ["fr", "nl"])}


def _outing(api, world, where: str) -> Made:
    # the whole team, as the phone sends it (whoever saves is added to it anyway)
    team = [world.worker.id, world.colleague.id] if where == "colignon" else []
    return Made(f"/outings/{new_id()}",
                {"neighbourhood": where, "kind": "maraude", "started_at": moment(60),
                 "team": team, "place_label": "Place Colignon"},
                one=("place_label", "Parc Josaphat", "Gare du Nord"), other=("kind", "stand"))


def _outing_sets(world, app) -> dict:
    with app.app_context():
        third, fourth = (create_user(f"{name}@test.be", Role.FIELD_WORKER, PASSWORD,
                                     neighbourhoods=["colignon"], display_name=name).id
                         for name in ("Third", "Fourth"))
    me, colleague = world.worker.id, world.colleague.id
    return {"team": ([me, colleague, third], [me, fourth], sorted([me, third, fourth]))}


def _contact_in(api, where: str, **extra) -> str:
    contact = new_id()
    create(api, f"/contacts/{contact}", contact_payload(neighbourhood=where, **extra))
    return contact


def _referral(api, world, where: str) -> Made:
    return Made(f"/referrals/{new_id()}",
                {"contact": _contact_in(api, where), "organisation": world.cpas.id,
                 "modality": "appel", "message": "Appeler le matin"},
                one=("modality", "rendez_vous", "information"),
                other=("organisation", world.other_org.id))


def _bridge_body(api, world, where: str) -> dict:
    code = BRIDGE_CODES[next(_next_bridge_code) % len(BRIDGE_CODES)]
    return {"contact": _contact_in(api, where, person_code=code),
            "organisation": world.cpas.id, "next_step_due": day(7)}


def _bridge(api, world, where: str) -> Made:
    return Made(f"/bridges/{new_id()}", _bridge_body(api, world, where),
                one=("next_step_due", day(14), day(21)),
                other=("organisation", world.other_org.id))


def _step(api, world, where: str) -> Made:
    bridge = new_id()
    create(api, f"/bridges/{bridge}", _bridge_body(api, world, where))
    return Made(f"/bridges/{bridge}/steps/{new_id()}",
                {"occurred_on": day(-1), "kind": "appel", "note": "Premier appel"},
                one=("kind", "rencontre", "demarche"), other=("occurred_on", day(-2)))


def _action(api, world, where: str) -> Made:
    return Made(f"/collective-actions/{new_id()}",
                {"neighbourhood": where, "mission": "communautaire", "occurred_on": day(-3),
                 "participants": 12, "themes": ["logement", "sante"],
                 "organisations": [world.cpas.id], "title": "Fête de quartier"},
                one=("participants", 20, 30), other=("title", "Fête des voisins"))


def _action_sets(world, app) -> dict:
    return {"themes": (["famille", "logement", "sante"], ["logement"], ["famille", "logement"]),
            "organisations": ([world.cpas.id, world.other_org.id], [], [world.other_org.id])}


KINDS = [
    Kind("contact", Contact, _contact, sets=_contact_sets, secret="note"),
    Kind("outing", Outing, _outing, sets=_outing_sets),
    Kind("referral", Referral, _referral, secret="message"),
    Kind("bridge", Bridge, _bridge),
    Kind("bridge_step", BridgeStep, _step, secret="note"),
    Kind("collective_action", CollectiveAction, _action, sets=_action_sets),
]
KIND_IDS = [kind.name for kind in KINDS]


# -- what is stored ------------------------------------------------------------------------------
def stored(app, kind: Kind, made: Made) -> tuple[dict, int]:
    """The record's versioned fields as the server keeps them, and its version."""
    with app.app_context():
        record = db.session.get(kind.model, uuid.UUID(made.id))
        return versions.snapshot(record), record.version


def history(app, kind: Kind, made: Made) -> list[RecordVersion]:
    with app.app_context():
        rows = db.session.scalars(select(RecordVersion).where(
            RecordVersion.record_type == kind.name, RecordVersion.record_id == made.id)
            .order_by(RecordVersion.version)).all()
        db.session.expunge_all()
        return rows


def everything(app, kind: Kind, made: Made) -> tuple:
    """All that a refused request must leave as it was (the audit trail may grow)."""
    counts = {k: v for k, v in row_counts(app).items() if k != "audit_event"}
    rows = [(r.version, r.changed, r.fields) for r in history(app, kind, made)]
    return stored(app, kind, made), counts, rows


def audit_events(app, action: str, object_id: str | None = None) -> list[AuditEvent]:
    with app.app_context():
        query = select(AuditEvent).where(AuditEvent.action == action)
        if object_id is not None:
            query = query.where(AuditEvent.object_id == object_id)
        events = db.session.scalars(query.order_by(AuditEvent.id)).all()
        db.session.expunge_all()
        return events


def count_versions(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(RecordVersion))
