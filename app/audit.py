"""Writing to the append-only audit trail.

Events are added to the current session so that they commit (or roll back) with the change
they describe; `record_now` commits at once for events that must survive a failed request,
such as a failed sign-in.
"""

from __future__ import annotations

from flask import has_request_context, request
from flask_login import current_user

from .extensions import db
from .models import AuditEvent


def _source_address() -> str | None:
    return request.remote_addr if has_request_context() else None


def record(action: str, *, obj=None, object_type: str | None = None, object_id=None,
           neighbourhood_id: int | None = None, detail: dict | None = None,
           user=None) -> AuditEvent:
    if user is None and has_request_context() and current_user.is_authenticated:
        user = current_user
    if obj is not None:
        object_type = object_type or obj.__tablename__
        object_id = object_id or obj.id
        neighbourhood_id = neighbourhood_id or getattr(obj, "neighbourhood_id", None)
    event = AuditEvent(
        action=action,
        user_id=getattr(user, "id", None),
        object_type=object_type,
        object_id=str(object_id) if object_id is not None else None,
        neighbourhood_id=neighbourhood_id,
        source_address=_source_address(),
        detail=detail,
    )
    db.session.add(event)
    return event


def record_now(action: str, **kwargs) -> AuditEvent:
    event = record(action, **kwargs)
    db.session.commit()
    return event


def opened(obj, *texts, via: str, object_type: str | None = None, detail: dict | None = None,
           commit: bool = True) -> bool:
    """Leave a `note_read` event when free text of `obj` was decrypted to be shown.

    `texts` are the decrypted values about to be shown (None: there was nothing to open, so
    nothing was read). Every path that shows a note, a message or a reply goes through here:
    one event per record shown. Committed at once unless `commit` is False (the caller
    commits it with its own change).
    """
    if all(text is None for text in texts):
        return False
    record("note_read", obj=obj, object_type=object_type, detail={"via": via, **(detail or {})})
    if commit:
        db.session.commit()
    return True
