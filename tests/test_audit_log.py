"""The audit log viewer for admins (issue 13): filters, pages, CSV export (itself audited)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent

from .conftest import login


def _add(app, action: str, at: datetime, user_id=None, **kwargs) -> None:
    with app.app_context():
        db.session.add(AuditEvent(action=action, at=at, user_id=user_id, **kwargs))
        db.session.commit()


def _clear(app) -> None:
    with app.app_context():
        db.session.execute(AuditEvent.__table__.delete())
        db.session.commit()


def _actions(page: str) -> list[str]:
    return re.findall(r"<td><code>([a-z_]+)</code></td>", page)


def _rows(response) -> list[list[str]]:
    text = response.data.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text), delimiter=";"))


@pytest.fixture
def admin(app, client, world):
    assert login(client, world.admin.key).status_code == 302
    _clear(app)  # only the events each test adds (and what it does itself)
    return client


@pytest.fixture
def events(app, world, admin):
    """Three events around the turn of a day in Brussels (UTC+1 in January)."""
    _add(app, "note_read", datetime(2026, 1, 4, 22, 30, tzinfo=UTC), world.worker.id,
         object_type="contact", object_id="c-1", neighbourhood_id=world.colignon.id,
         source_address="10.0.0.1", detail={"via": "page"})
    _add(app, "export", datetime(2026, 1, 4, 23, 30, tzinfo=UTC), world.coordinator.id,
         object_type="evaluation", detail={"format": "csv"})  # 5 January, 00:30 local
    _add(app, "login_failed", datetime(2026, 1, 6, 9, 0, tzinfo=UTC), None,
         detail={"email_hash": "abc"})


def test_all_events_newest_first_with_names(events, admin):
    page = admin.get("/admin/audit")
    assert page.status_code == 200
    assert _actions(page.text) == ["login_failed", "export", "note_read"]
    assert "Amina" in page.text and "Colignon" in page.text and "10.0.0.1" in page.text
    assert "{&#34;via&#34;:&#34;page&#34;}" in page.text  # the detail, compact
    # The table scrolls inside its own focusable, named container at 360 px.
    assert re.search(r'class="table-wrap[^"]*" tabindex="0" role="region" aria-label="', page.text)


def test_filters_by_person_kind_and_period(events, admin, world):
    assert _actions(admin.get(f"/admin/audit?person={world.worker.id}").text) == ["note_read"]
    assert _actions(admin.get("/admin/audit?person=none").text) == ["login_failed"]
    assert _actions(admin.get("/admin/audit?kind=export").text) == ["export"]
    # Local days: 23:30 UTC on 4 January is 00:30 on the 5th in Brussels.
    assert _actions(admin.get("/admin/audit?from=2026-01-05&to=2026-01-05").text) == ["export"]
    assert _actions(admin.get("/admin/audit?to=2026-01-04").text) == ["note_read"]
    assert _actions(admin.get("/admin/audit?from=2026-01-05").text) == [
        "login_failed", "export"]
    both = admin.get(f"/admin/audit?person={world.coordinator.id}&kind=note_read")
    assert _actions(both.text) == [] and "Aucun événement" in both.text
    # The kinds offered are those present.
    page = admin.get("/admin/audit").text
    assert '<option value="export">export</option>' in page
    assert 'value="term_retired"' not in page


@pytest.mark.parametrize("query", [
    "from=2026-13-45", "to=yesterday", "from=2026-02-01&to=2026-01-01", "person=999999",
    "person=abc", "kind=nothing_like_it", "page=0", "page=x", "page=99",
])
def test_bad_filters_are_said_not_a_crash(events, admin, query):
    response = admin.get(f"/admin/audit?{query}")
    assert response.status_code == 422
    assert 'class="field-error"' in response.text
    if query != "page=99":  # the export has no pages
        assert admin.get(f"/admin/audit.csv?{query}").status_code == 422


def test_pages_of_fifty_keep_the_filters(app, admin, world):
    for minute in range(120):
        _add(app, "login", datetime(2026, 3, 1, 8, minute % 60, minute // 60, tzinfo=UTC),
             world.worker.id)
    _add(app, "logout", datetime(2026, 3, 1, 12, 0, tzinfo=UTC), world.worker.id)
    first = admin.get("/admin/audit?kind=login")
    assert len(_actions(first.text)) == 50 and "Page 1 sur 3" in first.text
    following = re.search(r'href="(/admin/audit\?[^"]*page=2[^"]*)"', first.text).group(1)
    assert "kind=login" in following
    third = admin.get(following.replace("&amp;", "&").replace("page=2", "page=3"))
    assert _actions(third.text) == ["login"] * 20
    assert "Page 3 sur 3" in third.text


def test_csv_export_of_the_filtered_events_is_audited(app, events, admin, world):
    response = admin.get(f"/admin/audit.csv?person={world.worker.id}")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = _rows(response)
    assert rows[0][:3] == ["Date et heure", "Personne", "Action"]
    assert rows[1:] == [["2026-01-04T23:30:00+01:00", "Amina", "note_read", "contact", "c-1",
                         "Colignon", "10.0.0.1", '{"via":"page"}']]
    with app.app_context():
        exported = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "audit_exported")).one()
        assert exported.user_id == world.admin.id
        assert exported.detail == {"filters": {"person": str(world.worker.id)}, "count": 1}
    # The export shows up in the log as its own kind.
    assert "audit_exported" in _actions(admin.get("/admin/audit").text)


def test_no_cell_of_the_export_is_a_formula(app, admin, world):
    _add(app, "=HYPERLINK(\"http://x\")", datetime(2026, 1, 5, tzinfo=UTC), world.worker.id,
         object_type="+cmd", object_id="-2+3", source_address="@SUM(A1)",
         detail={"k": "=1+1"})
    rows = _rows(admin.get("/admin/audit.csv"))
    cells = [cell for row in rows[1:] for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@")]
    assert "'=HYPERLINK(\"http://x\")" in cells and "'-2+3" in cells


@pytest.mark.parametrize("role", ["field_worker", "coordinator", "partner"])
def test_only_admins_read_the_log(app, world, role):
    client = app.test_client()
    login(client, world.user(role).key)
    assert client.get("/admin/audit").status_code == 403
    assert client.get("/admin/audit.csv").status_code == 403
    with app.app_context():
        assert db.session.scalar(select(AuditEvent).where(
            AuditEvent.action == "audit_exported")) is None
    assert app.test_client().get("/admin/audit").status_code == 302
