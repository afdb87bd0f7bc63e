"""Sign-in, throttled where failures come from (app.auth.throttle), and sign-out; the
session itself is kept on the server (app.auth.sessions).

The same message answers an unknown email, a wrong password and a locked account, so the
form tells nobody which accounts exist.

A person with a second factor (app.auth.two_factor) is not signed in by the password: the
anonymous session keeps a pending marker and ``/login/code`` asks for a code; only then does
the session start. Nothing else signs anyone in (the API's sessions are these sessions).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from sqlalchemy import func, select

from .. import audit
from ..extensions import db, limiter
from ..models import User
from ..web import is_safe_redirect
from . import bp, sessions, throttle, two_factor
from .forms import LoginForm
from .passwords import burn_time, hash_password, needs_rehash, verify_password


def _find_user(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def attempt_login(email: str, password: str) -> User | None:
    """Check credentials under the sign-in throttle (app/auth/throttle.py); return the user
    on success, None for a wrong password or an unknown account.

    For a person with a second factor a right password is only the first step: nothing is
    reset or audited as a sign-in here, and the caller must ask for a code (the login view
    does: two_factor.begin, then /login/code) before starting a session.

    An attempt that must wait (its address, its account–address pair, or the account locked
    for everyone) raises throttle.SignInThrottled, a 429 "try later", before any password is
    checked: alike for unknown and known accounts, so neither the answer nor its timing
    tells which accounts exist.
    """
    now = datetime.now(UTC)
    user = _find_user(email)
    attempt = throttle.Attempt.of(email)
    refused = throttle.refusal(attempt, user, now)
    if refused is not None:
        audit.record_now("login_failed", user=user, detail={"reason": refused})
        raise throttle.SignInThrottled()
    if user is None or not user.active:
        burn_time(password)
        throttle.failed(attempt)  # unknown accounts are throttled and locked alike
        audit.record_now("login_failed", user=user, detail={"reason": "unknown_or_inactive"})
        return None
    if not verify_password(user.password_hash, password):
        _failed(user, attempt, now, "password")
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    if user.has_two_factor:
        # Not signed in yet: the failures stay counted and nothing is audited as a sign-in
        # until the code is right (the login view asks for it).
        db.session.commit()
        return user
    finish_login(user, attempt, now)
    return user


def _failed(user: User, attempt: throttle.Attempt, now: datetime, reason: str) -> None:
    """A wrong password or a wrong code of a known account: counted toward the throttle,
    the account locked for everyone when that was one failure too many. Commits."""
    config = current_app.config
    user.failed_logins += 1  # since the last sign-in: the admin page shows it
    audit.record("login_failed", user=user, detail={"reason": reason,
                                                    "count": user.failed_logins})
    if throttle.failed(attempt):
        minutes = config["LOGIN_ACCOUNT_LOCK_MINUTES"]
        user.locked_until = now + timedelta(minutes=minutes)
        audit.record("account_locked", user=user, obj=user,
                     detail={"minutes": minutes,
                             "failures": config["LOGIN_ACCOUNT_FAILURE_LIMIT"]})
    db.session.commit()


def finish_login(user: User, attempt: throttle.Attempt, now: datetime) -> None:
    """Every factor was right: the pair's failures are forgiven and the sign-in audited.
    Commits; the caller then starts the session (sessions.start, login_user)."""
    throttle.succeeded(attempt)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    audit.record("login", user=user)
    db.session.commit()


def _safe_next() -> str | None:
    target = request.args.get("next")
    return target if is_safe_redirect(target) else None


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("core.home"))
    form = LoginForm()
    failed = False
    if form.validate_on_submit():
        user = attempt_login(form.email.data, form.password.data)
        if user is not None and user.has_two_factor:
            two_factor.begin(user)  # the password only: a code must follow
            return redirect(url_for("auth.login_code", next=_safe_next()))
        if user is not None:
            sessions.start(user)  # a new session row and token: no fixation
            login_user(user)
            return redirect(_safe_next() or url_for("core.home"))
        failed = True
    status = 401 if failed else (422 if form.errors else 200)
    return render_template("auth/login.html", form=form, failed=failed), status


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def login_code():
    """The second step: a TOTP code, or one of the recovery codes (field `recovery_code`,
    or typed in `code`). Wrong codes count toward the throttle like wrong passwords; a
    throttled attempt is refused (429) before any code is checked."""
    if current_user.is_authenticated:
        return redirect(url_for("core.home"))
    user = two_factor.pending_user()
    if user is None:
        flash(_("Reconnectez-vous : la connexion a expiré."), "info")
        return redirect(url_for("auth.login", next=_safe_next()))
    failed = False
    if request.method == "POST":
        now = datetime.now(UTC)
        attempt = throttle.Attempt.of(user.email)
        refused = throttle.refusal(attempt, user, now)
        if refused is not None:
            audit.record_now("login_failed", user=user, detail={"reason": refused})
            raise throttle.SignInThrottled()
        typed = request.form.get("recovery_code") or request.form.get("code", "")
        if two_factor.check_totp(user, typed):
            pass
        elif two_factor.use_recovery_code(user, typed):
            audit.record("recovery_code_used", user=user, obj=user,
                         detail={"left": two_factor.recovery_codes_left(user)})
        else:
            db.session.rollback()
            _failed(user, attempt, now, "code")
            failed = True
        if not failed:
            finish_login(user, attempt, now)
            sessions.start(user)  # a new row and token; the pending marker stays behind
            login_user(user)
            return redirect(_safe_next() or url_for("core.home"))
    return render_template("auth/login_code.html", failed=failed, next=_safe_next()), \
        (401 if failed else 200)


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    if request.method == "GET":
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login"))
        return render_template("auth/logout.html")
    if current_user.is_authenticated:
        audit.record("logout")
        db.session.commit()
        logout_user()
    sessions.end()  # the row is deleted: a saved copy of the cookie opens nothing
    flash(_("Vous êtes déconnecté·e."), "info")
    return redirect(url_for("auth.login"))
