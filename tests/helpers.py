"""Small helpers shared by the tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from app.extensions import db


def new_id() -> str:
    return str(uuid.uuid4())


def moment(minutes_ago: int = 5) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()


def contact_payload(**overrides) -> dict:
    payload = {
        "neighbourhood": "colignon",
        "occurred_at": moment(),
        "place_type": "rue",
        "initiative": "aller_vers",
        "people_count": 2,
        "age_band": "25_34",
        "gender": "femme",
        "languages": ["fr", "ar"],
        "situations": ["risque_perte_logement"],
        "themes": ["logement", "expulsion"],
        "responses": ["ecoute", "information"],
    }
    payload.update(overrides)
    return payload


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def row_counts(app) -> dict[str, int]:
    with app.app_context():
        return {t.name: db.session.scalar(select(func.count()).select_from(t))
                for t in db.metadata.sorted_tables}
