"""A small fixed world of evaluation records whose counts are known by hand."""

import uuid
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from app.evaluation.engine import Period
from app.extensions import db
from app.models import (
    Bridge,
    CollectiveAction,
    Contact,
    Indicator,
    Organisation,
    Outing,
    Referral,
    User,
)

BXL = ZoneInfo("Europe/Brussels")
APRIL = Period(date(2026, 4, 1), date(2026, 4, 30))


def at(year, month, day, hour=12, minute=0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BXL)


@pytest.fixture
def data(app, world):
    """A small fixed world whose counts are known by hand (see each test)."""
    with app.app_context():
        worker = db.session.get(User, world.worker.id)
        logement = Organisation(name="Service Logement", category="logement_energie")
        emploi = Organisation(name="Mission locale", category="emploi_formation")
        db.session.add_all([logement, emploi])
        db.session.flush()
        c, b, m = world.colignon.id, world.brabant.id, world.marolles.id

        def contact(nid, when, people=1, code=None, **terms):
            record = Contact(id=uuid.uuid4(), neighbourhood_id=nid, author_id=worker.id,
                             occurred_at=when, people_count=people,
                             place_type=terms.pop("place_type", None),
                             initiative=terms.pop("initiative", None),
                             age_band=terms.pop("age_band", None))
            for vocabulary, codes in terms.items():
                record.set_codes(vocabulary, codes)
            if code:
                record.set_person_code(code)
            db.session.add(record)
            return record

        # Colignon, April 2026 (Brussels time).
        c1 = contact(c, at(2026, 4, 1, 0, 30), 2, "P1", place_type="rue",
                     initiative="aller_vers", situation=["risque_perte_logement"],
                     theme=["logement", "expulsion"])          # 22:30 UTC on 31 March!
        c2 = contact(c, at(2026, 4, 10), 1, "P1", place_type="marche",
                     situation=["risque_perte_logement", "souffrance_psychique"],
                     theme=["sante_mentale"], age_band="18_24")
        c3 = contact(c, at(2026, 4, 20), 3, "P2", place_type="domicile",
                     initiative="aller_vers", situation=["souffrance_psychique"],
                     age_band="15_17")
        c4 = contact(c, at(2026, 4, 30, 23, 45), 1, "P2", initiative="demande_personne",
                     theme=["logement"])                        # still April locally
        # Outside the period or the neighbourhoods.
        contact(c, at(2026, 3, 31, 23, 30), 5, "P1", place_type="rue")   # March locally
        contact(c, at(2026, 5, 1, 0, 10), 7, "P2")                        # May locally
        contact(m, at(2026, 4, 15), 9, "P1", place_type="rue")            # Marolles
        b1 = contact(b, at(2026, 4, 15), 4, "P3", place_type="parc_place", theme=["logement"])
        db.session.flush()

        def referral(origin, org, when, status="sent", outcome=None):
            record = Referral(id=uuid.uuid4(), contact_id=origin.id,
                              neighbourhood_id=origin.neighbourhood_id, organisation_id=org.id,
                              modality="appel", status=status, outcome=outcome,
                              created_by_id=worker.id, created_at=when,
                              status_changed_at=when)
            db.session.add(record)

        referral(c1, logement, at(2026, 4, 2), "closed", "accroche")
        referral(c2, logement, at(2026, 4, 11), "closed", "service_sature")
        referral(c2, emploi, at(2026, 4, 11), "closed", "accroche")
        referral(c3, emploi, at(2026, 4, 21))
        referral(c4, logement, at(2026, 5, 2), "closed", "accroche")    # May: out
        referral(b1, logement, at(2026, 4, 16), "closed", "pas_presentee")

        def bridge(origin, opened, closed=None, outcome=None):
            db.session.add(Bridge(
                id=uuid.uuid4(), neighbourhood_id=origin.neighbourhood_id,
                person_code_hash=origin.person_code_hash, origin_contact_id=origin.id,
                lead_id=worker.id, created_by_id=worker.id, opened_at=opened,
                closed_at=closed, status="closed" if closed else "open", outcome=outcome,
                attached_organisation_id=logement.id if outcome == "accroche_service" else None))

        bridge(c1, at(2026, 3, 20), at(2026, 4, 25), "accroche_service")  # closed in April
        bridge(c3, at(2026, 4, 21))                                         # opened in April
        bridge(c2, at(2026, 4, 12), at(2026, 5, 3), "accroche_service")    # closed in May

        def outing(nid, kind, start, hours):
            from datetime import timedelta
            db.session.add(Outing(id=uuid.uuid4(), neighbourhood_id=nid, kind=kind,
                                  started_at=start, ended_at=start + timedelta(hours=hours),
                                  created_by_id=worker.id))

        outing(c, "maraude", at(2026, 4, 3, 9), 2)
        outing(c, "presence_quartier", at(2026, 4, 4, 14), 1.5)
        outing(c, "permanence", at(2026, 4, 5, 9), 3)
        outing(c, "maraude", at(2026, 5, 3, 9), 4)                          # May: out

        def action(nid, mission, day, participants, themes=()):
            record = CollectiveAction(id=uuid.uuid4(), neighbourhood_id=nid, mission=mission,
                                      occurred_on=day, participants=participants,
                                      created_by_id=worker.id)
            record.set_codes("theme", list(themes))
            db.session.add(record)

        action(c, "info_sante", date(2026, 4, 8), 12, ["sante"])
        action(c, "info_sante", date(2026, 4, 30), 3)
        action(c, "maillage", date(2026, 4, 1), 0)
        action(c, "communautaire", date(2026, 5, 1), 40)                    # May: out
        db.session.commit()
    return world


# Indicators over the world above, with their counts for Colignon in April made by hand
# (see each comment): (code, record, measure, filter) → value.
CONTACT_COUNTS = {
    # c1 (00:30 on 1 April, local), c2, c3, c4 (23:45 on 30 April)
    ("contacts", "contact", "count", ""): 4,
    ("people", "contact", "people", ""): 7,                               # 2 + 1 + 3 + 1
    ("aller_vers", "contact", "people", "initiative=aller_vers"): 5,      # c1 + c3
    ("rue", "contact", "people", "place_type=rue|parc_place|gare_metro|marche"): 3,  # c1, c2
    ("risque", "contact", "people", "situation=risque_perte_logement"): 3,  # c1 + c2
    # a repeated field means both: c2 only
    ("both", "contact", "count",
     "situation=risque_perte_logement;situation=souffrance_psychique"): 1,
    ("either", "contact", "count",
     "situation=risque_perte_logement|souffrance_psychique"): 3,          # c1, c2, c3
    ("logement_aller", "contact", "people", "theme=logement;initiative=aller_vers"): 2,  # c1
    ("jeunes", "contact", "count", "age_band=15_17|18_24"): 2,            # c2, c3
    ("repeat", "contact", "distinct_persons_repeat", ""): 2,  # P1 (c1, c2), P2 (c3, c4)
    ("repeat_risque", "contact", "distinct_persons_repeat",
     "situation=risque_perte_logement"): 1,                               # P1 only
}
REFERRAL_COUNTS = {
    # c1→logement, c2→logement, c2→emploi, c3→emploi (April)
    ("count", "referral", "count", ""): 4,
    ("rate", "referral", "rate_taken_up", ""): (2, 3),                    # taken up / closed
    ("sature", "referral", "count", "outcome=service_sature"): 1,
    ("services", "referral", "distinct_services", ""): 2,
    ("logement", "referral", "count", "org_category=logement_energie"): 2,
    # c1 and c2 (both at risk) to the housing service
    ("risque_logement", "referral", "count",
     "situation=risque_perte_logement;org_category=logement_energie"): 2,
    ("jeunes_psy", "referral", "count",
     "age_band=15_17|18_24;situation=souffrance_psychique"): 3,  # c2 twice (18-24), c3 (15-17)
    ("expulsion", "referral", "count", "theme=expulsion"): 1,             # c1
}
OTHER_COUNTS = {
    # opened in April: c2's (12 April) and c3's (21 April)
    ("bridges", "bridge", "count", ""): 2,
    # closed in April as attached: c1's (closed 25 April)
    ("attached", "bridge", "count", "outcome=accroche_service"): 1,
    ("street_hours", "outing", "hours", "kind=maraude|presence_quartier"): 3.5,  # 2 h + 1.5 h
    ("outings", "outing", "count", ""): 3,
    ("info", "collective_action", "count", "mission=info_sante"): 2,
    ("participants", "collective_action", "participants", "mission=info_sante"): 15,
    ("maillage", "collective_action", "count", "mission=maillage"): 1,
    ("sante", "collective_action", "count", "theme=sante"): 1,
}
EVERY_MEASURE = [*CONTACT_COUNTS, *REFERRAL_COUNTS, *OTHER_COUNTS]


def indicators(specs) -> list[Indicator]:
    """Transient Indicator objects (not saved) from (code, record, measure, filter)."""
    return [Indicator(code=code, record=record, measure=measure, filter=filt)
            for code, record, measure, filt in specs]
