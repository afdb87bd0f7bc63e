"""Plausible demo data: three neighbourhoods, one account per role, ~300 contacts.

Deterministic (seeded) so that screenshots and manual checks are repeatable. Nothing here
describes a real person.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, time, timedelta

from sqlalchemy import func, select

from . import versions
from .cli import create_user
from .extensions import db
from .loaders import load_directory, load_evaluation, load_vocabularies
from .models import (
    Bridge,
    BridgeHandover,
    BridgeStep,
    CollectiveAction,
    Contact,
    Neighbourhood,
    Organisation,
    Outing,
    Referral,
    ReferralEvent,
    Role,
    User,
)
from .outreach.records import team_candidates
from .web import local_now, local_tz

DEMO_PASSWORD = "relais-demo-2026"  # noqa: S105 (published demo accounts only)
NEIGHBOURHOODS = [
    ("colignon", "Colignon", "Schaerbeek"),
    ("brabant", "Brabant", "Schaerbeek"),
    ("marolles", "Marolles", "Bruxelles"),
]
# email, role, display name, neighbourhoods, organisation
DEMO_USERS = [
    ("terrain@relais.demo", Role.FIELD_WORKER, "Amina (RAQ)", ["colignon", "brabant"],
     "CPAS de Schaerbeek"),
    ("binome@relais.demo", Role.FIELD_WORKER, "Yannick (RAQ)", ["colignon"], None),
    ("marolles@relais.demo", Role.FIELD_WORKER, "Sofia (éducatrice de rue)", ["marolles"], None),
    ("coordination@relais.demo", Role.COORDINATOR, "Coordination CLSS",
     ["colignon", "brabant", "marolles"], None),
    ("partenaire@relais.demo", Role.PARTNER, "Accueil CPAS", [], "CPAS de Schaerbeek"),
    ("admin@relais.demo", Role.ADMIN, "Administration", [], None),
]
THEMES = {"logement": 8, "expulsion": 4, "droits_sociaux": 7, "sante": 5, "sante_mentale": 3,
          "sejour": 3, "emploi_formation": 3, "famille": 3, "alimentation": 3, "numerique": 3,
          "dettes_energie": 3, "isolement": 4, "scolarite": 2, "juridique": 2, "assuetudes": 1,
          "violences": 1, "loisirs_culture": 2}
SITUATIONS = {"risque_perte_logement": 4, "mal_logement": 4, "sans_abri": 2, "primo_arrivant": 3,
              "allophone": 3, "senior_isole": 3, "parent_solo": 3, "fracture_numerique": 3,
              "souffrance_psychique": 2, "locataire_social": 2, "sans_titre_sejour": 1,
              "jeune_decrochage": 2, "assuetudes": 1}
RESPONSES = {"ecoute": 8, "information": 7, "orientation": 5, "appel_avec_personne": 2,
             "aide_demarche": 2, "accompagnement_physique": 1}
NOTES = [
    "Inquiète pour son préavis, veut comprendre ses droits. Revoir la semaine prochaine.",
    "Cherche une aide pour remplir le formulaire en ligne de la mutuelle.",
    "Rencontré au marché, isolé depuis le décès de son épouse. Proposer l'activité du jeudi.",
    "Humidité importante dans le logement, enfants souvent malades.",
    "A déjà un AS au CPAS mais n'arrive pas à le joindre : appel fait ensemble.",
    "Demande d'information sur les cours de français.",
    "Facture d'énergie impayée, orienté vers le service énergie.",
]


def _weighted(rng: random.Random, weights: dict[str, int], k_max: int) -> list[str]:
    k = rng.randint(1, k_max)
    picked = rng.choices(list(weights), weights=list(weights.values()), k=k)
    return list(dict.fromkeys(picked))


def load_demo(contact_count: int = 300, seed: int = 2026) -> None:
    rng = random.Random(seed)
    load_vocabularies()
    load_directory()
    load_evaluation()
    neighbourhoods = {}
    for code, name, commune in NEIGHBOURHOODS:
        n = db.session.scalar(select(Neighbourhood).where(Neighbourhood.code == code))
        if n is None:
            n = Neighbourhood(code=code, name=name, commune=commune)
            db.session.add(n)
        neighbourhoods[code] = n
    db.session.commit()
    users = {}
    for email, role, name, codes, organisation in DEMO_USERS:
        users[email] = create_user(email, role, DEMO_PASSWORD, neighbourhoods=codes,
                                   organisation=organisation, display_name=name)

    workers = {
        "colignon": [users["terrain@relais.demo"], users["binome@relais.demo"]],
        "brabant": [users["terrain@relais.demo"]],
        "marolles": [users["marolles@relais.demo"]],
    }
    codes_pool = {code: [f"{code[:3].upper()}-{i:02d}" for i in range(1, 26)]
                  for code in neighbourhoods}

    def outing_with_contacts(code: str, start: datetime, minutes: int, contacts: int) -> int:
        team = workers[code]
        outing = Outing(
            id=uuid.uuid4(), neighbourhood=neighbourhoods[code], created_by_id=team[0].id,
            kind=rng.choices(["maraude", "presence_quartier", "permanence", "porte_a_porte",
                              "stand"], weights=[5, 3, 3, 1, 1])[0],
            started_at=start, ended_at=start + timedelta(minutes=minutes), team=list(team),
        )
        db.session.add(outing)
        for _ in range(contacts):
            db.session.add(_contact(rng, neighbourhoods[code], outing, rng.choice(team),
                                    start + timedelta(minutes=rng.randint(1, minutes - 1)),
                                    codes_pool[code]))
        return contacts

    now = local_now()
    made = 0
    # This morning's maraude in Colignon, so that "today" is not empty in the demo.
    morning = now.replace(hour=9, minute=0, second=0, microsecond=0)
    if now - morning > timedelta(minutes=40):
        minutes = min(150, int((now - morning).total_seconds() // 60) - 10)
        made += outing_with_contacts("colignon", morning, minutes, 4)
    while made < contact_count:
        code = rng.choices(list(neighbourhoods), weights=[5, 3, 4])[0]
        day = now.date() - timedelta(days=rng.randint(1, 90))
        if day.weekday() >= 5:
            continue
        start = datetime.combine(day, time(rng.choice([9, 10, 13, 14])), tzinfo=local_tz())
        made += outing_with_contacts(code, start, rng.choice([120, 180]),
                                     min(rng.randint(2, 7), contact_count - made))
    db.session.commit()
    _demo_referrals(rng, now)
    _demo_bridges(rng, now)
    _demo_collective_actions(rng, now, neighbourhoods, workers)
    db.session.commit()
    _demo_corrections(neighbourhoods["colignon"], workers["colignon"])
    db.session.commit()


def _demo_corrections(neighbourhood, team) -> None:
    """Two-person teams share records: a few of the latest Colignon contacts were completed by
    the other member of the pair, so that a contact's history shows what versions look like."""
    latest = db.session.scalars(
        select(Contact).where(Contact.neighbourhood_id == neighbourhood.id)
        .order_by(Contact.occurred_at.desc()).limit(3)).all()
    for contact in latest:
        colleague = next(u for u in team if u.id != contact.author_id)
        with versions.tracked(contact, via="page", by=colleague):
            contact.people_count += 1
            contact.set_codes("theme", [*contact.codes("theme"), "sante"])


ACTIONS = [
    ("maillage", "Réunion du réseau social-santé du quartier", (6, 14)),
    ("maillage", "Rencontre avec la nouvelle maison médicale", (2, 5)),
    ("info_sante", "Stand santé au marché", (15, 45)),
    ("info_sante", "Séance d'information sur les droits sociaux", (8, 20)),
    ("communautaire", "Fête de quartier", (40, 120)),
    ("communautaire", "Groupe d'habitants sur le logement", (6, 15)),
]


def _demo_collective_actions(rng, now, neighbourhoods, workers) -> None:
    services = db.session.scalars(select(Organisation).order_by(Organisation.id)).all()
    for code, neighbourhood in neighbourhoods.items():
        for _ in range(rng.randint(5, 9)):
            mission, title, (low, high) = rng.choice(ACTIONS)
            action = CollectiveAction(
                id=uuid.uuid4(), neighbourhood=neighbourhood, mission=mission,
                occurred_on=now.date() - timedelta(days=rng.randint(1, 90)),
                participants=rng.randint(low, high), title=title,
                created_by_id=workers[code][0].id,
                organisations=rng.sample(services, rng.randint(0, 3)),
            )
            action.set_codes("theme", rng.sample(["sante", "logement", "droits_sociaux",
                                                  "isolement", "alimentation"],
                                                 rng.randint(1, 2)))
            db.session.add(action)


STEP_NOTES = [
    "Appel au service logement avec la personne, dossier à compléter.",
    "Accompagnée au CPAS pour le premier rendez-vous.",
    "Documents rassemblés ensemble, reste l'attestation de la mutuelle.",
    None,
]


def _demo_bridges(rng: random.Random, now: datetime) -> None:
    """A few suivis-pont from repeat person codes: open, overdue, handed over, closed."""
    repeat_codes = db.session.execute(
        select(Contact.person_code_hash, Contact.neighbourhood_id, func.min(Contact.occurred_at))
        .where(Contact.person_code_hash.is_not(None))
        .group_by(Contact.person_code_hash, Contact.neighbourhood_id)
        .having(func.count() >= 2).order_by(func.min(Contact.occurred_at))
    ).all()
    services = db.session.scalars(select(Organisation).where(Organisation.category.in_(
        ["aide_sociale", "logement_energie", "sante", "juridique"])).order_by(Organisation.id)
    ).all()
    handed_over = False
    for index, (code_hash, neighbourhood_id, first_seen) in enumerate(repeat_codes[:8]):
        origin = db.session.scalar(select(Contact).where(
            Contact.person_code_hash == code_hash, Contact.neighbourhood_id == neighbourhood_id,
            Contact.occurred_at == first_seen))
        opened = first_seen + timedelta(days=1)
        closed = index % 4 == 3
        bridge = Bridge(
            id=uuid.uuid4(), neighbourhood_id=neighbourhood_id, person_code_hash=code_hash,
            origin_contact=origin, lead_id=origin.author_id, created_by_id=origin.author_id,
            organisation=rng.choice(services), opened_at=opened, status="open",
            # every third one is late, to show what "overdue" looks like
            next_step_due=(now.date() - timedelta(days=rng.randint(2, 9)) if index % 3 == 0
                           else now.date() + timedelta(days=rng.randint(1, 12))),
        )
        db.session.add(bridge)
        day = opened.date()
        for _ in range(rng.randint(1, 3)):
            day = min(day + timedelta(days=rng.randint(3, 12)), now.date())
            step = BridgeStep(id=uuid.uuid4(), bridge=bridge, occurred_on=day,
                              kind=rng.choice(["rencontre", "appel", "accompagnement_physique",
                                               "demarche", "concertation"]),
                              author_id=origin.author_id)
            step.set_note(rng.choice(STEP_NOTES))
            db.session.add(step)
        colleagues = [u for u in team_candidates([neighbourhood_id])
                      if u.id != origin.author_id]
        if not handed_over and colleagues and not closed:
            handed_over = True
            with versions.tracked(bridge, via="handover"):
                bridge.handovers.append(BridgeHandover(from_id=origin.author_id,
                                                       to_id=colleagues[0].id,
                                                       by_id=origin.author_id, at=opened))
                bridge.lead = colleagues[0]
                bridge.lead_id = colleagues[0].id
        if closed:
            with versions.tracked(bridge, via="close"):
                bridge.status, bridge.outcome = "closed", "accroche_service"
                bridge.attached_organisation = bridge.organisation
                bridge.closed_at = datetime.combine(day, time(16), tzinfo=local_tz())
                bridge.next_step_due = None


REFERRAL_MESSAGES = [
    "Personne orientée pour une demande d'aide sociale, elle passera à la permanence.",
    "Rendez-vous pris ensemble par téléphone. Merci de nous dire si elle est venue.",
    "Question de préavis : a besoin d'un premier conseil juridique.",
    None,
]


def _demo_referrals(rng: random.Random, now: datetime) -> None:
    """Referrals from the contacts that answered "orientation", at every stage of their life;
    the CPAS of Schaerbeek (the demo partner) receives its share."""
    from .referrals.service import change_status

    organisations = db.session.scalars(select(Organisation).order_by(Organisation.id)).all()
    partner_org = next(o for o in organisations if o.name == "CPAS de Schaerbeek")
    contacts = [c for c in db.session.scalars(select(Contact).order_by(Contact.occurred_at))
                if "orientation" in c.codes("response")]
    partner = db.session.scalar(select(User).where(User.role == Role.PARTNER))
    for contact in contacts:
        organisation = partner_org if rng.random() < .35 else rng.choice(organisations)
        referral = Referral(
            id=uuid.uuid4(), contact=contact, contact_id=contact.id,
            neighbourhood_id=contact.neighbourhood_id, organisation=organisation,
            modality=rng.choice(["information", "appel", "rendez_vous",
                                 "accompagnement_physique", "mise_en_relation_ecrite"]),
            status="proposed", created_by_id=contact.author_id, created_at=contact.occurred_at,
            status_changed_at=contact.occurred_at,
        )
        referral.set_message(rng.choice(REFERRAL_MESSAGES))
        referral.history.append(ReferralEvent(status="proposed", by_id=contact.author_id,
                                              at=contact.occurred_at))
        db.session.add(referral)
        author = contact.author
        age = now - contact.occurred_at
        by_partner = organisation is partner_org
        if rng.random() < .85:
            change_status(referral, author, {"status": "sent"})
        if referral.status == "sent" and age > timedelta(days=3) and rng.random() < .8:
            change_status(referral, partner if by_partner else author, {"status": "received"})
        if referral.status != "proposed" and age > timedelta(days=10) and rng.random() < .75:
            outcome = rng.choices(["accroche", "pas_presentee", "service_sature",
                                   "hors_criteres", "refus_personne", "injoignable"],
                                  weights=[8, 3, 3, 1, 1, 1])[0]
            change_status(referral, partner if by_partner else author,
                          {"status": "closed", "outcome": outcome})
        _backdate(referral, contact.occurred_at, now)


def _backdate(referral, start: datetime, now: datetime) -> None:
    """Spread the demo history over the days after the contact instead of "now"."""
    for step, event in enumerate(referral.history):
        event.at = min(start + timedelta(days=2 * step, hours=step), now)
    referral.status_changed_at = referral.history[-1].at
    if referral.sent_at is not None:
        referral.sent_at = referral.history[1].at


def _contact(rng: random.Random, neighbourhood, outing, author, occurred_at, codes_pool):
    contact = Contact(
        id=uuid.uuid4(), neighbourhood=neighbourhood, outing=outing, author_id=author.id,
        occurred_at=occurred_at,
        place_type=rng.choices(["rue", "parc_place", "marche", "commerce", "locaux_partenaire",
                                "gare_metro", "domicile"], weights=[6, 3, 2, 2, 3, 1, 1])[0],
        initiative=rng.choices(["aller_vers", "demande_personne", "demande_service"],
                               weights=[6, 3, 1])[0],
        people_count=rng.choices([1, 2, 3, 4], weights=[12, 4, 1, 1])[0],
        age_band=rng.choices(["18_24", "25_34", "35_64", "65_plus", "inconnu"],
                             weights=[2, 4, 6, 3, 1])[0],
        gender=rng.choice(["femme", "homme", "femme", "homme", "inconnu"]),
    )
    contact.set_codes("theme", _weighted(rng, THEMES, 3))
    contact.set_codes("situation", _weighted(rng, SITUATIONS, 2) if rng.random() < .7 else [])
    contact.set_codes("response", _weighted(rng, RESPONSES, 3))
    contact.set_codes("language", rng.choices(
        [["fr"], ["fr", "ar"], ["ar"], ["ro"], ["nl"], ["es"], ["tr"], ["pt"]],
        weights=[10, 3, 2, 1, 1, 1, 1, 1])[0])
    if rng.random() < .3:
        contact.set_person_code(rng.choice(codes_pool))
    if rng.random() < .2:
        contact.set_note(rng.choice(NOTES))
    return contact
