import pytest

from app import crypto
from app.crypto import normalise_person_code


@pytest.mark.parametrize("variant", [
    "ZAH-58", "zah58", " Zah 58 ", "ZÄH-58", "záh_58", "Z A H 5 8", "ＺＡＨ５８", "zah.58\t",
])
def test_spacing_case_and_accents_give_the_same_code(variant):
    ring = crypto.new_key_ring()
    assert normalise_person_code(variant) == "zah58"
    assert ring.person_code_hash(variant) == ring.person_code_hash("ZAH58")


def test_different_codes_differ_and_pepper_matters():
    ring, other = crypto.new_key_ring(), crypto.new_key_ring()
    assert ring.person_code_hash("ZAH58") != ring.person_code_hash("ZAH59")
    assert ring.person_code_hash("ZAH58") != other.person_code_hash("ZAH58")
    assert len(ring.person_code_hash("ZAH58")) == 64


def test_a_code_without_letters_or_digits_is_refused():
    with pytest.raises(ValueError):
        crypto.new_key_ring().person_code_hash(" - . ")
