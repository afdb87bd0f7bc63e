"""Nothing sensitive reaches the disk, the logs or the wrong eyes in clear."""

import logging
import re
from pathlib import Path

from sqlalchemy import select, text

from app.extensions import db
from app.models import Contact

from .helpers import contact_payload, new_id

CANARY_NOTE = "CANARY-NOTE-6f1d2c Madame Exemple rue Imaginaire 12"
CANARY_CODE = "CANARY-CODE-91xq"


def _all_cells_as_text(app) -> str:
    with app.app_context():
        chunks = []
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(select(table)):
                chunks.extend(str(value) for value in row)
        return "\n".join(chunks)


def test_canary_note_and_code_are_nowhere_in_clear(app, worker_api, caplog):
    caplog.set_level(logging.DEBUG)
    contact_id = new_id()
    response = worker_api.put(f"/contacts/{contact_id}", contact_payload(
        note=CANARY_NOTE, person_code=CANARY_CODE))
    assert response.status_code == 201
    assert CANARY_CODE not in response.text and CANARY_NOTE not in response.text

    # The API gives the note back to the team, never the person code.
    read = worker_api.get(f"/contacts/{contact_id}").get_json()
    assert read["note"] == CANARY_NOTE
    assert read["has_person_code"] is True
    assert "person_code" not in read

    cells = _all_cells_as_text(app)
    for secret in (CANARY_NOTE, "CANARY-NOTE", CANARY_CODE, "canarycode91xq", "CANARY"):
        assert secret not in cells
    assert "CANARY" not in caplog.text

    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            db.session.execute(text("SELECT 1"))  # make sure everything reached the files
            database = Path(db.engine.url.database)
            raw = b"".join(p.read_bytes() for p in (database, Path(f"{database}-wal"))
                           if p.exists())
            assert raw, "the database file was not found"
            for secret in (CANARY_NOTE, CANARY_CODE, "canarycode91xq", "CANARY"):
                assert secret.encode() not in raw
                assert secret.encode("utf-16-le") not in raw


def test_person_code_is_stored_only_as_hmac(app, worker_api):
    contact_id = new_id()
    worker_api.put(f"/contacts/{contact_id}", contact_payload(person_code="Zah 58"))
    other_id = new_id()
    worker_api.put(f"/contacts/{other_id}", contact_payload(person_code="ZÄH-58"))
    with app.app_context():
        hashes = db.session.scalars(select(Contact.person_code_hash)).all()
    assert len(hashes) == 2 and hashes[0] == hashes[1]
    assert re.fullmatch(r"[0-9a-f]{64}", hashes[0])
    assert "zah58" not in _all_cells_as_text(app).lower()


def test_the_contact_form_has_no_field_for_identities(client, world):
    from .conftest import login

    login(client, world.worker.key)
    html = client.get("/contacts/new").text
    names = set(re.findall(r'name="([^"]+)"', html))
    forbidden = re.compile(r"name|nom|prenom|address|adress|adresse|rue|street|birth|naissance|"
                           r"phone|tel|gsm|email|niss|registre", re.I)
    assert "themes" in names and "note" in names
    assert [n for n in names if n != "csrf_token" and forbidden.search(n)] == []


def test_api_refuses_identity_fields(worker_api, app):
    for field in ("name", "address", "birth_date", "phone"):
        response = worker_api.put(f"/contacts/{new_id()}", contact_payload(**{field: "x"}))
        assert response.status_code == 422
        assert field in response.get_json()["errors"]
    with app.app_context():
        assert db.session.scalar(select(Contact.id)) is None


def test_error_pages_do_not_echo_input(client, world):
    from .conftest import login

    login(client, world.worker.key)
    response = client.get("/contacts/not-a-uuid-CANARY")
    assert response.status_code == 404
    assert "CANARY" not in response.text
