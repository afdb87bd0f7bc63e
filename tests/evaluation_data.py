"""A small fixed world of evaluation records whose counts are known by hand."""

import uuid
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from app.evaluation.engine import Period
from app.extensions import db
from app.models import Bridge, CollectiveAction, Contact, Organisation, Outing, Referral, User

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
