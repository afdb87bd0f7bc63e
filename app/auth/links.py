"""One-time links that let a person choose a password: an invitation for a new account, a
reset for an existing one (app.models.account_link).

* ``issue`` is the one way a link is made: a random token (``secrets.token_urlsafe(32)``)
  of which only the SHA-256 is stored; issuing voids the person's earlier unused links.
* ``GET /welcome/<token>`` checks the token, keeps the link's id in the (server-side)
  session and redirects to ``/welcome``, an address without the token: a token in an
  address ends up in the browser's history and in access logs.
* ``/welcome`` asks for the new password. On success the link is marked used in the same
  UPDATE that checks it is still unused (two tabs cannot both use it), the person's other
  sessions end, and the person is signed in.
* A link that is unknown, expired, used or voided, or whose account is deactivated, gets one
  and the same page (404): nothing tells which of these it was.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select, update

from .. import audit
from ..extensions import db
from ..models import AccountLink, User
from ..models.account_link import INVITATION, PASSWORD_RESET
from ..models.types import utcnow
from . import bp, sessions
from .forms import NewPasswordFields
from .passwords import hash_password, password_problems

SESSION_KEY = "account_link"  # the id of the link being used, between the two pages
PURPOSES = (INVITATION, PASSWORD_RESET)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(user: User, purpose: str, created_by: User | None) -> str:
    """A new link for ``user``; returns its token (shown once, never stored). The person's
    earlier unused links stop working. Runs in the caller's transaction: commit to apply."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}")
    now = utcnow()
    void(user)
    token = secrets.token_urlsafe(32)
    db.session.add(AccountLink(
        user_id=user.id, token_hash=digest(token), purpose=purpose,
        created_by_id=created_by.id if created_by is not None else None, created_at=now,
        expires_at=now + timedelta(hours=current_app.config["ACCOUNT_LINK_HOURS"])))
    db.session.flush()
    return token


def void(user: User) -> None:
    """End every unused link of ``user`` now (they expire; they are never marked used)."""
    now = utcnow()
    db.session.execute(
        update(AccountLink)
        .where(AccountLink.user_id == user.id, AccountLink.used_at.is_(None),
               AccountLink.expires_at > now)
        .values(expires_at=now))


def link_url(token: str, base_url: str | None = None) -> str:
    """The absolute address of a link: under ``base_url`` (the command line's
    PUBLIC_BASE_URL) or, in a request, under the address the request came to."""
    if base_url is None:
        return url_for("auth.welcome_link", token=token, _external=True)
    parts = urlsplit(base_url)
    adapter = current_app.url_map.bind(parts.netloc, script_name=parts.path or "/",
                                       url_scheme=parts.scheme or "http")
    return adapter.build("auth.welcome_link", {"token": token}, force_external=True)


def _usable(link: AccountLink | None) -> AccountLink | None:
    if link is None or link.used_at is not None or link.expires_at <= utcnow():
        return None
    user = db.session.get(User, link.user_id)
    return link if user is not None and user.active else None


def _gone():
    """The one answer for every link that does not work, whatever the reason."""
    session.pop(SESSION_KEY, None)
    return render_template("auth/link_gone.html"), 404


class NewPasswordForm(NewPasswordFields, FlaskForm):
    pass


@bp.get("/welcome/<token>")
def welcome_link(token):
    link = _usable(db.session.scalar(
        select(AccountLink).where(AccountLink.token_hash == digest(token))))
    if link is None:
        return _gone()
    if current_user.is_authenticated:
        # A shared phone: whoever is signed in here is signed out before anything else.
        audit.record("logout")
        db.session.commit()
        logout_user()
        sessions.end()
    session[SESSION_KEY] = link.id
    return redirect(url_for("auth.welcome"))


@bp.route("/welcome", methods=["GET", "POST"])
def welcome():
    link_id = session.get(SESSION_KEY)
    link = _usable(db.session.get(AccountLink, link_id)) if isinstance(link_id, int) else None
    if link is None:
        return _gone()
    user = db.session.get(User, link.user_id)
    form = NewPasswordForm()
    if form.validate_on_submit():
        problems = password_problems(form.new_password.data,
                                     user_inputs=(user.email, user.display_name))
        if problems:
            form.new_password.errors.extend(problems)
        else:
            return _use(link, user, form.new_password.data)
    status = 422 if form.errors else 200
    return render_template("auth/welcome.html", form=form, user=user, link=link), status


def _use(link: AccountLink, user: User, password: str):
    now = utcnow()
    claimed = db.session.execute(
        update(AccountLink)
        .where(AccountLink.id == link.id, AccountLink.used_at.is_(None),
               AccountLink.expires_at > now)
        .values(used_at=now)).rowcount
    if claimed != 1:  # used meanwhile (another tab), or voided
        db.session.rollback()
        return _gone()
    user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.last_login_at = now
    sessions.end_sessions(user.id)  # the current session is anonymous: every one of theirs
    audit.record("password_set", obj=user, user=user, detail={"purpose": link.purpose})
    db.session.commit()
    session.pop(SESSION_KEY, None)
    if user.has_two_factor:
        # The link replaces the password, never the second factor: sign in with both.
        flash(_("Votre mot de passe est enregistré. Connectez-vous avec lui et votre code."),
              "success")
        return redirect(url_for("auth.login"))
    sessions.start(user)
    login_user(user)
    flash(_("Bienvenue ! Votre mot de passe est enregistré."), "success")
    return redirect(url_for("core.home"))
