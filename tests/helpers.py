"""Small helpers shared by the tests."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from app import crypto
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


@contextmanager
def rotated_keys(app, tmp_path):
    """Run `flask keys rotate` on a copy of the test key ring; yields (result, new ring,
    original ring) and puts the test ring back afterwards."""
    path = tmp_path / "keys.json"
    original = app.extensions["relais_keyring"]
    crypto.write_key_file(path, original)
    app.config["DATA_KEYS_FILE"], saved = str(path), app.config["DATA_KEYS_FILE"]
    try:
        result = app.test_cli_runner().invoke(args=["keys", "rotate"])
        assert result.exit_code == 0, result.output
        ring = crypto.KeyRing.load(path)
        assert ring.current.key_id != original.current.key_id
        yield result, ring, original
    finally:
        app.config["DATA_KEYS_FILE"] = saved
        app.extensions["relais_keyring"] = original


def published(records, weight=lambda record: 1) -> int:
    """A figure as it leaves the team, worked out here from the records themselves: the
    weighted count perturbed by the fractional part of the sum of weight × record key."""
    from app.evaluation.perturbation import Tally, table
    from app.models.record_key import KEY_UNITS

    n = sum(weight(r) for r in records)
    keys = sum(weight(r) * int(r.record_key * KEY_UNITS) for r in records)
    return table().perturbed(Tally(n, keys))
