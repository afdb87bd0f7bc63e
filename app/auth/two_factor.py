"""Two-factor sign-in (TOTP, RFC 6238): enrolment, the second step of sign-in, recovery
codes, and the rule that sends a coordinator or admin without it to enrolment first.

* The TOTP secret is sealed like a note (app.crypto.seal, AES-GCM bound to
  ``user_account.totp_secret`` and the row id); it is set with ``totp_enabled_at`` None while
  enrolment is under way, and counts only once the person confirmed it with a code.
* A code is accepted for the current 30-s step or the one either side (clock drift), never
  for a step at or before ``totp_last_step``: the step actually matched is recorded in one
  conditional UPDATE, so a code seen over a shoulder, or sent twice at once, works once.
* Recovery codes (10 per person, 10 characters from an alphabet without look-alikes, about
  49 bits each) are shown once and kept only as keyed digests (app.crypto.text_digest, under
  a key derived from the pepper, bound to the person); each works once (an UPDATE … WHERE
  used_at IS NULL).
* After a right password, a person with a second factor is not signed in: the anonymous
  session holds a *pending* marker (their id and when, valid PENDING_SECONDS) and
  ``/login/code`` asks for a code. Only a right code starts the session (app.auth.sessions).
  Wrong codes count toward the sign-in throttle exactly as wrong passwords.
* No code and no secret is ever logged or put in an audit event.
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
from datetime import UTC, datetime

import pyotp
import segno
from flask import (
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import delete, or_, select, update

from .. import audit, crypto
from ..access import wants_json
from ..extensions import db
from ..models import RecoveryCode, User
from ..models.types import utcnow
from . import bp

ISSUER = "Relais"
PENDING_KEY = "two_factor_pending"  # in the (anonymous) session between the two steps
PENDING_SECONDS = 5 * 60
RECOVERY_CODE_COUNT = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
RECOVERY_LENGTH = 10
VALID_WINDOW = 1  # steps either side of now: ±30 s of clock drift
clock = time.time  # seconds since the epoch (the tests move it)

# What a person who must enrol may still reach: the enrolment page and its forms, signing
# out, the language switch, and what the phone's shell needs.
ENROLMENT_ENDPOINTS = frozenset({
    "auth.two_factor", "auth.two_factor_start", "auth.two_factor_confirm",
    "auth.logout", "core.set_language", "core.healthz",
    "static", "pwa.service_worker", "pwa.manifest", "pwa.offline",
})
MUST_ENROL = _l("Votre rôle demande la double authentification : activez-la d'abord "
                "sur la page « Double authentification » de votre compte.")


# -- the secret ------------------------------------------------------------------------------

def _seal(user: User, secret: str | None) -> str | None:
    return crypto.seal(User.__tablename__, "totp_secret", user.id, secret)


def secret_of(user: User) -> str | None:
    return crypto.unseal(User.__tablename__, "totp_secret", user.id, user.totp_secret)


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The otpauth:// link as an inline SVG QR code, drawn here (no outside service)."""
    qr = segno.make(uri, error="m", micro=False)
    return qr.svg_inline(scale=1, border=4, dark="#000", light="#fff", omitsize=True,
                         svgclass="qr", title=_("Code QR à scanner"))


def grouped(secret: str) -> str:
    """The key as a person copies it: groups of four."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def role_requires(user: User) -> bool:
    return user.role in current_app.config["TWO_FACTOR_REQUIRED_ROLES"]


# -- codes -------------------------------------------------------------------------------------

def _clean(code: str | None) -> str:
    return re.sub(r"[\s\-]", "", code or "").lower()


def _looks_like_totp(code: str) -> bool:
    return len(code) == 6 and code.isdigit()


def matching_step(secret: str, code: str, last_step: int | None,
                  now: float | None = None) -> int | None:
    """The time step whose code `code` is (now or one step either side), never one at or
    before `last_step`; None when none matches."""
    code = _clean(code)
    if not _looks_like_totp(code):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(datetime.fromtimestamp(now if now is not None else clock(), UTC))
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if last_step is not None and step <= last_step:
            continue  # already used (replay), or older than a used one
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _claim_step(user: User, step: int) -> bool:
    """Record `step` as the last accepted one, unless an equal or later one was accepted
    meanwhile (two requests with the same code: only one wins)."""
    done = db.session.execute(
        update(User).where(User.id == user.id)
        .where(or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step).execution_options(synchronize_session=False)).rowcount
    if done:
        user.totp_last_step = step
    return bool(done)


def check_totp(user: User, code: str) -> bool:
    """A right, unused TOTP code of the person's confirmed (or enrolling) secret; the step
    is recorded (the caller commits)."""
    secret = secret_of(user)
    if not secret:
        return False
    step = matching_step(secret, code, user.totp_last_step)
    return step is not None and _claim_step(user, step)


def _recovery_digest(user_id: int, code: str) -> str:
    return crypto.text_digest(RecoveryCode.__tablename__, "code_hash", user_id, _clean(code))


def new_recovery_codes(user: User) -> list[str]:
    """Ten fresh codes replace the person's old ones; returned formatted (abcde-fghij) to be
    shown once; only their digests are kept. The caller commits."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = ["".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
             for _ in range(RECOVERY_CODE_COUNT)]
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=_recovery_digest(user.id, c))
                       for c in codes)
    half = RECOVERY_LENGTH // 2
    return [f"{c[:half]}-{c[half:]}" for c in codes]


def use_recovery_code(user: User, code: str) -> bool:
    """Spend one recovery code: True once per code (the caller commits)."""
    cleaned = _clean(code)
    if len(cleaned) != RECOVERY_LENGTH or not set(cleaned) <= set(RECOVERY_ALPHABET):
        return False
    found = db.session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.user_id == user.id,
               RecoveryCode.code_hash == _recovery_digest(user.id, cleaned),
               RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow()).execution_options(synchronize_session=False)).rowcount
    return bool(found)


def recovery_codes_left(user: User) -> int:
    return len(db.session.scalars(select(RecoveryCode.id).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))).all())


def reset(user: User) -> None:
    """Forget the person's second factor and recovery codes (an admin's "reset two-factor",
    a lost phone): they enrol again at their next sign-in when their role requires it.
    The caller audits and commits."""
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))


# -- the second step of sign-in ------------------------------------------------------------

def begin(user: User) -> None:
    """The password was right: remember, in the anonymous session, who must give a code."""
    session[PENDING_KEY] = {"user": user.id, "at": int(clock())}


def pending_user() -> User | None:
    """The person whose password was right within PENDING_SECONDS, still able to sign in
    with a second factor; None otherwise (and a stale marker is dropped)."""
    marker = session.get(PENDING_KEY)
    if not isinstance(marker, dict):
        return None
    user = None
    if 0 <= clock() - int(marker.get("at", 0)) <= PENDING_SECONDS:
        user = db.session.get(User, int(marker.get("user", 0)))
    if user is None or not user.active or not user.has_two_factor:
        session.pop(PENDING_KEY, None)
        return None
    return user


# -- enrolment and settings ------------------------------------------------------------------

def _code_from_form() -> str:
    return request.form.get("code", "")


def _page(status: int = 200, **context):
    user = current_user
    secret = None
    if not user.has_two_factor and user.totp_secret:
        secret = secret_of(user)
    enrolment = None
    if secret:
        uri = provisioning_uri(user, secret)
        enrolment = {"qr": qr_svg(uri), "uri": uri, "key": grouped(secret)}
    return render_template(
        "auth/two_factor.html", enrolment=enrolment, required=role_requires(user),
        codes_left=recovery_codes_left(user) if user.has_two_factor else None,
        **context), status


@bp.get("/account/two-factor")
@login_required
def two_factor():
    return _page()


@bp.post("/account/two-factor/start")
@login_required
def two_factor_start():
    """A new secret, not yet in force: the page shows it until a code confirms it."""
    if current_user.has_two_factor:
        return redirect(url_for("auth.two_factor"))
    current_user.totp_secret = _seal(current_user, pyotp.random_base32())
    current_user.totp_last_step = None
    db.session.commit()
    return redirect(url_for("auth.two_factor"))


@bp.post("/account/two-factor/confirm")
@login_required
def two_factor_confirm():
    user = current_user._get_current_object()
    if user.has_two_factor:
        return redirect(url_for("auth.two_factor"))
    if not user.totp_secret:
        return redirect(url_for("auth.two_factor"))
    if not check_totp(user, _code_from_form()):
        db.session.rollback()
        return _page(422, code_error=_("Ce code ne correspond pas. Vérifiez l'heure du "
                                       "téléphone et saisissez le code affiché maintenant."))
    user.totp_enabled_at = utcnow()
    codes = new_recovery_codes(user)
    audit.record("two_factor_enabled", obj=user)
    db.session.commit()
    return _page(recovery_codes=codes, just_enabled=True)


@bp.post("/account/two-factor/recovery-codes")
@login_required
def two_factor_recovery_codes():
    user = current_user._get_current_object()
    if not user.has_two_factor:
        return redirect(url_for("auth.two_factor"))
    if not check_totp(user, _code_from_form()):
        db.session.rollback()
        return _page(422, manage_error=_("Ce code ne correspond pas."))
    codes = new_recovery_codes(user)
    audit.record("recovery_codes_renewed", obj=user)
    db.session.commit()
    return _page(recovery_codes=codes)


@bp.post("/account/two-factor/disable")
@login_required
def two_factor_disable():
    user = current_user._get_current_object()
    if role_requires(user):
        abort(403)  # only an admin's reset (a lost phone) removes a required second factor
    if not user.has_two_factor:
        return redirect(url_for("auth.two_factor"))
    if not check_totp(user, _code_from_form()):
        db.session.rollback()
        return _page(422, manage_error=_("Ce code ne correspond pas."))
    reset(user)
    audit.record("two_factor_disabled", obj=user)
    db.session.commit()
    flash(_("La double authentification est désactivée."), "info")
    return redirect(url_for("auth.two_factor"))


# -- enforcement ------------------------------------------------------------------------------

@bp.before_app_request
def enrol_first():
    """A signed-in person whose role requires a second factor and who has none reaches
    nothing but enrolment (pages: 302 there; API: 403 JSON)."""
    if request.endpoint in ENROLMENT_ENDPOINTS:
        return None
    required = current_app.config["TWO_FACTOR_REQUIRED_ROLES"]
    if not required or not current_user.is_authenticated:
        return None
    if current_user.role not in required or current_user.has_two_factor:
        return None
    if wants_json():
        return jsonify(error=str(MUST_ENROL), two_factor_required=True), 403
    return redirect(url_for("auth.two_factor"))
