"""Sign-in, throttled where failures come from (app.auth.throttle), and sign-out; the
session itself is kept on the server (app.auth.sessions).

The same message answers an unknown email, a wrong password and a locked account, so the
form tells nobody which accounts exist.
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
from . import bp, sessions, throttle
from .forms import LoginForm
from .passwords import burn_time, hash_password, needs_rehash, verify_password


def _find_user(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def attempt_login(email: str, password: str) -> User | None:
    """Check credentials under the sign-in throttle (app/auth/throttle.py); return the user
    on success, None for a wrong password or an unknown account.

    An attempt that must wait (its address, its account–address pair, or the account locked
    for everyone) raises throttle.SignInThrottled, a 429 "try later", before any password is
    checked: alike for unknown and known accounts, so neither the answer nor its timing
    tells which accounts exist.
    """
    now = datetime.now(UTC)
    config = current_app.config
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
        user.failed_logins += 1  # since the last sign-in: the admin page shows it
        audit.record("login_failed", user=user, detail={"reason": "password",
                                                        "count": user.failed_logins})
        if throttle.failed(attempt):
            minutes = config["LOGIN_ACCOUNT_LOCK_MINUTES"]
            user.locked_until = now + timedelta(minutes=minutes)
            audit.record("account_locked", user=user, obj=user,
                         detail={"minutes": minutes,
                                 "failures": config["LOGIN_ACCOUNT_FAILURE_LIMIT"]})
        db.session.commit()
        return None
    throttle.succeeded(attempt)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    audit.record("login", user=user)
    db.session.commit()
    return user


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("core.home"))
    form = LoginForm()
    failed = False
    if form.validate_on_submit():
        user = attempt_login(form.email.data, form.password.data)
        if user is not None:
            sessions.start(user)  # a new session row and token: no fixation
            login_user(user)
            target = request.args.get("next")
            return redirect(target if is_safe_redirect(target) else url_for("core.home"))
        failed = True
    status = 401 if failed else (422 if form.errors else 200)
    return render_template("auth/login.html", form=form, failed=failed), status


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
