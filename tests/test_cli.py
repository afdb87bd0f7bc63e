import json
import stat

from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, Contact, Neighbourhood, Organisation, Term, User

from .helpers import contact_payload, new_id, rotated_keys


def _run(app, *args, input=None):
    result = app.test_cli_runner().invoke(args=list(args), input=input)
    return result


def test_keys_init_creates_a_private_file_and_never_overwrites(app, tmp_path):
    path = tmp_path / "keys.json"
    app.config["DATA_KEYS_FILE"], saved = str(path), app.config["DATA_KEYS_FILE"]
    try:
        assert _run(app, "keys", "init").exit_code == 0
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        before = path.read_text()
        result = _run(app, "keys", "init")
        assert result.exit_code == 0 and "already exists" in result.output
        assert path.read_text() == before
        assert _run(app, "keys", "add").exit_code == 0
        assert len(json.loads(path.read_text())["data_keys"]) == 2
    finally:
        app.config["DATA_KEYS_FILE"] = saved


def test_keys_rotate_re_encrypts_everything_and_drops_old_keys(app, world, worker_api, tmp_path):
    contact_id = new_id()
    worker_api.put(f"/contacts/{contact_id}", contact_payload(note="avant rotation"))
    with rotated_keys(app, tmp_path) as (_, ring, original):
        assert ring.key_ids == [ring.current.key_id]
        with app.app_context():
            contact = db.session.scalars(select(Contact)).one()
            assert ring.key_id_of(contact.note) == ring.current.key_id
            assert contact.read_note() == "avant rotation"
            # person codes still match: the pepper did not change
            assert ring.person_code_hash("AB") == original.person_code_hash("AB")


def test_neighbourhood_and_user_add(app, world):
    assert _run(app, "neighbourhood", "add", "nord", "Quartier Nord",
                "--commune", "Schaerbeek").exit_code == 0
    result = _run(app, "user", "add", "New@Test.be", "--role", "field_worker",
                  "--neighbourhood", "nord", "--neighbourhood", "colignon",
                  "--password", "long enough password")
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "new@test.be"))
        assert {n.code for n in user.neighbourhoods} == {"nord", "colignon"}
        assert db.session.scalar(select(Neighbourhood.name).where(
            Neighbourhood.code == "nord")) == "Quartier Nord"


def test_user_add_prompts_for_the_password(app, world):
    result = _run(app, "user", "add", "prompted@test.be", "--role", "admin",
                  input="a prompted password\na prompted password\n")
    assert result.exit_code == 0, result.output
    assert "a prompted password" not in result.output


def test_user_add_refuses_bad_input(app, world):
    assert _run(app, "user", "add", "x@test.be", "--role", "admin",
                "--password", "short").exit_code != 0
    assert _run(app, "user", "add", "x@test.be", "--role", "field_worker",
                "--neighbourhood", "atlantis", "--password", "long enough pw").exit_code != 0
    assert _run(app, "user", "add", "x@test.be", "--role", "partner",
                "--password", "long enough pw").exit_code != 0
    assert _run(app, "user", "add", "x@test.be", "--role", "boss",
                "--password", "long enough pw").exit_code != 0
    with app.app_context():
        assert db.session.scalar(select(User).where(User.email == "x@test.be")) is None


def test_vocab_load_reports_bad_rows_and_keeps_the_good(app, world, tmp_path):
    path = tmp_path / "vocab.csv"
    path.write_text("vocabulary,code,label_fr,label_nl,label_en\n"
                    "theme,mobilite,Mobilité,Mobiliteit,Mobility\n"
                    "theme,Bad Code,Mauvais,,\n"
                    "theme,,Sans code,,\n", encoding="utf-8")
    result = _run(app, "vocab", "load", str(path))
    assert result.exit_code == 1
    assert "line 3" in result.output and "line 4" in result.output
    with app.app_context():
        assert db.session.scalar(select(Term).where(Term.code == "mobilite")) is not None
        assert db.session.scalar(select(Term).where(Term.label_fr == "Mauvais")) is None


def test_directory_load_reports_malformed_rows(app, world, tmp_path):
    path = tmp_path / "dir.csv"
    path.write_text("name,category,commune,note\n"
                    "Maison Test,sante,Schaerbeek,\n"
                    ",sante,Schaerbeek,\n"
                    "Service Inconnu,astrologie,Ixelles,\n"
                    "maison test,sante,Ixelles,doublon\n", encoding="utf-8")
    result = _run(app, "directory", "load", str(path))
    assert result.exit_code == 1
    assert "1 created" in result.output and "3 rejected" in result.output
    with app.app_context():
        names = db.session.scalars(select(Organisation.name)).all()
    assert "Maison Test" in names and "Service Inconnu" not in names


def test_directory_without_required_columns_is_refused(app, world, tmp_path):
    path = tmp_path / "dir.csv"
    path.write_text("nom,commune\nX,Y\n", encoding="utf-8")
    result = _run(app, "directory", "load", str(path))
    assert result.exit_code == 1
    assert "missing columns" in result.output and "nothing imported" in result.output


def test_demo_loads_a_plausible_world_once(app, world):
    with app.app_context():
        from tests.conftest import _empty_database
        _empty_database()
    result = _run(app, "demo")
    assert result.exit_code == 0, result.output
    assert "terrain@relais.demo" in result.output and "relais-demo-2026" in result.output
    with app.app_context():
        contacts = db.session.scalar(select(func.count()).select_from(Contact))
        assert contacts == 300
        roles = set(db.session.scalars(select(User.role)))
        assert roles == {"field_worker", "coordinator", "partner", "admin"}
        codes = set(db.session.scalars(select(Neighbourhood.code)))
        assert codes == {"colignon", "brabant", "marolles"}
        assert db.session.scalar(select(func.count()).select_from(Organisation)) > 100
        assert db.session.scalar(select(func.count()).select_from(Term)) > 100
        oldest = db.session.scalar(select(func.min(Contact.occurred_at)))
        assert oldest is not None
        notes = db.session.scalars(select(Contact).where(Contact.note.is_not(None))).all()
        assert notes and all(n.read_note() for n in notes)
        assert db.session.scalar(select(AuditEvent.id).where(
            AuditEvent.action == "note_read")) is None
    again = _run(app, "demo")
    assert again.exit_code == 0 and "already" in again.output
