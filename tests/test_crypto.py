import json
import stat

import pytest

from app import create_app, crypto
from app.crypto import DecryptionError, KeyRing, KeyRingError, associated_data


@pytest.fixture
def ring():
    return crypto.new_key_ring()


def test_round_trip_with_unicode(ring):
    aad = associated_data("contact", "note", "1b4e28ba-2fa1-11d2-883f-0016d3cca427")
    token = ring.encrypt("Inquiète pour son préavis ✓", aad)
    assert token.startswith(f"v1.{ring.current.key_id}.")
    assert "préavis" not in token
    assert ring.decrypt(token, aad) == "Inquiète pour son préavis ✓"


def test_same_text_twice_gives_different_ciphertexts(ring):
    aad = associated_data("contact", "note", "a")
    assert ring.encrypt("même texte", aad) != ring.encrypt("même texte", aad)


def test_tampered_value_fails(ring):
    aad = associated_data("contact", "note", "row-1")
    token = ring.encrypt("secret", aad)
    version, key_id, body = token.split(".", 2)
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    with pytest.raises(DecryptionError):
        ring.decrypt(f"{version}.{key_id}.{flipped}", aad)


@pytest.mark.parametrize("other", [
    ("contact", "note", "row-2"),          # copied to another row
    ("contact", "message", "row-1"),       # another column
    ("bridge_step", "note", "row-1"),      # another table
])
def test_value_moved_elsewhere_fails(ring, other):
    token = ring.encrypt("secret", associated_data("contact", "note", "row-1"))
    with pytest.raises(DecryptionError):
        ring.decrypt(token, associated_data(*other))


def test_old_key_still_reads_after_new_key(ring):
    aad = associated_data("contact", "note", "row-1")
    old_token = ring.encrypt("écrit avec l'ancienne clé", aad)
    newer = ring.with_new_key()
    assert newer.current.key_id != ring.current.key_id
    assert newer.decrypt(old_token, aad) == "écrit avec l'ancienne clé"
    new_token = newer.encrypt("nouveau", aad)
    assert newer.key_id_of(new_token) == newer.current.key_id


def test_unknown_key_is_an_error_not_plaintext(ring):
    aad = associated_data("contact", "note", "row-1")
    token = crypto.new_key_ring().encrypt("secret", aad)
    with pytest.raises(DecryptionError, match="not in the key ring"):
        ring.decrypt(token, aad)
    with pytest.raises(DecryptionError):
        ring.decrypt("plain text that was never encrypted", aad)


def test_key_file_is_private_and_reloads(tmp_path, ring):
    path = tmp_path / "keys.json"
    crypto.write_key_file(path, ring)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = KeyRing.load(path)
    aad = associated_data("t", "c", 1)
    assert again.decrypt(ring.encrypt("x", aad), aad) == "x"
    assert again.person_code_hash("AB12") == ring.person_code_hash("AB12")
    with pytest.raises(FileExistsError):
        crypto.write_key_file(path, crypto.new_key_ring())  # never silently replaced


def test_missing_or_broken_key_file_is_a_clear_error(tmp_path):
    with pytest.raises(KeyRingError, match="keys init"):
        KeyRing.load(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"data_keys": [{"id": "k1", "key": "c2hvcnQ"}], "pepper": "x"}))
    with pytest.raises(KeyRingError):
        KeyRing.load(broken)


def test_app_refuses_to_start_with_a_broken_key_file(tmp_path):
    broken = tmp_path / "keys.json"
    broken.write_text("{not json")
    with pytest.raises(KeyRingError):
        create_app({"SECRET_KEY": "x", "DATA_KEYS_FILE": str(broken),
                    "SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_app_requiring_keys_refuses_to_start_without_them(tmp_path):
    with pytest.raises(KeyRingError):
        create_app({"SECRET_KEY": "x", "DATA_KEYS_FILE": str(tmp_path / "none.json"),
                    "SQLALCHEMY_DATABASE_URI": "sqlite://"}, require_keys=True)


def test_app_without_keys_answers_503_never_plaintext(tmp_path):
    app = create_app({"SECRET_KEY": "x", "DATA_KEYS_FILE": str(tmp_path / "none.json"),
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}"})
    client = app.test_client()
    assert client.get("/login").status_code == 503
    assert client.get("/api/v1/me").status_code == 503
    assert client.get("/healthz").status_code == 200
