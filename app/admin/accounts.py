"""What can happen to an account, shared by the pages (app.admin.users) and the command line
(app.cli): create or save it, invite, deactivate, reactivate, reset its password, unlock.

Each function checks what it must, changes the rows, leaves its audit event and lets the
caller commit. Who may do it to whom is the caller's business (app.access).
"""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import func, select

from .. import audit
from ..auth import links, sessions, throttle, two_factor
from ..auth.passwords import UNUSABLE_PASSWORD
from ..extensions import db
from ..models import Neighbourhood, Organisation, Role, User
from ..models.account_link import INVITATION, PASSWORD_RESET
from ..validation import Invalid


def save_account(user: User | None, *, email: str, role: str, display_name: str | None,
                 neighbourhoods: list[Neighbourhood], organisation: Organisation | None,
                 by: User | None = None, action: str | None = None) -> User:
    """Create (``user`` None) or change an account. A new account gets a password no one can
    type: it opens only once its owner chose one through a link. Raises Invalid. Audited as
    `action`, by default user_created or user_saved."""
    email = email.strip().lower()
    errors: dict[str, list[str]] = {}
    taken = db.session.scalar(select(User).where(func.lower(User.email) == email))
    if taken is not None and taken is not user:
        errors["email"] = [_("Un compte existe déjà avec cette adresse.")]
    if role not in {r.value for r in Role}:
        errors["role"] = [_("Choisissez un rôle.")]
    if role == Role.PARTNER and organisation is None:
        errors["organisation"] = [_("Un compte partenaire appartient à une organisation.")]
    if role == Role.FIELD_WORKER and not neighbourhoods:
        errors["neighbourhoods"] = [_("Choisissez au moins un quartier.")]
    if errors:
        raise Invalid(errors)
    created = user is None
    if created:
        user = User(email=email, password_hash=UNUSABLE_PASSWORD, active=True)
        db.session.add(user)
    user.role = str(role)
    user.display_name = (display_name or "").strip() or email.split("@")[0]
    user.neighbourhoods = list(neighbourhoods)
    user.organisation = organisation
    db.session.flush()
    audit.record(action or ("user_created" if created else "user_saved"), obj=user, user=by,
                 detail={"role": user.role,
                         "neighbourhoods": sorted(n.code for n in user.neighbourhoods),
                         "organisation": user.organisation_id})
    return user


def awaiting_password(user: User) -> bool:
    """The person has no password yet, or has had theirs reset: only a link lets them in."""
    return user.password_hash == UNUSABLE_PASSWORD


def invite(user: User, *, by: User | None = None) -> str:
    """A one-time invitation link for ``user`` (earlier links voided): returns its token."""
    return links.issue(user, INVITATION, by)


def reset_password(user: User, *, by: User | None = None) -> str:
    """The old password stops working, the person's sessions end, and a new one-time link
    (returned token) lets them choose another."""
    user.password_hash = UNUSABLE_PASSWORD
    sessions.end_sessions(user.id)
    token = links.issue(user, PASSWORD_RESET, by)
    audit.record("password_reset_link", obj=user, user=by)
    return token


def deactivate(user: User, *, by: User | None = None) -> int:
    """The person can no longer sign in, and every open session of theirs ends at its next
    request (pages and API alike); their records stay. Returns how many sessions ended."""
    user.active = False
    links.void(user)
    ended = sessions.end_sessions(user.id)
    audit.record("user_deactivated", obj=user, user=by, detail={"sessions": ended})
    return ended


def reactivate(user: User, *, by: User | None = None) -> None:
    user.active = True
    audit.record("user_reactivated", obj=user, user=by)


def reset_two_factor(user: User, *, by: User | None = None, via: str = "page") -> int:
    """Forget the person's second factor and recovery codes (a lost phone) and end their
    open sessions, since the lost phone may hold one; they enrol again at their next sign-in
    when their role requires it. Returns how many sessions ended."""
    two_factor.reset(user)
    ended = sessions.end_sessions(user.id)
    audit.record("two_factor_reset", obj=user, user=by,
                 detail={"via": via, "sessions": ended})
    return ended


def unlock(user: User, *, by: User | None = None) -> None:
    """Lift the lock put on an account after failures from many addresses
    (app.auth.throttle), in the database and in the limiter's store."""
    user.locked_until = None
    user.failed_logins = 0
    throttle.unlock(user.email)  # the lock kept in the limiter's store, for every address
    audit.record("user_unlocked", obj=user, user=by)


def resolve(codes=(), organisation_name: str | None = None):
    """Neighbourhoods by code and an organisation by name, for the command line; raises
    LookupError naming what is unknown."""
    found = []
    for code in codes:
        neighbourhood = db.session.scalar(select(Neighbourhood).where(Neighbourhood.code == code))
        if neighbourhood is None:
            raise LookupError(f"unknown neighbourhood {code!r}")
        found.append(neighbourhood)
    organisation = None
    if organisation_name:
        organisation = db.session.scalar(
            select(Organisation).where(Organisation.name == organisation_name))
        if organisation is None:
            raise LookupError(f"unknown organisation {organisation_name!r} (load the directory)")
    return found, organisation


def find(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
