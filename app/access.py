"""Who may see and change what: the one place where access is decided.

* ``role_required`` guards every view by role (403 for a wrong role, 404 when the route
  names a record; 401/redirect when signed out).
* ``scoped`` gives the query of the records the current user may see. Views never filter
  neighbourhood records by hand: they ask ``scoped`` or ``get_scoped_or_404``. A record out
  of scope answers 404: for that user it does not exist.
* ``require_member`` refuses (403) a write into a neighbourhood the user does not belong to.
* A partner's scope is the referrals sent to its own organisation.
"""

from __future__ import annotations

from functools import wraps

from flask import abort, request
from flask_login import current_user
from sqlalchemy import false, select

from .extensions import db, login_manager
from .models import (
    Bridge,
    BridgeStep,
    CollectiveAction,
    Contact,
    Neighbourhood,
    Outing,
    Referral,
    Role,
    User,
)

# Records that belong to a neighbourhood and are read only by its field workers. Coordinators
# see counts, partners their referrals, admins manage people: none reads a single contact.
NEIGHBOURHOOD_RECORDS = (Contact, Outing, Referral, Bridge, CollectiveAction)


def role_required(*roles: Role | str):
    allowed = {str(r) for r in roles}

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in allowed:
                # A route naming one record answers 404 to a role that never sees such
                # records (it does not exist for them); any other route answers 403.
                abort(404 if kwargs else 403)
            return view(*args, **kwargs)

        wrapped.allowed_roles = frozenset(allowed)
        return wrapped

    return decorator


def member_neighbourhood_ids(user=None) -> set[int]:
    user = user or current_user
    if not user.is_authenticated:
        return set()
    return user.neighbourhood_ids


def scoped(model, user=None):
    """SELECT of the `model` rows that `user` (default: the current user) may read."""
    user = user or current_user
    stmt = select(model)
    if model is Referral and user.is_authenticated and user.role == Role.PARTNER:
        # A partner sees what was sent to its own organisation, nothing else.
        if user.organisation_id is None:
            return stmt.where(false())
        return stmt.where(Referral.organisation_id == user.organisation_id,
                          Referral.sent_at.is_not(None))
    if model in NEIGHBOURHOOD_RECORDS:
        if user.is_authenticated and user.role == Role.FIELD_WORKER:
            return stmt.where(model.neighbourhood_id.in_(member_neighbourhood_ids(user)))
        return stmt.where(false())
    if model is BridgeStep:
        return stmt.join(Bridge).where(
            Bridge.id.in_(scoped(Bridge, user).with_only_columns(Bridge.id)))
    if model is Neighbourhood:
        return stmt.where(Neighbourhood.id.in_(member_neighbourhood_ids(user)))
    if model is User:
        # Accounts: an admin manages every one; a coordinator the field workers who share at
        # least one neighbourhood with them; nobody else manages any.
        if user.is_authenticated and user.role == Role.ADMIN:
            return stmt
        if user.is_authenticated and user.role == Role.COORDINATOR:
            return stmt.where(User.role == Role.FIELD_WORKER, User.neighbourhoods.any(
                Neighbourhood.id.in_(member_neighbourhood_ids(user))))
        return stmt.where(false())
    raise TypeError(f"no access rule for {model.__name__}")


def get_scoped_or_404(model, record_id):
    record = db.session.execute(scoped(model).where(model.id == record_id)).scalar_one_or_none()
    if record is None:
        abort(404)
    return record


def require_member(neighbourhood_id: int) -> None:
    if neighbourhood_id not in member_neighbourhood_ids():
        abort(403)


def wants_json() -> bool:
    return request.path.startswith("/api/")
