"""Sessions kept on the server: the cookie carries only a random token, whose hash is the
row's id (app.auth.sessions). Signing out deletes the row, so a copy of the cookie is
worth nothing; a row unused for the idle timeout or older than its lifetime is refused."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, utcnow


class UserSession(db.Model):
    __tablename__ = "user_session"

    # SHA-256 (hex) of the token in the cookie: the table alone opens no session.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Null until someone signs in (the sign-in form needs its CSRF token kept somewhere).
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # A short label of the browser and system ("Chrome · Android"), for the person's list.
    device: Mapped[str | None] = mapped_column(String(120))
    # What Flask keeps in `session` (CSRF token, language, Flask-Login's fields).
    data: Mapped[dict] = mapped_column(JSON, default=dict)
