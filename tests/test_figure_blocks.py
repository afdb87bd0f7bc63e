"""Monthly blocks of the evaluation figures: they add up to exactly what the live SQL gives,
and every write keeps them so."""

import json
import random
import uuid
from collections import defaultdict
from datetime import date, timedelta

import pytest
from sqlalchemy import select, update

from app.evaluation import blocks, engine
from app.evaluation.engine import Period
from app.evaluation.perturbation import ZERO, Tally
from app.extensions import db
from app.models import (
    Bridge,
    CollectiveAction,
    Contact,
    FigureBlock,
    Indicator,
    Organisation,
    Outing,
    Referral,
    User,
)
from app.models.record_key import KEY_UNITS

from .conftest import Api
from .evaluation_data import APRIL, BXL, EVERY_MEASURE, at, indicators
from .helpers import contact_payload, new_id

PERIODS = [
    APRIL,                                           # one whole month
    Period(date(2026, 3, 1), date(2026, 5, 31)),     # whole months
    Period(date(2026, 3, 15), date(2026, 5, 10)),    # partial months at both ends
    Period(date(2026, 3, 31), date(2026, 4, 1)),     # two days across a month
    Period(date(2026, 4, 2), date(2026, 4, 29)),     # a month less its first and last days
    Period(date(2025, 1, 1), date(2026, 12, 31)),    # years, most months empty
]


PEOPLE = ("people", "contact", "people", "")


def _c3(data):
    """c3 of the evaluation world: 3 people in Colignon on 20 April."""
    return db.session.scalars(select(Contact).where(
        Contact.neighbourhood_id == data.colignon.id, Contact.people_count == 3)).one()


def _ids(world, *names):
    return [getattr(world, name).id for name in names]


def _check_against_live(app, world, periods=PERIODS):
    """Blocks (computed, then read back from the cache) equal the live SQL."""
    with app.app_context():
        every = indicators(EVERY_MEASURE)
        for names in (("colignon",), ("colignon", "brabant"), ("marolles",)):
            ids = _ids(world, *names)
            for period in periods:
                live = engine.compute(every, ids, period)
                assert blocks.totals(every, ids, period).indicators == live, (names, period)
                assert blocks.totals(every, ids, period).indicators == live, (names, period)


def test_blocks_add_up_to_the_live_figures(app, data):
    _check_against_live(app, data)
    with app.app_context():
        kept = db.session.scalars(select(FigureBlock).where(
            FigureBlock.neighbourhood_id == data.colignon.id,
            FigureBlock.month == "2026-04")).one()
        assert kept.data_generation == kept.generation and kept.definitions
        assert json.loads(kept.data)["people"][0] == 7  # c1 + c2 + c3 + c4
        # A block holds counts, never a record or a person code.
        assert "P1" not in kept.data and "-" not in kept.data.replace("|", "")


def test_cross_tables_equal_counts_made_in_python(app, data):
    period = Period(date(2026, 3, 15), date(2026, 5, 31))
    with app.app_context():
        start, end = period.bounds()
        ids = _ids(data, "colignon", "brabant")
        got = blocks.totals([], ids, period)
        again = blocks.totals([], ids, period)  # from the kept blocks
        # Each count with the sum of its records' keys (people count × the contact's key).
        people, themes, situations = (defaultdict(lambda: ZERO) for _ in range(3))
        for contact in db.session.scalars(select(Contact)):
            if contact.neighbourhood_id in ids and start <= contact.occurred_at < end:
                month = contact.occurred_at.astimezone(BXL).strftime("%Y-%m")
                tally = Tally(contact.people_count,
                              contact.people_count * _units(contact.record_key))
                people[month] += tally
                for code in contact.codes("theme"):
                    themes[(code, month)] += tally
                for code in contact.codes("situation"):
                    situations[(code, contact.neighbourhood_id)] += tally
        outcomes = defaultdict(lambda: ZERO)
        for referral in db.session.scalars(select(Referral)):
            if referral.neighbourhood_id in ids and start <= referral.created_at < end:
                category = db.session.get(Organisation, referral.organisation_id).category
                outcomes[(referral.outcome or "en_cours", category or "")] += \
                    Tally(1, _units(referral.record_key))
    for totals in (got, again):
        assert totals.people_by_month == dict(people)
        assert totals.theme_month == dict(themes)
        assert totals.situation_neighbourhood == dict(situations)
        assert totals.outcome_category == dict(outcomes)
    assert people["2026-03"].n == 5 and people["2026-04"].n == 11  # 31 March 23:30, local


def _units(record_key: float) -> int:
    units = record_key * KEY_UNITS
    assert units == int(units) and 0 <= units < KEY_UNITS  # a whole multiple of 2⁻³²
    return int(units)


def test_every_kind_of_write_keeps_the_blocks_exact(app, data):
    year = [Period(date(2026, 1, 1), date(2026, 12, 31)), APRIL]
    _check_against_live(app, data, year)  # every block of 2026 is now kept
    api = Api(app.test_client(), data.worker.key)
    with app.app_context():
        c2 = db.session.scalars(select(Contact).where(Contact.people_count == 1)
                                .order_by(Contact.occurred_at)).first()
        c2_id, c2_when = str(c2.id), c2.occurred_at
        sent = db.session.scalars(select(Referral).where(Referral.status == "sent")).one()
        sent_id = str(sent.id)

    # A new contact in April.
    new_contact = new_id()
    assert api.put(f"/contacts/{new_contact}", contact_payload(
        occurred_at=at(2026, 4, 9).isoformat())).status_code == 201
    _check_against_live(app, data, year)
    # A contact's situations change: its referrals' filtered counts change with it.
    assert api.edit(f"/contacts/{c2_id}", contact_payload(
        occurred_at=c2_when.isoformat(), people_count=1, age_band="18_24",
        situations=["souffrance_psychique"])).status_code == 200
    _check_against_live(app, data, year)
    # A contact moves from April to March.
    assert api.edit(f"/contacts/{new_contact}", contact_payload(
        occurred_at=at(2026, 3, 2).isoformat())).status_code == 200
    _check_against_live(app, data, year)
    # A referral is closed as taken up.
    assert api.client.post(f"/api/v1/referrals/{sent_id}/status",
                           json={"status": "closed", "outcome": "accroche"},
                           headers={"X-CSRFToken": api.token}).status_code == 200
    _check_against_live(app, data, year)
    # A collective action in April.
    assert api.put(f"/collective-actions/{new_id()}", {
        "neighbourhood": "colignon", "mission": "info_sante", "occurred_on": "2026-04-17",
        "participants": 9, "organisations": [], "themes": ["sante"]}).status_code == 201
    _check_against_live(app, data, year)


def test_a_kept_block_is_used_until_a_write_touches_it(app, data):
    spec = indicators([PEOPLE])
    with app.app_context():
        ids = _ids(data, "colignon")
        assert blocks.totals(spec, ids, APRIL).counts() == {"people": 7}
        kept = db.session.get(FigureBlock, (data.colignon.id, "2026-04"))
        content = json.loads(kept.data)
        content["indicators"]["people"] = 1000
        kept.data = json.dumps(content)
        db.session.commit()
        # The kept block is what is read (this is what makes a dashboard over years fast)…
        assert blocks.totals(spec, ids, APRIL).counts() == {"people": 1000}
        # …until a write touches its neighbourhood and month.
        march = db.session.get(FigureBlock, (data.colignon.id, "2026-03")).generation
        contact = _c3(data)
        contact.people_count = 4
        db.session.commit()
        assert blocks.totals(spec, ids, APRIL).counts() == {"people": 8}
        # Other months are untouched by it.
        db.session.expire_all()
        assert db.session.get(FigureBlock, (data.colignon.id, "2026-03")).generation == march


def test_a_block_read_within_a_write_is_not_kept(app, data):
    spec = indicators([PEOPLE])
    with app.app_context():
        ids = _ids(data, "colignon")
        contact = _c3(data)
        contact.people_count = 5
        db.session.flush()
        assert blocks.totals(spec, ids, APRIL).counts() == {"people": 9}
        db.session.rollback()
        assert blocks.totals(spec, ids, APRIL).counts() == {"people": 7}


def test_editing_an_indicator_or_a_services_category_recomputes(app, data):
    with app.app_context():
        ids = _ids(data, "colignon")
        first = [Indicator(code="x", record="referral", measure="count",
                           filter="org_category=logement_energie")]
        assert blocks.totals(first, ids, APRIL).counts() == {"x": 2}
        edited = [Indicator(code="x", record="referral", measure="count",
                            filter="org_category=emploi_formation")]
        assert blocks.totals(edited, ids, APRIL).counts() == {"x": 2}
        assert blocks.totals(first, ids, APRIL).counts() == {"x": 2}
        housing = db.session.scalars(select(Organisation).where(
            Organisation.category == "logement_energie")).one()
        housing.category = "emploi_formation"
        db.session.commit()
        assert blocks.totals(first, ids, APRIL).counts() == {"x": 0}
        assert blocks.totals(edited, ids, APRIL).counts() == {"x": 4}


@pytest.mark.parametrize("period,whole,partial", [
    (Period(date(2026, 1, 1), date(2026, 3, 31)), ["2026-01", "2026-02", "2026-03"], []),
    (Period(date(2026, 1, 2), date(2026, 2, 28)), ["2026-02"], [(date(2026, 1, 2),
                                                                 date(2026, 1, 31))]),
    (Period(date(2024, 2, 1), date(2024, 2, 28)), [], [(date(2024, 2, 1), date(2024, 2, 28))]),
])
def test_a_period_is_whole_months_and_partial_edges(period, whole, partial):
    months, edges = blocks.split(period)
    assert months == whole
    assert [(e.start, e.end) for e in edges] == partial
    covered = sum(((e.end - e.start).days + 1 for e in edges), 0)
    covered += sum((blocks._last_day(m) - blocks._first_day(m)).days + 1 for m in months)
    assert covered == (period.end - period.start).days + 1
    assert timedelta(0) <= period.end - period.start


def test_records_written_with_sql_are_counted_after_recompute(app, data):
    spec = indicators([PEOPLE])
    with app.app_context():
        ids = _ids(data, "colignon")
        assert blocks.totals(spec, ids, APRIL).counts() == {"people": 7}
        # A bulk load or a restored backup bypasses the app: the kept block does not know.
        db.session.execute(update(Contact).where(Contact.people_count == 3)
                           .values(people_count=6))
        db.session.commit()
        assert blocks.totals(spec, ids, APRIL).counts() == {"people": 7}
    result = app.test_cli_runner().invoke(args=["evaluation", "recompute"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        # Every month from the first record (March 2026) on is computed and kept.
        kept = db.session.get(FigureBlock, (data.marolles.id, "2026-03"))
        assert kept.data_generation == kept.generation
        assert f"{db.session.query(FigureBlock).count()} monthly blocks" in result.output
        assert blocks.totals(spec, ids, APRIL).counts() == {"people": 10}


def test_an_edited_indicator_is_recomputed_alone(app, data):
    people = Indicator(code="people", record="contact", measure="people", filter="")
    rue = Indicator(code="rue", record="contact", measure="people", filter="place_type=rue")
    with app.app_context():
        ids = _ids(data, "colignon")
        assert blocks.totals([people, rue], ids, APRIL).counts() == {"people": 7, "rue": 2}
        kept = db.session.get(FigureBlock, (data.colignon.id, "2026-04"))
        content = json.loads(kept.data)
        content["indicators"]["people"] = 1000  # marks what is not recomputed
        kept.data = json.dumps(content)
        db.session.commit()
        rue.filter = "place_type=rue|marche"
        assert blocks.totals([people, rue], ids, APRIL).counts() == {"people": 1000, "rue": 3}
        db.session.expire_all()
        assert json.loads(db.session.get(FigureBlock, (data.colignon.id, "2026-04")).data)[
            "indicators"]["rue"][0] == 3


def test_a_savepoint_rolled_back_keeps_what_the_transaction_touched(app, data):
    spec = indicators([PEOPLE])
    with app.app_context():
        ids = _ids(data, "colignon")
        assert blocks.totals(spec, ids, APRIL).counts() == {"people": 7}
        contact = _c3(data)
        contact.people_count = 4
        db.session.flush()
        savepoint = db.session.begin_nested()
        contact.people_count = 40
        db.session.flush()
        savepoint.rollback()
        db.session.commit()
        assert blocks.totals(spec, ids, APRIL).counts() == {"people": 8}


def test_random_writes_never_leave_a_block_wrong(app, data):
    """Hundreds of random writes of every kind, through the ORM as the app makes them, each
    batch followed by random periods read from blocks and compared with the live SQL."""
    rng = random.Random(2026)
    every = indicators(EVERY_MEASURE)
    additive = [i for i in every if i.measure not in engine.NON_ADDITIVE]
    with app.app_context():
        worker = db.session.get(User, data.worker.id)
        places = _ids(data, "colignon", "brabant")
        services = list(db.session.scalars(select(Organisation)))
        categories = ["logement_energie", "emploi_formation", "aide_sociale", "sante"]
        made = []

        def moment():
            return at(2026, rng.randint(2, 5), rng.randint(1, 28), rng.randint(0, 23))

        def new_contact():
            contact = Contact(id=uuid.uuid4(), neighbourhood_id=rng.choice(places),
                              author_id=worker.id, occurred_at=moment(),
                              people_count=rng.randint(1, 4),
                              place_type=rng.choice([None, "rue", "marche", "domicile"]))
            contact.set_codes("situation", rng.sample(
                ["risque_perte_logement", "souffrance_psychique", "sans_abri"], rng.randint(0, 2)))
            contact.set_codes("theme", rng.sample(["logement", "expulsion", "sante"], 1))
            contact.set_person_code(rng.choice([None, "P1", "P2", "P3"]))
            db.session.add(contact)
            made.append(contact)

        def edit_contact():
            # Often one kept since an earlier commit, whose attributes are expired: the value
            # it leaves must be known all the same.
            contact = rng.choice(made if made and rng.random() < .5 else
                                 db.session.scalars(select(Contact)).all())
            change = rng.choice(["when", "where", "people", "situation"])
            if change == "when":
                contact.occurred_at = moment()
            elif change == "where":
                contact.neighbourhood_id = rng.choice(places)
            elif change == "people":
                contact.people_count = rng.randint(1, 6)
            else:
                contact.set_codes("situation", rng.sample(
                    ["risque_perte_logement", "souffrance_psychique"], rng.randint(0, 2)))

        def new_referral():
            contact = rng.choice(db.session.scalars(select(Contact)).all())
            closed = rng.random() < .5
            db.session.add(Referral(
                id=uuid.uuid4(), contact_id=contact.id, neighbourhood_id=contact.neighbourhood_id,
                organisation_id=rng.choice(services).id, modality="appel",
                status="closed" if closed else "sent",
                outcome=rng.choice(["accroche", "service_sature"]) if closed else None,
                created_by_id=worker.id, created_at=moment(), status_changed_at=moment()))

        def close_referral():
            open_ones = db.session.scalars(select(Referral).where(
                Referral.status != "closed")).all()
            if open_ones:
                referral = rng.choice(open_ones)
                referral.status, referral.outcome = "closed", "accroche"

        def recategorise():
            rng.choice(services).category = rng.choice(categories)

        def new_outing():
            start = moment()
            db.session.add(Outing(id=uuid.uuid4(), neighbourhood_id=rng.choice(places),
                                  kind=rng.choice(["maraude", "permanence"]), started_at=start,
                                  ended_at=start + timedelta(hours=rng.randint(1, 3)),
                                  created_by_id=worker.id))

        def new_bridge():
            coded = db.session.scalars(select(Contact).where(
                Contact.person_code_hash.is_not(None))).all()
            if coded:
                contact = rng.choice(coded)
                db.session.add(Bridge(
                    id=uuid.uuid4(), neighbourhood_id=contact.neighbourhood_id,
                    person_code_hash=contact.person_code_hash, origin_contact_id=contact.id,
                    lead_id=worker.id, created_by_id=worker.id, opened_at=moment(),
                    status="open"))

        def close_bridge():
            open_ones = db.session.scalars(select(Bridge).where(Bridge.status == "open")).all()
            if open_ones:
                bridge = rng.choice(open_ones)
                bridge.status, bridge.closed_at = "closed", moment()
                bridge.outcome = rng.choice(["accroche_service", "perdu_de_vue"])

        def collective_action():
            actions = db.session.scalars(select(CollectiveAction)).all()
            if actions and rng.random() < .4:
                action = rng.choice(actions)
                action.occurred_on = moment().date()
                action.set_codes("theme", rng.sample(["sante", "logement"], rng.randint(0, 2)))
                return
            action = CollectiveAction(id=uuid.uuid4(), neighbourhood_id=rng.choice(places),
                                      mission=rng.choice(["info_sante", "maillage"]),
                                      occurred_on=moment().date(),
                                      participants=rng.randint(0, 30), created_by_id=worker.id)
            action.set_codes("theme", ["sante"])
            db.session.add(action)

        writes = [new_contact] * 4 + [edit_contact] * 3 + [new_referral] * 2 + \
            [close_referral, recategorise, new_outing, new_bridge, close_bridge,
             collective_action]
        for _ in range(40):
            for _ in range(rng.randint(1, 4)):
                rng.choice(writes)()
            db.session.commit()
            for _ in range(2):
                first = date(2026, rng.randint(1, 5), rng.randint(1, 28))
                period = Period(first, first + timedelta(days=rng.randint(0, 120)))
                scope = rng.choice([places, places[:1], places[1:]])
                got = blocks.totals(every, scope, period)
                assert got.indicators == engine.compute(every, scope, period), period
                live = blocks._added_up([(key, block, 1) for key, block in engine.compute_blocks(
                    additive, scope, period).items()], additive)
                assert (got.people_by_month, got.theme_month, got.situation_neighbourhood,
                        got.outcome_category) == (
                    live.people_by_month, live.theme_month, live.situation_neighbourhood,
                    live.outcome_category), period


def test_a_record_changed_without_being_loaded_still_leaves_its_month(app, data):
    spec = indicators([PEOPLE])
    with app.app_context():
        ids = _ids(data, "colignon")
        contact = _c3(data)
        db.session.commit()  # every attribute of `contact` is expired now
        may = Period(date(2026, 5, 1), date(2026, 5, 31))
        assert blocks.totals(spec, ids, APRIL).counts() == {"people": 7}
        assert blocks.totals(spec, ids, may).counts() == {"people": 7}
        contact.occurred_at = at(2026, 5, 5)  # set without loading what it was
        db.session.commit()
        assert blocks.totals(spec, ids, APRIL).counts() == {"people": 4}
        assert blocks.totals(spec, ids, may).counts() == {"people": 10}
