"""Turning submitted HTML forms into the payloads that records.py checks.

The pages post plain fields (chips are radio buttons and checkboxes); the API posts JSON.
Both end in the same checks, so a record is judged the same way wherever it comes from.
"""

from __future__ import annotations

from datetime import datetime

from werkzeug.datastructures import MultiDict

from ..models import CONTACT_MULTI_TERMS, CONTACT_SINGLE_TERMS
from ..web import local_tz

LOCAL_INPUT_FORMAT = "%Y-%m-%dT%H:%M"


def local_input_value(moment: datetime | None) -> str:
    """A timezone-aware moment as the value of an <input type=datetime-local>."""
    return moment.astimezone(local_tz()).strftime(LOCAL_INPUT_FORMAT) if moment else ""


def _moment_from_local(value: str | None) -> str | None:
    if not value:
        return None
    try:
        naive = datetime.fromisoformat(value)
    except ValueError:
        return value  # the checker reports it
    if naive.tzinfo is not None:
        return value
    return naive.replace(tzinfo=local_tz()).isoformat()


def contact_payload(form: MultiDict, *, editing: bool) -> dict:
    payload: dict = {
        "neighbourhood": form.get("neighbourhood") or None,
        "outing": form.get("outing") or None,
        "occurred_at": _moment_from_local(form.get("occurred_at")),
        "people_count": form.get("people_count", "1"),
        **{field: form.get(field) or None for field in CONTACT_SINGLE_TERMS},
        **{field: form.getlist(field) for field in CONTACT_MULTI_TERMS},
        "note": form.get("note", ""),
    }
    code = form.get("person_code", "").strip()
    if not editing or code:
        payload["person_code"] = code or None
    elif form.get("remove_person_code"):
        payload["person_code"] = None
    return payload


def outing_payload(form: MultiDict, now: datetime) -> dict:
    return {
        "neighbourhood": form.get("neighbourhood") or None,
        "kind": form.get("kind") or None,
        "started_at": now.isoformat(),
        "team": form.getlist("team"),
        "place_label": form.get("place_label") or None,
    }
