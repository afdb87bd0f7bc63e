import re
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, Contact, ContactTerm, Outing

from .conftest import Api
from .helpers import contact_payload, count, moment, new_id, row_counts


def test_me_lists_neighbourhoods_and_a_csrf_token(worker_api):
    me = worker_api.get("/me").get_json()
    assert me["role"] == "field_worker"
    assert [n["code"] for n in me["neighbourhoods"]] == ["brabant", "colignon"]
    assert me["csrf_token"]


def test_put_creates_then_same_put_gives_one_row(worker_api, app):
    contact_id = new_id()
    payload = contact_payload(note="Revoir mardi", person_code="AB12")
    first = worker_api.put(f"/contacts/{contact_id}", payload)
    assert first.status_code == 201, first.get_json()
    again = worker_api.put(f"/contacts/{contact_id}", payload)
    assert again.status_code == 200
    assert count(app, Contact) == 1
    body = worker_api.get(f"/contacts/{contact_id}").get_json()
    assert body["id"] == contact_id
    assert body["themes"] == ["expulsion", "logement"]
    assert body["people_count"] == 2
    assert body["note"] == "Revoir mardi"
    assert body["neighbourhood"] == "colignon"


def test_put_replaces_fields_and_keeps_write_only_ones_when_absent(worker_api, app):
    contact_id = new_id()
    worker_api.put(f"/contacts/{contact_id}", contact_payload(note="n1", person_code="AB12"))
    changed = contact_payload(themes=["sante"], people_count=1)
    assert worker_api.edit(f"/contacts/{contact_id}", changed).status_code == 200
    body = worker_api.get(f"/contacts/{contact_id}").get_json()
    assert body["themes"] == ["sante"] and body["people_count"] == 1
    assert body["note"] == "n1" and body["has_person_code"] is True
    worker_api.edit(f"/contacts/{contact_id}", contact_payload(note=None, person_code=None))
    body = worker_api.get(f"/contacts/{contact_id}").get_json()
    assert body["note"] is None and body["has_person_code"] is False
    with app.app_context():
        terms = db.session.scalars(select(ContactTerm.code).where(
            ContactTerm.vocabulary == "theme")).all()
    assert sorted(terms) == ["expulsion", "logement"]


def test_two_concurrent_puts_of_one_new_id_give_one_row(app, world):
    clients = [Api(app.test_client(), world.worker.key) for _ in range(2)]
    for attempt in range(1, 6):  # several rounds: the race is won differently each time
        contact_id = new_id()
        barrier = threading.Barrier(2)
        statuses = []
        payload = contact_payload()  # a retried upload: the same body twice

        def send(api, contact_id=contact_id, barrier=barrier, statuses=statuses,
                 payload=payload):
            barrier.wait()
            statuses.append(api.put(f"/contacts/{contact_id}", payload).status_code)

        threads = [threading.Thread(target=send, args=(api,)) for api in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(statuses) == [200, 201]
        assert count(app, Contact) == attempt


def test_reading_a_note_is_audited_and_reading_none_is_not(worker_api, app):
    with_note, without = new_id(), new_id()
    worker_api.put(f"/contacts/{with_note}", contact_payload(note="à relire"))
    worker_api.put(f"/contacts/{without}", contact_payload())
    worker_api.get(f"/contacts/{with_note}")
    worker_api.get(f"/contacts/{without}")
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "note_read")).all()
    assert [e.object_id for e in events] == [with_note]
    assert events[0].neighbourhood_id is not None


def test_write_into_a_neighbourhood_not_mine_is_403(worker_api, app):
    response = worker_api.put(f"/contacts/{new_id()}", contact_payload(neighbourhood="marolles"))
    assert response.status_code == 403
    assert count(app, Contact) == 0


def test_contact_of_another_neighbourhood_is_404_for_get_and_put(api_as, world, app):
    outsider = api_as(world.outsider.key)
    contact_id = new_id()
    assert outsider.put(f"/contacts/{contact_id}",
                        contact_payload(neighbourhood="marolles")).status_code == 201
    worker = Api(app.test_client(), world.worker.key)
    assert worker.get(f"/contacts/{contact_id}").status_code == 404
    assert worker.put(f"/contacts/{contact_id}", contact_payload()).status_code == 404
    with app.app_context():
        kept = db.session.get(Contact, uuid.UUID(contact_id))
        assert kept.neighbourhood.code == "marolles" and kept.author_id == world.outsider.id


def test_moving_a_contact_out_of_my_neighbourhoods_is_403(worker_api):
    contact_id = new_id()
    worker_api.put(f"/contacts/{contact_id}", contact_payload())
    moved = worker_api.put(f"/contacts/{contact_id}", contact_payload(neighbourhood="marolles"))
    assert moved.status_code == 403
    assert worker_api.get(f"/contacts/{contact_id}").get_json()["neighbourhood"] == "colignon"


def _now_plus(hours: int) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


MALFORMED = [
    ("not json", None),
    ("array body", []),
    ("string body", "contact"),
    ("empty object", {}),
    ("unknown neighbourhood", contact_payload(neighbourhood="atlantis")),
    ("neighbourhood as number", contact_payload(neighbourhood=3)),
    ("missing occurred_at", {k: v for k, v in contact_payload().items() if k != "occurred_at"}),
    ("occurred_at not a date", contact_payload(occurred_at="yesterday")),
    ("occurred_at without offset", contact_payload(occurred_at="2026-01-05T10:00:00")),
    ("occurred_at in the future", contact_payload(occurred_at=_now_plus(48))),
    ("occurred_at as number", contact_payload(occurred_at=1700000000)),
    ("occurred_at too old", contact_payload(occurred_at="1899-01-01T10:00:00+01:00")),
    ("people_count zero", contact_payload(people_count=0)),
    ("people_count negative", contact_payload(people_count=-2)),
    ("people_count huge", contact_payload(people_count=10**9)),
    ("people_count as string", contact_payload(people_count="3")),
    ("people_count as bool", contact_payload(people_count=True)),
    ("people_count as float", contact_payload(people_count=2.5)),
    ("unknown theme", contact_payload(themes=["logement", "astrologie"])),
    ("themes not a list", contact_payload(themes="logement")),
    ("themes with a number", contact_payload(themes=["logement", 4])),
    ("term of another vocabulary", contact_payload(place_type="logement")),
    ("gender as list", contact_payload(gender=["femme"])),
    ("unknown field", contact_payload(name="Jean Dupont")),
    ("note too long", contact_payload(note="x" * 4001)),
    ("note not text", contact_payload(note={"text": "x"})),
    ("note with NUL", contact_payload(note="a\x00b")),
    ("person code too long", contact_payload(person_code="A" * 65)),
    ("person code only punctuation", contact_payload(person_code=" - . ")),
    ("person code as number", contact_payload(person_code=1234)),
    ("outing not a uuid", contact_payload(outing="sortie-1")),
    ("outing unknown", contact_payload(outing=new_id())),
    ("outing as number", contact_payload(outing=12)),
]


@pytest.mark.parametrize("label,payload", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_contact_answers_4xx_and_changes_nothing(worker_api, app, label, payload):
    existing = new_id()
    assert worker_api.put(f"/contacts/{existing}", contact_payload(note="garde")).status_code == 201
    before = row_counts(app)
    kwargs = {"data": "{not json", "content_type": "application/json"} if payload is None else {}
    for target in (new_id(), existing):  # neither a create nor an update half-happens
        response = worker_api.put(f"/contacts/{target}", payload, **kwargs)
        assert 400 <= response.status_code < 500, (label, response.status_code)
        assert response.is_json
        if response.status_code == 422:
            assert response.get_json()["errors"], label
    assert row_counts(app) == before
    body = worker_api.get(f"/contacts/{existing}").get_json()
    assert body["note"] == "garde" and body["themes"] == ["expulsion", "logement"]


# The field each malformed kind is refused on.
MALFORMED_FIELD = {
    "not json": "_body", "array body": "_body", "string body": "_body",
    "empty object": "neighbourhood", "unknown neighbourhood": "neighbourhood",
    "neighbourhood as number": "neighbourhood", "missing occurred_at": "occurred_at",
    "occurred_at not a date": "occurred_at", "occurred_at without offset": "occurred_at",
    "occurred_at in the future": "occurred_at", "occurred_at as number": "occurred_at",
    "occurred_at too old": "occurred_at", "people_count zero": "people_count",
    "people_count negative": "people_count", "people_count huge": "people_count",
    "people_count as string": "people_count", "people_count as bool": "people_count",
    "people_count as float": "people_count", "unknown theme": "themes",
    "themes not a list": "themes", "themes with a number": "themes",
    "term of another vocabulary": "place_type", "gender as list": "gender",
    "unknown field": "name", "note too long": "note", "note not text": "note",
    "note with NUL": "note", "person code too long": "person_code",
    "person code only punctuation": "person_code", "person code as number": "person_code",
    "outing not a uuid": "outing", "outing unknown": "outing", "outing as number": "outing",
}


def test_malformed_list_has_at_least_twenty_kinds(worker_api, app):
    """Each malformed kind is sent to the API: each answers 422 with a message on its own
    field, and the API tells at least twenty different mistakes apart."""
    assert set(MALFORMED_FIELD) == {label for label, _ in MALFORMED}
    answers = set()
    for label, payload in MALFORMED:
        kwargs = {"data": "{not json", "content_type": "application/json"} \
            if payload is None else {}
        response = worker_api.put(f"/contacts/{new_id()}", payload, **kwargs)
        assert response.status_code == 422, (label, response.status_code)
        errors = response.get_json()["errors"]
        field = MALFORMED_FIELD[label]
        messages = errors.get(field)
        assert messages and all(isinstance(m, str) and m.strip() for m in messages), \
            (label, errors)
        answers.add((field, messages[0]))
    assert len(answers) >= 20, answers
    assert count(app, Contact) == 0


def test_422_lists_every_bad_field(worker_api):
    response = worker_api.put(f"/contacts/{new_id()}", contact_payload(
        people_count=0, themes=["nope"], occurred_at="hier"))
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"people_count", "themes", "occurred_at"}


def test_bad_uuid_in_path_is_404(worker_api):
    assert worker_api.put("/contacts/not-a-uuid", contact_payload()).status_code == 404
    assert worker_api.get("/contacts/12345").status_code == 404


def test_wrong_method_is_405_json(worker_api):
    response = worker_api.client.delete(f"/api/v1/contacts/{new_id()}",
                                        headers={"X-CSRFToken": worker_api.token})
    assert response.status_code == 405 and response.is_json


def test_outing_put_get_and_contacts_attached(worker_api, world, app):
    outing_id = new_id()
    payload = {"neighbourhood": "colignon", "kind": "maraude", "started_at": moment(60),
               "team": [world.colleague.id], "place_label": "Place Colignon"}
    assert worker_api.put(f"/outings/{outing_id}", payload).status_code == 201
    assert worker_api.put(f"/outings/{outing_id}", payload).status_code == 200
    body = worker_api.get(f"/outings/{outing_id}").get_json()
    assert sorted(body["team"]) == sorted([world.worker.id, world.colleague.id])
    assert body["ended_at"] is None
    contact_id = new_id()
    assert worker_api.put(f"/contacts/{contact_id}",
                          contact_payload(outing=outing_id)).status_code == 201
    assert worker_api.get(f"/contacts/{contact_id}").get_json()["outing"] == outing_id
    wrong = worker_api.put(f"/contacts/{new_id()}",
                           contact_payload(outing=outing_id, neighbourhood="brabant"))
    assert wrong.status_code == 422 and "outing" in wrong.get_json()["errors"]
    payload["ended_at"] = moment(1)
    assert worker_api.edit(f"/outings/{outing_id}", payload).status_code == 200
    assert count(app, Outing) == 1


@pytest.mark.parametrize("change,field", [
    ({"kind": "picnic"}, "kind"),
    ({"kind": None}, "kind"),
    ({"team": [999999]}, "team"),
    ({"team": "all"}, "team"),
    ({"ended_at": "2001-01-01T10:00:00+01:00"}, "ended_at"),
    ({"started_at": "soon"}, "started_at"),
    ({"place_label": "x" * 81}, "place_label"),
])
def test_malformed_outing_is_422(worker_api, world, app, change, field):
    payload = {"neighbourhood": "colignon", "kind": "maraude", "started_at": moment(60)}
    payload.update(change)
    response = worker_api.put(f"/outings/{new_id()}", payload)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]
    assert count(app, Outing) == 0


def test_outing_team_only_from_the_neighbourhood(worker_api, world, app):
    base = {"neighbourhood": "colignon", "kind": "maraude", "started_at": moment(60)}
    # Someone of another neighbourhood, alone or beside a colleague: refused, nothing stored.
    for team in ([world.outsider.id], [world.colleague.id, world.outsider.id],
                 [world.coordinator.id]):
        refused = worker_api.put(f"/outings/{new_id()}", {**base, "team": team})
        assert refused.status_code == 422, team
        assert "team" in refused.get_json()["errors"]
    assert count(app, Outing) == 0
    # A colleague of the neighbourhood: stored, beside whoever recorded the outing.
    outing_id = new_id()
    assert worker_api.put(f"/outings/{outing_id}",
                          {**base, "team": [world.colleague.id]}).status_code == 201
    with app.app_context():
        stored = db.session.get(Outing, uuid.UUID(outing_id))
        assert sorted(u.id for u in stored.team) == sorted([world.worker.id,
                                                            world.colleague.id])
    # Changing it to take in an outsider is refused and leaves the team as it was.
    changed = worker_api.edit(f"/outings/{outing_id}",
                              {**base, "team": [world.colleague.id, world.outsider.id]})
    assert changed.status_code == 422
    assert sorted(worker_api.get(f"/outings/{outing_id}").get_json()["team"]) == \
        sorted([world.worker.id, world.colleague.id])


def test_vocabularies_with_etag(worker_api):
    response = worker_api.get("/vocabularies")
    assert response.status_code == 200
    vocabularies = response.get_json()["vocabularies"]
    assert {"theme", "situation", "place_type", "outing_kind"} <= set(vocabularies)
    assert any(t["code"] == "logement" and t["label"] == "Logement"
               for t in vocabularies["theme"])
    etag = response.headers["ETag"]
    again = worker_api.get("/vocabularies", headers={"If-None-Match": etag})
    assert again.status_code == 304


def _openapi_path(rule: str) -> str:
    """/api/v1/bridges/<uuid:bridge_id>/steps/<uuid:step_id> → /bridges/{id}/steps/{step_id}"""
    path = rule.removeprefix("/api/v1")
    path = re.sub(r"<uuid:step_id>", "{step_id}", path)
    return re.sub(r"<uuid:\w+>", "{id}", path)


def test_openapi_document_describes_every_api_route(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, item in document["paths"].items()
                  for method in item if method != "parameters"}
    routes = {
        (_openapi_path(rule.rule), method)
        for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1/")
        and not rule.rule.endswith("openapi.json")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert routes <= documented
    contact = document["components"]["schemas"]["ContactInput"]["properties"]
    assert contact["person_code"]["writeOnly"] is True
    assert "themes" in contact and "note" in contact


@pytest.mark.parametrize("role", ["coordinator", "partner", "admin"])
def test_roles_other_than_field_worker_cannot_write_records(app, world, role):
    api = Api(app.test_client(), world.user(role).key)
    # A record route answers 404 to a role that never sees such records.
    assert api.put(f"/contacts/{new_id()}", contact_payload()).status_code == 404
    assert count(app, Contact) == 0
