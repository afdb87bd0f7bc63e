"""Two-factor sign-in (TOTP, RFC 6238): enrolment, the second step of sign-in, recovery
codes, and the rule that sends a coordinator or admin without it to enrolment first."""

from __future__ import annotations

from sqlalchemy import delete

from ..extensions import db
from ..models import RecoveryCode, User


def reset(user: User) -> None:
    """Forget the person's second factor and recovery codes (an admin's "reset two-factor",
    a lost phone): they enrol again at their next sign-in when their role requires it.
    The caller audits and commits."""
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
