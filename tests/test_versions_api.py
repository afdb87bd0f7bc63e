"""Every precondition header case of PUT /api/v1/<records>/<uuid>, on every record type.

DESIGN §5 "Versions and conflicts" (issue 10): If-None-Match: * creates (412 when the id
holds something else), If-Match: "<v>" updates what the sender saw and merges a stale edit
three ways (409 when both sides changed a field, nothing written), If-Match: * overwrites
(audited), a changing PUT without precondition is 428, scope comes first (404).

Amina (worker@test.be) and Yannick (colleague@test.be) share Colignon; the record types and
the changes made to them are described once, in tests/versioned.py.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import replace

import pytest
from sqlalchemy import select, text, update

from app import crypto, versions
from app.extensions import db
from app.models import RecordVersion

from .conftest import Api
from .helpers import new_id, rotated_keys
from .versioned import (
    KIND_IDS,
    KINDS,
    PERSON_CODES,
    audit_events,
    everything,
    history,
    stored,
)

MALFORMED = [
    {"If-Match": "1"},               # not quoted
    {"If-Match": 'W/"1"'},           # a weak tag cannot name a version
    {"If-Match": '"one"'},
    {"If-Match": '"0"'},
    {"If-Match": '"1", "2"'},
    {"If-Match": ""},
    {"If-None-Match": '"1"'},        # only * means "create"
    {"If-Match": '"1"', "If-None-Match": "*"},
]


def _walk(value):
    """Every key of a JSON answer, but the labels of conflicting fields (their names)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            if key != "labels":
                yield from _walk(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _walk(inner)


class Team:
    """Two workers of Colignon on two phones, each request checked for leaks."""

    def __init__(self, app, world):
        self.app = app
        self.world = world
        self.amina = Api(app.test_client(), world.worker.key)
        self.yannick = Api(app.test_client(), world.colleague.key)
        with app.app_context():
            self.forbidden = [*PERSON_CODES, *(crypto.person_code_hash(c) for c in PERSON_CODES)]

    def put(self, api, made, body, **headers):
        response = api.put(made.path, body, headers=headers)
        self.no_person_code(response)
        return response

    def no_person_code(self, response):
        """The person code is write-only: never in an answer, 409 and 412 included."""
        assert response.is_json
        for secret in self.forbidden:
            assert secret not in response.text
        assert not {"person_code", "person_code_hash"} & set(_walk(response.get_json()))

    def create(self, kind, where="colignon", api=None):
        api = api or self.amina
        made = kind.make(api, self.world, where)
        response = self.put(api, made, made.body, **{"If-None-Match": "*"})
        assert response.status_code == 201, response.get_json()
        return made

    def colleague_changes(self, kind, made, value):
        """Yannick changes one field of the version he has just read."""
        record, etag = kind.read(self.yannick, made)
        response = self.put(self.yannick, made, made.with_(**{made.one[0]: value}),
                            **{"If-Match": etag})
        assert response.status_code == 200, response.get_json()
        return response


@pytest.fixture
def team(app, world):
    return Team(app, world)


kinds = pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)


def _etag(response) -> str:
    etag = response.headers["ETag"]
    assert not etag.startswith("W/"), "a strong ETag"
    return etag


# -- creating ------------------------------------------------------------------------------------
@kinds
def test_if_none_match_creates_once_and_never_overwrites(team, app, kind):
    made = kind.make(team.amina, team.world, "colignon")
    first = team.put(team.amina, made, made.body, **{"If-None-Match": "*"})
    assert first.status_code == 201, first.get_json()
    assert first.get_json()["version"] == 1 and _etag(first) == '"1"'
    record, etag = kind.read(team.amina, made)
    assert record["version"] == 1 and etag == '"1"'
    # the phone sends its queued creation again: the same content is a safe resend
    again = team.put(team.amina, made, made.body, **{"If-None-Match": "*"})
    assert again.status_code == 200 and again.get_json()["version"] == 1
    assert _etag(again) == '"1"'
    before = everything(app, kind, made)
    field, value, _ = made.one
    other = team.put(team.amina, made, made.with_(**{field: value}), **{"If-None-Match": "*"})
    assert other.status_code == 412, other.get_json()
    current = other.get_json()["current"]
    assert current["version"] == 1 and current[field] == made.body[field]
    assert everything(app, kind, made) == before


# -- updating the version one saw ---------------------------------------------------------------
@kinds
def test_if_match_current_version_updates_and_an_unchanged_body_keeps_it(team, app, kind):
    made = team.create(kind)
    field, value, _ = made.one
    changed = made.with_(**{field: value})
    response = team.put(team.amina, made, changed, **{"If-Match": '"1"'})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["version"] == 2 and _etag(response) == '"2"'
    assert response.get_json()["merged"] == []
    assert stored(app, kind, made)[0][field] == value
    same = team.put(team.amina, made, changed, **{"If-Match": '"2"'})
    assert same.status_code == 200 and same.get_json()["version"] == 2
    # without a precondition: the same body is harmless, a change is refused
    assert team.put(team.amina, made, changed).status_code == 200
    before = everything(app, kind, made)
    refused = team.put(team.amina, made, made.with_(**{made.other[0]: made.other[1]}))
    assert refused.status_code == 428
    assert "If-Match" in refused.get_json()["error"]
    assert "If-None-Match" in refused.get_json()["error"]
    assert everything(app, kind, made) == before


@kinds
def test_stale_edit_of_other_fields_is_merged_and_kept_in_history(team, app, world, kind):
    made = team.create(kind)
    field, theirs, _ = made.one
    team.colleague_changes(kind, made, theirs)
    record, etag = kind.read(team.amina, made)
    assert record["version"] == 2 and etag == '"2"'
    assert not team.amina.get(made.path).headers["ETag"].startswith("W/")
    other, mine = made.other
    # Amina's phone still holds version 1
    response = team.put(team.amina, made, made.with_(**{other: mine}), **{"If-Match": '"1"'})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["merged"] == [field]
    assert response.get_json()["version"] == 3 and _etag(response) == '"3"'
    fields, version = stored(app, kind, made)
    assert (fields[field], fields[other], version) == (theirs, mine, 3)
    rows = history(app, kind, made)
    assert [(r.version, r.changed, r.changed_by_id) for r in rows] == [
        (1, None, world.worker.id), (2, [field], world.colleague.id),
        (3, [other], world.worker.id)]
    assert rows[0].via == "created"
    assert rows[1].fields[field] == theirs and rows[0].fields[field] == made.body[field]


@kinds
def test_same_field_changed_on_both_sides_is_409_and_nothing_is_written(team, app, kind):
    made = team.create(kind)
    field, theirs, yours = made.one
    team.colleague_changes(kind, made, theirs)
    before = everything(app, kind, made)
    reads = len(audit_events(app, "note_read"))
    other, mine = made.other
    response = team.put(team.amina, made, made.with_(**{field: yours, other: mine}),
                        **{"If-Match": '"1"'})
    assert response.status_code == 409, response.get_json()
    body = response.get_json()
    assert body["conflicts"] == [field]
    assert set(body["labels"]) == {field} and body["labels"][field]
    # who gave the current value, and when: the person choosing knows whose it is
    assert set(body["changed_by"]) == {field}
    assert body["changed_by"][field]["name"] == "Yannick" and body["changed_by"][field]["at"]
    assert body["current"]["version"] == 2 and body["current"][field] == theirs
    assert body["base"]["version"] == 1 and body["base"][field] == made.body[field]
    assert body["yours"][field] == yours and body["yours"][other] == mine
    assert body["error"]
    assert everything(app, kind, made) == before  # the other field is not written either
    shown = audit_events(app, "note_read")[reads:]
    if kind.secret:
        assert [(e.object_id, e.detail) for e in shown] == [(made.id, {"via": "api_409"})]
        assert body["current"][kind.secret] == made.body[kind.secret]
    else:
        assert shown == []
    # Amina chooses Yannick's value: the same change on both sides is no conflict
    response = team.put(team.amina, made, made.with_(**{field: theirs, other: mine}),
                        **{"If-Match": '"1"'})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["version"] == 3 and response.get_json()["merged"] == []
    fields, _ = stored(app, kind, made)
    assert (fields[field], fields[other]) == (theirs, mine)


@pytest.mark.parametrize("kind", [k for k in KINDS if k.sets],
                         ids=[k.name for k in KINDS if k.sets])
def test_multi_valued_fields_merge_as_sets(team, app, kind):
    made = team.create(kind)
    sets = kind.sets(team.world, app)
    theirs = made.with_(**{name: values[0] for name, values in sets.items()})
    record, etag = kind.read(team.yannick, made)
    assert team.put(team.yannick, made, theirs, **{"If-Match": etag}).status_code == 200
    yours = made.with_(**{name: values[1] for name, values in sets.items()})
    response = team.put(team.amina, made, yours, **{"If-Match": '"1"'})
    assert response.status_code == 200, response.get_json()
    assert sorted(response.get_json()["merged"]) == sorted(sets)
    fields, version = stored(app, kind, made)
    assert {name: fields[name] for name in sets} == {
        name: sorted(values[2]) for name, values in sets.items()}
    assert version == 3


# -- overwriting, and preconditions that cannot hold ---------------------------------------------
@kinds
def test_if_match_star_overwrites_on_purpose_and_is_audited(team, app, world, kind):
    made = team.create(kind)
    field, theirs, _ = made.one
    team.colleague_changes(kind, made, theirs)
    other, mine = made.other
    response = team.put(team.amina, made, made.with_(**{other: mine}), **{"If-Match": "*"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["version"] == 3
    fields, _ = stored(app, kind, made)
    assert (fields[field], fields[other]) == (made.body[field], mine)  # Yannick's is replaced
    [event] = audit_events(app, "record_overwritten", made.id)
    assert event.user_id == world.worker.id and event.object_type == kind.name
    assert sorted(event.detail["fields"]) == sorted([field, other])
    assert history(app, kind, made)[-1].via == "overwrite"


@kinds
def test_preconditions_that_cannot_hold_change_nothing(team, app, kind):
    made = team.create(kind)
    before = everything(app, kind, made)
    changed = made.with_(**{made.other[0]: made.other[1]})
    future = team.put(team.amina, made, changed, **{"If-Match": '"7"'})
    assert future.status_code == 412, future.get_json()
    assert future.get_json()["current"]["version"] == 1
    # parsing the headers is the same for every type: the full list on contacts only
    for headers in MALFORMED if kind.name == "contact" else MALFORMED[1::3]:
        response = team.put(team.amina, made, changed, **headers)
        assert response.status_code == 422, headers
        assert set(response.get_json()["errors"]) <= {"If-Match", "If-None-Match"}
    assert everything(app, kind, made) == before
    # If-Match names a version of a record that does not exist: nothing is created
    missing = replace(made, path=f"{made.path.rsplit('/', 1)[0]}/{new_id()}")
    response = team.put(team.amina, missing, missing.body, **{"If-Match": '"1"'})
    assert response.status_code == 412 and response.get_json()["current"] is None
    with app.app_context():
        assert db.session.get(kind.model, uuid.UUID(missing.id)) is None


HEADERS = [{}, {"If-None-Match": "*"}, {"If-Match": '"1"'}, {"If-Match": '"2"'},
           {"If-Match": '"9"'}, {"If-Match": "*"}]


@kinds
def test_out_of_scope_is_404_whatever_the_headers(team, app, world, kind):
    outsider = Api(app.test_client(), world.outsider.key)
    made = team.create(kind, where="marolles", api=outsider)
    strangers = [team.amina, Api(app.test_client(), world.partner.key)]  # signed in before
    before = everything(app, kind, made)  # (signing in adds a session row)
    changed = made.with_(**{made.other[0]: made.other[1]})
    for api in strangers:
        for headers in [*HEADERS, *MALFORMED[1::3]]:
            response = api.put(made.path, changed, headers=headers)
            assert response.status_code == 404, (api.email, headers, response.get_json())
            assert "Revoir" not in response.text and "Premier" not in response.text
        assert api.put(made.path, made.body).status_code == 404  # even the same content
        assert api.get(made.path).status_code == 404
    assert everything(app, kind, made) == before


# -- what leaves the server ----------------------------------------------------------------------
@pytest.mark.parametrize("kind", [k for k in KINDS if k.secret],
                         ids=[k.name for k in KINDS if k.secret])
def test_a_412_showing_free_text_is_a_note_read(team, app, kind):
    made = team.create(kind)
    reads = len(audit_events(app, "note_read"))
    response = team.put(team.amina, made, made.with_(**{made.one[0]: made.one[1]}),
                        **{"If-None-Match": "*"})
    assert response.status_code == 412
    assert response.get_json()["current"][kind.secret] == made.body[kind.secret]
    shown = audit_events(app, "note_read")[reads:]
    assert [(e.object_id, e.detail) for e in shown] == [(made.id, {"via": "api_412"})]


def test_a_contacts_person_code_is_compared_never_shown(team, app):
    kind = KINDS[KIND_IDS.index("contact")]
    made = team.create(kind)
    assert kind.read(team.amina, made)[0]["has_person_code"] is True
    # a colleague corrects the code; Amina's stale edit leaves it out (absent: unchanged)
    team.colleague_changes(kind, made, made.one[1])
    record, etag = kind.read(team.yannick, made)
    corrected = team.put(team.yannick, made, made.with_(people_count=5, person_code="CD34"),
                         **{"If-Match": etag})
    assert corrected.status_code == 200
    body = {k: v for k, v in made.body.items() if k != "person_code"}
    body["gender"] = "homme"
    response = team.put(team.amina, made, body, **{"If-Match": '"1"'})
    assert response.status_code == 200, response.get_json()
    assert sorted(response.get_json()["merged"]) == ["people_count"]
    with app.app_context():
        assert stored(app, kind, made)[0]["person_code"] == crypto.person_code_hash("CD34")
    # another code, also from version 1, is a conflict on a field nobody sees
    clash = team.put(team.amina, made, made.with_(person_code="EF56"), **{"If-Match": '"1"'})
    assert clash.status_code == 409
    assert clash.get_json()["conflicts"] == ["person_code"]
    for part in ("current", "base", "yours"):
        assert clash.get_json()[part]["has_person_code"] is True
    with app.app_context():
        for code in ("CD34", "EF56"):
            assert code not in clash.text and crypto.person_code_hash(code) not in clash.text


@pytest.mark.parametrize("kind", [k for k in KINDS if k.name == "referral"], ids=["referral"])
def test_a_sent_referral_answers_its_own_rules(team, app, kind):
    made = team.create(kind)
    sent = team.amina.client.post(f"/api/v1{made.path}/status", json={"status": "sent"},
                                  headers={"X-CSRFToken": team.amina.token})
    assert sent.status_code == 200 and sent.get_json()["version"] == 2
    before = everything(app, kind, made)
    changed = made.with_(**{made.one[0]: made.one[1]})
    for headers in ({"If-Match": '"1"'}, {"If-Match": '"2"'}, {"If-Match": "*"}):
        response = team.put(team.amina, made, changed, **headers)
        assert response.status_code == 409, headers
        assert "conflicts" not in response.get_json() and response.get_json()["error"]
    assert everything(app, kind, made) == before
    # what the phone sent before it was sent is still a safe resend
    resend = team.put(team.amina, made, made.body, **{"If-Match": '"1"'})
    assert resend.status_code == 200 and resend.get_json()["version"] == 2


# -- the history and its sealed free text --------------------------------------------------------
def _raw_fields(app, kind, made) -> dict[int, str]:
    with app.app_context():
        rows = db.session.execute(text(
            "SELECT version, fields FROM record_version WHERE record_type = :t "
            "AND record_id = :i"), {"t": kind.name, "i": made.id}).all()
    return {v: f if isinstance(f, str) else json.dumps(f) for v, f in rows}


def _open(app, kind, made, version: int):
    with app.app_context():
        record = db.session.get(kind.model, uuid.UUID(made.id))
        return versions.stored(record, version)[kind.secret]


@pytest.mark.parametrize("kind", [k for k in KINDS if k.secret],
                         ids=[k.name for k in KINDS if k.secret])
def test_free_text_in_history_is_sealed_to_its_row(team, app, kind):
    made = team.create(kind)
    record, etag = kind.read(team.yannick, made)
    second = made.with_(**{kind.secret: "Deuxième version"})
    assert team.put(team.yannick, made, second, **{"If-Match": etag}).status_code == 200
    third = made.with_(**{kind.secret: "Troisième version", made.other[0]: made.other[1]})
    response = team.put(team.amina, made, third, **{"If-Match": '"2"'})
    assert response.status_code == 200, response.get_json()
    raw = _raw_fields(app, kind, made)
    assert sorted(raw) == [1, 2, 3]
    for text_ in (made.body[kind.secret], "Deuxième version", "Troisième version"):
        assert not any(text_ in fields for fields in raw.values())
        assert not any(json.dumps(text_) in fields for fields in raw.values())
    assert _open(app, kind, made, 1) == made.body[kind.secret]
    assert _open(app, kind, made, 2) == "Deuxième version"
    # a sealed value copied to another version's row does not open there
    with app.app_context():
        rows = {r.version: r for r in db.session.scalars(select(RecordVersion).where(
            RecordVersion.record_type == kind.name, RecordVersion.record_id == made.id))}
        moved = {**rows[1].fields, kind.secret: rows[2].fields[kind.secret]}
        db.session.execute(update(RecordVersion).where(RecordVersion.id == rows[1].id)
                           .values(fields=moved))
        db.session.commit()
    with pytest.raises(crypto.DecryptionError):
        _open(app, kind, made, 1)


def test_key_rotation_reseals_the_history(team, app, tmp_path):
    kind = KINDS[KIND_IDS.index("contact")]
    made = team.create(kind)
    team.colleague_changes(kind, made, made.one[1])
    with rotated_keys(app, tmp_path) as (_, ring, _original):
        with app.app_context():
            tokens = [r.fields["note"] for r in db.session.scalars(select(RecordVersion))]
        assert len(tokens) == 2
        assert {ring.key_id_of(t) for t in tokens} == {ring.current.key_id}
        assert _open(app, kind, made, 1) == made.body["note"]
        # a phone's stale edit is still merged against the version it saw
        other, mine = made.other
        response = team.put(team.amina, made, made.with_(**{other: mine}),
                            **{"If-Match": '"1"'})
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["merged"] == [made.one[0]]


# -- the contract --------------------------------------------------------------------------------
def _refs(value):
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "$ref":
                yield inner
            else:
                yield from _refs(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _refs(inner)


SCHEMAS = {"contact": "Contact", "outing": "Outing", "referral": "Referral", "bridge": "Bridge",
           "bridge_step": "BridgeStep", "collective_action": "CollectiveAction"}


def test_openapi_documents_versions_and_preconditions(team, app):
    document = team.amina.get("/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    for ref in set(_refs(document)):  # every reference resolves
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas
    puts = {path: item["put"] for path, item in document["paths"].items() if "put" in item}
    assert len(puts) == len(KINDS)
    for path, put in puts.items():
        responses = put["responses"]
        assert {"200", "201", "409", "412", "428", "422", "404"} <= set(responses), path
        assert all(r.get("description") for r in responses.values()), path
        for status in ("200", "201"):
            assert "ETag" in responses[status]["headers"], path
        assert "VersionConflict" in json.dumps(responses["409"]["content"]), path
        assert "PreconditionFailed" in json.dumps(responses["412"]["content"]), path
        assert "merged" in json.dumps(responses["200"]["content"]), path
        headers = {p["name"]: p for p in put["parameters"] if p["in"] == "header"}
        assert set(headers) == {"If-Match", "If-None-Match"}, path
        assert all(p["schema"] and p["description"] for p in headers.values())
        pattern = re.compile(headers["If-Match"]["schema"]["pattern"])
        assert pattern.match('"12"') and pattern.match("*")
        assert not any(pattern.match(h["If-Match"]) for h in MALFORMED if "If-Match" in h
                       and "If-None-Match" not in h)
    for path, item in document["paths"].items():
        if "put" in item and "get" in item:
            assert "ETag" in item["get"]["responses"]["200"]["headers"], path
    conflict = schemas["VersionConflict"]
    assert set(conflict["required"]) == {"error", "conflicts", "labels", "current", "base",
                                         "yours"}
    # what the server answers is what the document says
    for kind in KINDS:
        made = team.create(kind)
        record, _ = kind.read(team.amina, made)
        schema = schemas[SCHEMAS[kind.name]]
        assert schema["properties"]["version"]["type"] == "integer"
        assert set(record) <= set(schema["properties"]), (kind.name, set(record) - set(
            schema["properties"]))
        team.colleague_changes(kind, made, made.one[1])
        clash = team.put(team.amina, made, made.with_(**{made.one[0]: made.one[2]}),
                         **{"If-Match": '"1"'})
        assert clash.status_code == 409
        assert set(conflict["required"]) <= set(clash.get_json())
        assert "version" in clash.get_json()["current"]
        exists = team.put(team.amina, made, made.body, **{"If-None-Match": "*"})
        assert exists.status_code == 412
        assert set(schemas["PreconditionFailed"]["required"]) <= set(exists.get_json())


def test_a_step_is_read_only_under_its_own_bridge_and_its_note_read_is_audited(team, app):
    kind = next(k for k in KINDS if k.name == "bridge_step")
    made = team.create(kind)
    before = len(audit_events(app, "note_read"))
    step, etag = kind.read(team.amina, made)
    assert step["note"] and etag == f'"{step["version"]}"'
    assert len(audit_events(app, "note_read")) == before + 1
    other_bridge = team.create(next(k for k in KINDS if k.name == "bridge")).path
    step_id = made.path.rsplit("/", 1)[1]
    assert team.amina.get(f"{other_bridge}/steps/{step_id}").status_code == 404
