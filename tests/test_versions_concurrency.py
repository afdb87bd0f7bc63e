"""Writers at the same moment, each on its own connection (threads, separate test clients).

DESIGN §5 "Versions and conflicts": an acknowledged change is never lost. The version
column is checked by every UPDATE (app/models/history.py), a loser is judged again and
merged; on PostgreSQL (RELAIS_TEST_DATABASE_URL) the requests really run side by side.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from app import versions
from app.extensions import db
from app.models import RecordVersion

from .conftest import Api
from .helpers import contact_payload, new_id
from .versioned import KIND_IDS, KINDS, Made, create, day, history, stored

ROUNDS = 4


def race(calls) -> list:
    """Run the calls at once (a barrier starts them), each in its own thread; their results
    in order. An exception in a thread fails the test."""
    barrier = threading.Barrier(len(calls), timeout=60)
    results: list = [None] * len(calls)
    errors: list = []

    def run(index, call):
        try:
            barrier.wait()
            results[index] = call()
        except Exception as exc:  # noqa: BLE001 (reported below, with its thread)
            errors.append((index, exc))

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a writer never came back"
    assert errors == []
    return results


def _rows(app, kind, made) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(kind.model)
                                 .where(kind.model.id == uuid.UUID(made.id)))


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_a_creation_sent_twice_at_once_makes_one_record(app, world, kind):
    phones = [Api(app.test_client(), world.worker.key) for _ in range(2)]
    for _ in range(ROUNDS):
        made = kind.make(phones[0], world, "colignon")  # what it needs exists already
        responses = race([
            lambda api=api, made=made: api.put(made.path, made.body,
                                               headers={"If-None-Match": "*"})
            for api in phones])
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200, 201], [r.get_json() for r in responses]
        assert _rows(app, kind, made) == 1
        assert [r.get_json()["version"] for r in responses] == [1, 1]
        assert stored(app, kind, made)[1] == 1 and history(app, kind, made) == []


# -- stale writers -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Writer:
    """One phone's change, made on version 1."""

    who: str           # "worker" or "colleague"
    field: str
    value: object      # the field's new value (for a set: the whole list sent)
    rival: bool = False  # changes the same field as another writer: one of them must lose


@dataclass(frozen=True)
class Scene:
    name: str
    make: object       # (world) → (path, body)
    writers: object    # (world) → [Writer]
    sets: frozenset


def _contact(world):
    return f"/contacts/{new_id()}", contact_payload(people_count=2, gender="femme")


def _contact_writers(world):
    return [
        Writer("worker", "people_count", 3, rival=True),
        Writer("colleague", "people_count", 4, rival=True),
        Writer("colleague", "gender", "homme"),
        Writer("worker", "age_band", "35_64"),
        Writer("colleague", "themes", ["expulsion", "logement", "sante"]),
        Writer("worker", "themes", ["famille", "logement"]),
    ]


def _action(world):
    return f"/collective-actions/{new_id()}", {
        "neighbourhood": "colignon", "mission": "communautaire", "occurred_on": day(-3),
        "participants": 12, "themes": ["logement"], "organisations": [world.cpas.id],
        "title": "Fête de quartier"}


def _action_writers(world):
    return [
        Writer("worker", "participants", 20, rival=True),
        Writer("colleague", "participants", 30, rival=True),
        Writer("colleague", "title", "Fête des voisins"),
        Writer("worker", "mission", "maillage"),
        Writer("colleague", "organisations", [world.cpas.id, world.other_org.id]),
        Writer("worker", "themes", ["logement", "sante"]),
    ]


SCENES = [
    Scene("contact", _contact, _contact_writers, frozenset({"themes"})),
    Scene("collective_action", _action, _action_writers,
          frozenset({"themes", "organisations"})),
]


def _kind(name):
    return KINDS[KIND_IDS.index(name)]


def _check_history(app, kind, made, final: dict, version: int) -> None:
    """Versions 1..n with nothing missing; each row names what differs from the one before,
    and the last one is the record as it is."""
    rows = history(app, kind, made)
    if version == 1:
        assert rows == []
        return
    assert [r.version for r in rows] == list(range(1, version + 1))
    assert rows[0].via == "created" and rows[0].changed is None
    plain = [{k: v for k, v in r.fields.items() if k not in kind.secrets} for r in rows]
    for before, after, row in zip(plain, plain[1:], rows[1:], strict=False):
        assert row.changed == versions.changed_fields(before, after), row.version
        assert row.changed
    assert plain[-1] == {k: v for k, v in final.items() if k not in kind.secrets}


@pytest.mark.parametrize("scene", SCENES, ids=[s.name for s in SCENES])
def test_stale_writers_at_once_never_lose_an_acknowledged_change(app, world, scene):
    kind = versions.KINDS_BY_NAME[scene.name]
    writers = scene.writers(world)
    phones = {who: [Api(app.test_client(), getattr(world, who).key)
                    for _ in range(len(writers))] for who in ("worker", "colleague")}
    for _ in range(ROUNDS):
        path, body = scene.make(world)
        made = Made(path, body, one=("", None, None), other=("", None))
        create(phones["worker"][0], path, body)
        base, _ = stored(app, _kind(scene.name), made)
        responses = race([
            lambda i=i, w=w, path=path, body=body: phones[w.who][i].put(
                path, {**body, w.field: w.value}, headers={"If-Match": '"1"'})
            for i, w in enumerate(writers)])
        statuses = [r.status_code for r in responses]
        assert set(statuses) <= {200, 409}, [r.get_json() for r in responses]
        final, version = stored(app, _kind(scene.name), made)
        won = [w for w, status in zip(writers, statuses, strict=True) if status == 200]
        for writer, response in zip(writers, responses, strict=True):
            if response.status_code == 409:
                # only a rival can lose, and only to the rival whose change is kept
                assert writer.rival, (writer, response.get_json())
                assert response.get_json()["conflicts"] == [writer.field]
        for writer in won:  # every change acknowledged is in the record
            if writer.field in scene.sets:
                was, sent = set(base[writer.field]), set(writer.value)
                assert sent - was <= set(final[writer.field]), (writer, "lost", final)
                assert not (was - sent) & set(final[writer.field]), (writer, "lost", final)
            else:
                assert final[writer.field] == writer.value, (writer, "lost", final)
        assert sum(w.rival for w in won) == 1, statuses
        assert version == 1 + len(won)
        _check_history(app, kind, made, final, version)
        with app.app_context():  # nothing kept twice, nothing kept for nothing
            assert db.session.scalar(select(func.count()).select_from(RecordVersion).where(
                RecordVersion.record_id == made.id)) == (version if version > 1 else 0)
