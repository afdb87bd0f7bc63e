"""Sessions kept on the server.

The cookie carries only a random token; the row whose id is the token's SHA-256 holds what
Flask keeps in ``session`` (CSRF token, language, Flask-Login's fields). Signing out deletes
the row, so a copy of the cookie saved before opens nothing afterwards. A row unused for
``SESSION_IDLE_MINUTES`` or older than ``SESSION_MAX_HOURS`` is refused and deleted, and so
is a signed-in row whose person was deactivated. Everything lives in the database: several
processes and hosts share the sessions, no state is kept in a process.

``last_seen_at`` is written at most once a minute (SQLite has one writer): the idle timeout
is exact to the minute. A visitor with nothing to keep (no CSRF token, no language) gets no
row and no cookie.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from datetime import datetime, timedelta

import click
from flask import Flask, current_app, has_request_context, request, session
from flask.cli import AppGroup
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.datastructures import CallbackDict

from ..extensions import db
from ..models import User
from ..models.session import UserSession
from ..models.types import utcnow

log = logging.getLogger(__name__)

TOUCH_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often
MAX_TOKEN_LENGTH = 100  # a longer cookie is not one of ours: not even hashed
DEVICE_MAX_LENGTH = 120


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def idle_timeout() -> timedelta:
    return timedelta(minutes=current_app.config["SESSION_IDLE_MINUTES"])


def lifetime() -> timedelta:
    return timedelta(hours=current_app.config["SESSION_MAX_HOURS"])


def ends_at(record) -> datetime:
    """When the session ends if nothing happens (aware UTC): the earlier of its absolute end
    and the end of its idle time."""
    return min(record.created_at + lifetime(), record.last_seen_at + idle_timeout())


def _expired(created_at: datetime, last_seen_at: datetime, now: datetime) -> bool:
    return now - last_seen_at > idle_timeout() or now - created_at > lifetime()


def _expired_clause(now: datetime):
    return or_(UserSession.last_seen_at < now - idle_timeout(),
               UserSession.created_at < now - lifetime())


class ServerSession(CallbackDict, SessionMixin):
    """Flask's ``session`` for one request: the row's data, plus which row it came from."""

    def __init__(self, initial=None, *, record_id: str | None = None,
                 user_id: int | None = None, created_at: datetime | None = None,
                 last_seen_at: datetime | None = None, stale: bool = False):
        def on_update(self):
            self.modified = True
            self.accessed = True

        super().__init__(initial, on_update)
        self.accessed = False  # as Flask's own session: Vary: Cookie only when read
        self.record_id = record_id  # the row this request opened (None: no row yet)
        self.user_id = user_id  # who the row belongs to (None: anonymous)
        self.created_at = created_at
        self.last_seen_at = last_seen_at
        self.stale = stale  # the request carried a cookie that opens nothing: clear it
        self.token: str | None = None  # a token to send (a row made during this request)
        self.modified = False

    def __getitem__(self, key):
        self.accessed = True
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.accessed = True
        return super().get(key, default)

    def setdefault(self, key, default=None):
        self.accessed = True
        return super().setdefault(key, default)


class ServerSessionInterface(SessionInterface):
    def open_session(self, app: Flask, request) -> ServerSession:
        token = request.cookies.get(self.get_cookie_name(app))
        if not token:
            return ServerSession()
        static = app.static_url_path
        if static and request.path.startswith(static + "/"):
            return ServerSession()  # static files need no session: no query for them
        if len(token) > MAX_TOKEN_LENGTH:
            return ServerSession(stale=True)
        table = UserSession.__table__
        # A plain select, never the identity map: a row deleted by another request or host
        # must not be found in a cache.
        row = db.session.execute(select(table).where(table.c.id == _digest(token))).first()
        if row is None:
            return ServerSession(stale=True)
        data = dict(row.data or {})
        if _expired(row.created_at, row.last_seen_at, utcnow()) or not _trusted(row, data):
            db.session.execute(delete(UserSession).where(UserSession.id == row.id))
            db.session.commit()
            return ServerSession(stale=True)
        return ServerSession(data, record_id=row.id, user_id=row.user_id,
                             created_at=row.created_at, last_seen_at=row.last_seen_at)

    def save_session(self, app: Flask, session: SessionMixin, response) -> None:
        if not isinstance(session, ServerSession):
            return
        if session.accessed:
            response.vary.add("Cookie")
        now = utcnow()
        record_id = session.record_id
        signed_in = session.get("_user_id")
        owner = str(session.user_id) if session.user_id is not None else None
        if record_id is not None and owner != signed_in:
            # Someone signed in or out without start()/end(): never keep the row (and its
            # token) across a change of person.
            _write([delete(UserSession).where(UserSession.id == record_id)])
            record_id = None
            session.token = None
        if not session:
            if record_id is not None:
                _write([delete(UserSession).where(UserSession.id == record_id)])
            if record_id is not None:
                self._forget(app, response)
            # A cookie that opened nothing is left alone: the browser may already hold a
            # newer one, set by an answer that overtook this one (a sign-in page loaded while
            # the phone's queue was asking with the old cookie); clearing would clear that.
            return
        try:
            if record_id is None:
                token = secrets.token_urlsafe(32)
                user_id = int(signed_in) if signed_in and signed_in.isdigit() else None
                _write([insert(UserSession).values(
                    id=_digest(token), user_id=user_id, created_at=now, last_seen_at=now,
                    device=device_label(request.user_agent.string) if user_id else None,
                    data=dict(session))])
                self._send(app, response, token, now)
                return
            if session.modified:
                _write([update(UserSession).where(UserSession.id == record_id)
                        .values(data=dict(session), last_seen_at=now)])
            elif session.last_seen_at is None or now - session.last_seen_at >= TOUCH_EVERY:
                _write([update(UserSession).where(UserSession.id == record_id)
                        .values(last_seen_at=now)])
        except SQLAlchemyError:
            # The answer still goes out: what is lost is a new CSRF token or language (the
            # next form says its session expired) or one touch (the next request makes it).
            # Deleting rows, which ends sessions, is never skipped like this.
            db.session.rollback()
            log.exception("session not saved")
            return
        if session.token:
            self._send(app, response, session.token, session.created_at or now)

    def _send(self, app: Flask, response, token: str, created_at: datetime) -> None:
        # The browser may drop the cookie at the absolute end; the idle end is the server's.
        response.set_cookie(
            self.get_cookie_name(app), token, expires=created_at + lifetime(),
            domain=self.get_cookie_domain(app), path=self.get_cookie_path(app),
            secure=self.get_cookie_secure(app), httponly=self.get_cookie_httponly(app),
            samesite=self.get_cookie_samesite(app), partitioned=self.get_cookie_partitioned(app))

    def _forget(self, app: Flask, response) -> None:
        response.delete_cookie(
            self.get_cookie_name(app), domain=self.get_cookie_domain(app),
            path=self.get_cookie_path(app), secure=self.get_cookie_secure(app),
            httponly=self.get_cookie_httponly(app), samesite=self.get_cookie_samesite(app),
            partitioned=self.get_cookie_partitioned(app))


def _trusted(row, data: dict) -> bool:
    """The row's person and Flask-Login's agree, and that person may still sign in."""
    signed_in = data.get("_user_id")
    if row.user_id is None:
        return signed_in is None
    if signed_in != str(row.user_id):
        return False
    return bool(db.session.scalar(select(User.active).where(User.id == row.user_id)))


def _write(statements) -> None:
    """Session writes after the response is made: whatever the view left uncommitted is
    dropped first (teardown would drop it too), so it can never be committed with them."""
    db.session.rollback()
    for statement in statements:
        db.session.execute(statement)
    db.session.commit()


def _current() -> ServerSession | None:
    if not has_request_context() or not isinstance(session._get_current_object(),
                                                   ServerSession):
        return None
    return session._get_current_object()


# --- Signing in and out -------------------------------------------------------------------

# What a device keeps across sign-in and sign-out: how it shows pages, nothing about anyone.
PREFERENCES = ("lang", "theme")


def _preferences(current) -> dict:
    return {name: current[name] for name in PREFERENCES if current.get(name)}


def start(user) -> None:
    """A new session row (and token) for ``user`` signing in: the anonymous row of the
    sign-in form is deleted, so a token planted before sign-in opens nothing (no fixation).
    The device's preferences (language, theme) are kept. Call ``login_user(user)``
    afterwards."""
    current = _current()
    if current is None:
        raise RuntimeError("server-side sessions are not installed")
    kept = _preferences(current)
    now = utcnow()
    token = secrets.token_urlsafe(32)
    statements = [delete(UserSession).where(_expired_clause(now))]  # opportunistic purge
    if current.record_id is not None:
        statements.append(delete(UserSession).where(UserSession.id == current.record_id))
    statements.append(insert(UserSession).values(
        id=_digest(token), user_id=user.id, created_at=now, last_seen_at=now,
        device=device_label(request.user_agent.string), data={}))
    for statement in statements:
        db.session.execute(statement)
    db.session.commit()
    current.clear()
    current.update(kept)
    current.record_id, current.user_id, current.token = _digest(token), user.id, token
    current.created_at = current.last_seen_at = now
    current.modified = True


def end() -> None:
    """Sign-out: the row is deleted (a copy of the cookie opens nothing any more); only the
    device's preferences (language, theme) are kept, in a new anonymous session."""
    current = _current()
    if current is None:
        return
    kept = _preferences(current)
    if current.record_id is not None:
        db.session.execute(delete(UserSession).where(UserSession.id == current.record_id))
        db.session.commit()
    current.clear()
    current.record_id = current.user_id = current.token = None
    current.created_at = current.last_seen_at = None
    current.stale = True
    current.update(kept)


# --- Helpers for other modules ------------------------------------------------------------

def current_record() -> UserSession | None:
    """The current request's signed-in session row, or None."""
    current = _current()
    if current is None or current.record_id is None or current.user_id is None:
        return None
    if current.get("_user_id") != str(current.user_id):
        return None
    return db.session.get(UserSession, current.record_id)


def offline_key(record: UserSession | None = None) -> str | None:
    """An opaque key of the signed-in session, to bind the phone's caches to it; None when
    not signed in."""
    record = record if record is not None else current_record()
    if record is None or record.user_id is None:
        return None
    return hashlib.sha256(f"{record.id}:offline".encode()).hexdigest()[:32]


def public_id(record: UserSession) -> str:
    """How a page names a session (to end it): derived from the row id, never the row id
    itself, so that nothing that identifies a session's token appears in a page or a form."""
    return hashlib.sha256(f"{record.id}:public".encode()).hexdigest()[:24]


def sessions_of(user_id: int) -> list[UserSession]:
    """The open (unexpired) sessions of a person, the most recently used first."""
    return list(db.session.scalars(
        select(UserSession)
        .where(UserSession.user_id == user_id, ~_expired_clause(utcnow()))
        .order_by(UserSession.last_seen_at.desc())))


def end_sessions(user_id: int, except_id: str | None = None) -> int:
    """Delete a person's session rows (all, or all but ``except_id``): each ends at its next
    request. Runs in the caller's transaction: commit to apply. Returns how many."""
    statement = delete(UserSession).where(UserSession.user_id == user_id)
    if except_id is not None:
        statement = statement.where(UserSession.id != except_id)
    return db.session.execute(statement).rowcount


def purge() -> int:
    """Delete every expired row (one indexed DELETE). Commits."""
    count = db.session.execute(delete(UserSession).where(_expired_clause(utcnow()))).rowcount
    db.session.commit()
    return count


# --- Device label -------------------------------------------------------------------------

_BROWSERS = (  # first match wins: Edge and Opera also say Chrome, Chrome also says Safari
    ("Edge", re.compile(r"\bEdg(e|A|iOS)?/")),
    ("Opera", re.compile(r"\bOPR/|\bOpera\b")),
    ("Samsung Internet", re.compile(r"\bSamsungBrowser/")),
    ("Firefox", re.compile(r"\bFirefox/|\bFxiOS/")),
    ("Chrome", re.compile(r"\bChrome/|\bCriOS/|\bChromium/")),
    ("Safari", re.compile(r"\bSafari/")),
)
_SYSTEMS = (
    ("Android", re.compile(r"\bAndroid\b")),
    ("iOS", re.compile(r"\biPhone\b|\biPad\b|\biPod\b")),
    ("Windows", re.compile(r"\bWindows\b")),
    ("ChromeOS", re.compile(r"\bCrOS\b")),
    ("macOS", re.compile(r"\bMacintosh\b|\bMac OS X\b")),
    ("Linux", re.compile(r"\bLinux\b")),
)


def device_label(user_agent: str | None) -> str | None:
    """A short "browser · system" label ("Chrome · Android"), without versions; None when
    nothing is recognised."""
    text = (user_agent or "")[:1000]
    parts = [next((name for name, pattern in table if pattern.search(text)), None)
             for table in (_BROWSERS, _SYSTEMS)]
    label = " · ".join(part for part in parts if part)
    return label[:DEVICE_MAX_LENGTH] or None


# --- Installation -------------------------------------------------------------------------

sessions_cli = AppGroup("sessions", help="Sessions kept on the server.")


@sessions_cli.command("purge")
def purge_command():
    """Delete expired sessions (idle too long or past their lifetime)."""
    click.echo(f"{purge()} expired session(s) deleted.")


def init_app(app: Flask) -> None:
    app.session_interface = ServerSessionInterface()
    app.cli.add_command(sessions_cli)

