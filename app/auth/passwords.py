"""Argon2id password hashing, with parameters from the configuration, and the rule every
new password follows (`password_problems`)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import gettext as _
from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

# What `user add` on the command line accepts (an operator's own choice, e.g. the demo's);
# passwords chosen in the browser follow PASSWORD_MIN_LENGTH and password_problems.
MIN_PASSWORD_LENGTH = 10
# zxcvbn's scale: 3 is "safely unguessable" (about 10^8 guesses and more).
MIN_STRENGTH_SCORE = 3
# zxcvbn's time grows with the length; what follows the first 100 characters adds strength.
_STRENGTH_PREFIX = 100
_COMMON = frozenset(FREQUENCY_LISTS["passwords"])

# A password no one can type: verify_password is False for it (invited, reset accounts).
UNUSABLE_PASSWORD = "!unusable"  # noqa: S105 (not a password: a marker no hash matches)


def password_problems(password: str, *, user_inputs: tuple[str, ...] = ()) -> list[str]:
    """Why `password` may not become someone's password ([] when it may): too short, one of
    the common passwords zxcvbn ships (30 000 of them), or easy to guess from its words,
    dates and keyboard patterns, including the person's own e-mail and name."""
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    if len(password) < minimum:
        return [_("Au moins %(count)d caractères.", count=minimum)]
    inputs = [part for value in user_inputs if value
              for part in (value, *value.replace("@", " ").replace(".", " ").split())]
    if (password.lower() in _COMMON
            or zxcvbn(password[:_STRENGTH_PREFIX],
                      user_inputs=[*inputs, "relais"])["score"] < MIN_STRENGTH_SCORE):
        return [_("Ce mot de passe est trop courant ou trop facile à deviner : "
                  "essayez plusieurs mots qui ne vont pas ensemble.")]
    return []


def _hasher() -> PasswordHasher:
    config = current_app.config
    return PasswordHasher(
        time_cost=config["ARGON2_TIME_COST"],
        memory_cost=config["ARGON2_MEMORY_COST"],
        parallelism=config["ARGON2_PARALLELISM"],
    )


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher().check_needs_rehash(stored_hash)


def burn_time(password: str) -> None:
    """Spend the time of one verification, so an unknown email answers as slowly as a
    wrong password (no account enumeration by timing)."""
    dummy = current_app.extensions.get("relais_dummy_hash")
    if dummy is None:
        dummy = current_app.extensions["relais_dummy_hash"] = hash_password("not-a-password")
    verify_password(dummy, password)
