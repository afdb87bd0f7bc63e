"""Synthetic data at the scale of a whole region, for the dashboard benchmark.

1,000,000 contacts (with their themes, situations, responses and languages), 150,000
referrals, 20,000 bridges, outings and collective actions over 5 years and 20
neighbourhoods, written in bulk (COPY on PostgreSQL). The schema is built by the migrations
on an empty database; the reference data (vocabularies, directory, CLSS frame) are the app's.

Usage: python bench/evaluation_data.py DATABASE_URL [--scale 1.0]
  e.g. sqlite:////tmp/relais-bench.db or postgresql+psycopg://postgres@127.0.0.1:5432/bench
Never point it at a database you care about: it starts by emptying it.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app, crypto  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models.record_key import KEY_BITS, KEY_UNITS  # noqa: E402

YEARS = 5
NEIGHBOURHOODS = 20
THEMES = ["logement", "expulsion", "sante", "sante_mentale", "droits_sociaux", "sejour",
          "emploi_formation", "scolarite", "famille", "alimentation", "numerique", "juridique",
          "dettes_energie", "isolement", "violences", "assuetudes", "loisirs_culture"]
SITUATIONS = ["sans_abri", "risque_perte_logement", "mal_logement", "sans_titre_sejour",
              "primo_arrivant", "allophone", "senior_isole", "aidant_proche", "parent_solo",
              "jeune_decrochage", "etudiant", "souffrance_psychique", "assuetudes",
              "fracture_numerique", "locataire_social", "casier_judiciaire"]
RESPONSES = ["ecoute", "information", "orientation", "appel_avec_personne",
             "accompagnement_physique", "aide_demarche", "suivi_pont"]
LANGUAGES = ["fr", "nl", "en", "ar", "tr", "ro", "rom", "pl", "es", "pt", "bg", "autre"]
OUTCOMES = ["accroche", "pas_presentee", "service_sature", "hors_criteres", "refus_personne",
            "injoignable", "autre"]


def weighted(rng, items, k):
    weights = [len(items) - i for i in range(len(items))]  # skewed: first ones frequent
    return list(dict.fromkeys(rng.choices(items, weights=weights, k=k)))


def make_app(url: str):
    return create_app({"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url,
                       "DATA_KEYS": crypto.new_key_ring().to_dict()})


def empty_database(url: str) -> None:
    """A fresh file for SQLite; for PostgreSQL, the database is created if missing and its
    public schema emptied."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    target = sa.engine.make_url(url)
    server = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :name"),
                              {"name": target.database}).scalar()
        if not exists:
            conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    server.dispose()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


class Writer:
    """Bulk rows into a table: COPY on PostgreSQL, executemany elsewhere."""

    def __init__(self, connection, dialect: str):
        self.connection, self.dialect = connection, dialect

    def write(self, table: str, columns: list[str], rows: list[tuple]) -> None:
        if not rows:
            return
        if self.dialect == "postgresql":
            raw = self.connection.connection.driver_connection
            with raw.cursor() as cursor:
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            return
        marks = ", ".join("?" for _ in columns)
        self.connection.connection.driver_connection.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)  # noqa: S608


def u(value: uuid.UUID, dialect: str):
    return value if dialect == "postgresql" else value.hex


def ts(moment: datetime, dialect: str):
    naive = moment.astimezone(UTC).replace(tzinfo=None)
    return naive if dialect == "postgresql" else naive.isoformat(sep=" ")


def generate(url: str, scale: float, seed: int = 2026) -> None:
    rng = random.Random(seed)  # noqa: S311 (synthetic data, repeatable on purpose)
    started = time.monotonic()
    empty_database(url)
    app = make_app(url)
    with app.app_context():
        from flask_migrate import upgrade

        from app.loaders import load_directory, load_evaluation, load_vocabularies
        upgrade()
        load_vocabularies()
        load_directory()
        load_evaluation()
        dialect = db.engine.dialect.name
        with db.engine.begin() as conn:
            writer = Writer(conn, dialect)
            organisations = [r[0] for r in conn.execute(sa.text("SELECT id FROM organisation"))]
            writer.write("neighbourhood", ["id", "code", "name", "commune"], [
                (i, f"q{i:02d}", f"Quartier {i}", "Bruxelles") for i in range(1, 21)])
            users = []
            now = datetime.now(UTC)
            for n in range(1, NEIGHBOURHOODS + 1):
                for _ in range(3):
                    users.append((len(users) + 1, n))
            writer.write("user_account", ["id", "email", "display_name", "role", "password_hash",
                                          "active", "failed_logins", "created_at"], [
                (uid, f"w{uid}@bench.test", f"Worker {uid}", "field_worker", "x", True, 0,
                 ts(now, dialect)) for uid, _ in users])
            writer.write("membership", ["user_id", "neighbourhood_id"], users)
            workers = {n: [uid for uid, m in users if m == n] for n in range(1, 21)}
            print(f"reference data in {time.monotonic() - started:.1f}s", flush=True)

            start = now - timedelta(days=365 * YEARS)
            span = (now - start).total_seconds()
            n_contacts = int(1_000_000 * scale)
            people_pool = [uuid.UUID(int=rng.getrandbits(128)).hex * 2
                           for _ in range(max(n_contacts // 8, 10))]
            outings, contacts, terms = [], [], []
            contact_meta = []  # (id, neighbourhood, moment, author, hash)
            batch = 50_000
            made = 0
            while made < n_contacts:
                n = rng.randint(1, NEIGHBOURHOODS)
                day = start + timedelta(seconds=rng.random() * span)
                day = day.replace(hour=rng.choice([8, 9, 12, 13]), minute=0)
                outing_id = uuid.UUID(int=rng.getrandbits(128))
                author = rng.choice(workers[n])
                outings.append((u(outing_id, dialect), n, rng.choice(
                    ["maraude", "presence_quartier", "permanence", "stand"]),
                    ts(day, dialect), ts(day + timedelta(hours=rng.choice([2, 3])), dialect),
                    author, ts(day, dialect), ts(day, dialect)))
                for _ in range(min(rng.randint(2, 8), n_contacts - made)):
                    cid = uuid.UUID(int=rng.getrandbits(128))
                    moment = day + timedelta(minutes=rng.randint(1, 110))
                    code = rng.choice(people_pool) if rng.random() < .3 else None
                    contacts.append((
                        u(cid, dialect), n, u(outing_id, dialect), author, ts(moment, dialect),
                        rng.choice(["rue", "parc_place", "marche", "commerce", "gare_metro",
                                    "locaux_partenaire", "domicile"]),
                        rng.choice(["aller_vers", "aller_vers", "demande_personne",
                                    "demande_service"]),
                        rng.choices([1, 2, 3, 4], weights=[12, 4, 1, 1])[0],
                        rng.choice(["15_17", "18_24", "25_34", "35_64", "35_64", "65_plus"]),
                        rng.choice(["femme", "homme", "x", "inconnu"]), code,
                        ts(moment, dialect), ts(moment, dialect), key(rng)))
                    for vocabulary, values, k in (("theme", THEMES, rng.randint(1, 3)),
                                                  ("situation", SITUATIONS, rng.randint(0, 2)),
                                                  ("response", RESPONSES, rng.randint(1, 3)),
                                                  ("language", LANGUAGES, rng.randint(1, 2))):
                        for value in (weighted(rng, values, k) if k else []):
                            terms.append((u(cid, dialect), vocabulary, value))
                    contact_meta.append((cid, n, moment, author, code))
                    made += 1
                if len(contacts) >= batch:
                    flush(writer, outings, contacts, terms)
                    print(f"  {made:,} contacts ({time.monotonic() - started:.0f}s)", flush=True)
            flush(writer, outings, contacts, terms)

            referrals = []
            for cid, n, moment, author, _ in rng.sample(contact_meta, int(150_000 * scale)):
                rid = uuid.UUID(int=rng.getrandbits(128))
                created = moment + timedelta(minutes=5)
                closed = rng.random() < .75
                status = "closed" if closed else rng.choice(["proposed", "sent", "received"])
                referrals.append((u(rid, dialect), u(cid, dialect), n, rng.choice(organisations),
                                  rng.choice(["information", "appel", "rendez_vous"]), status,
                                  rng.choices(OUTCOMES, weights=[8, 3, 3, 1, 1, 1, 1])[0]
                                  if closed else None, author, ts(created, dialect),
                                  ts(created, dialect) if status != "proposed" else None,
                                  ts(created, dialect), ts(created, dialect), key(rng)))
            writer.write("referral", ["id", "contact_id", "neighbourhood_id", "organisation_id",
                                      "modality", "status", "outcome", "created_by_id",
                                      "created_at", "sent_at", "status_changed_at",
                                      "updated_at", "record_key"], referrals)
            print(f"{len(referrals):,} referrals ({time.monotonic() - started:.0f}s)", flush=True)

            coded = [m for m in contact_meta if m[4]]
            bridges = []
            for cid, n, moment, author, code in rng.sample(coded, int(20_000 * scale)):
                opened = moment + timedelta(days=1)
                closed = rng.random() < .7 and opened + timedelta(days=30) < now
                outcome = rng.choice(["accroche_service", "accroche_service", "perdu_de_vue",
                                      "plus_necessaire"]) if closed else None
                bridges.append((u(uuid.UUID(int=rng.getrandbits(128)), dialect), n, code,
                                u(cid, dialect), author, rng.choice(organisations),
                                "closed" if closed else "open", outcome,
                                rng.choice(organisations) if outcome == "accroche_service"
                                else None, ts(opened, dialect),
                                ts(opened + timedelta(days=rng.randint(10, 120)), dialect)
                                if closed else None, author, ts(opened, dialect), key(rng)))
            writer.write("bridge", ["id", "neighbourhood_id", "person_code_hash",
                                    "origin_contact_id", "lead_id", "organisation_id",
                                    "status", "outcome", "attached_organisation_id",
                                    "opened_at", "closed_at", "created_by_id", "updated_at",
                                    "record_key"],
                         bridges)
            actions, action_terms = [], []
            for _ in range(int(20_000 * scale)):
                aid = uuid.UUID(int=rng.getrandbits(128))
                n = rng.randint(1, NEIGHBOURHOODS)
                day = (start + timedelta(seconds=rng.random() * span)).date()
                actions.append((u(aid, dialect), n, rng.choice(["maillage", "info_sante",
                                                                "communautaire"]),
                                day if dialect == "postgresql" else day.isoformat(),
                                rng.randint(0, 60), rng.choice(workers[n]), ts(now, dialect),
                                ts(now, dialect), key(rng)))
                action_terms.append((u(aid, dialect), "theme", rng.choice(THEMES)))
            writer.write("collective_action", ["id", "neighbourhood_id", "mission",
                                               "occurred_on", "participants", "created_by_id",
                                               "created_at", "updated_at", "record_key"],
                         actions)
            writer.write("collective_action_term", ["action_id", "vocabulary", "code"],
                         action_terms)
        # Statistics (and, on PostgreSQL, the visibility map of index-only scans), as a
        # database in service has them.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE" if dialect == "postgresql" else "ANALYZE"))
    print(f"done in {time.monotonic() - started:.0f}s", flush=True)


def key(rng) -> float:
    """A record key as the app draws it (a multiple of 2⁻³² in [0, 1)), from the seeded
    generator so that the data set is the same every time."""
    return rng.getrandbits(KEY_BITS) / KEY_UNITS


def flush(writer, outings, contacts, terms) -> None:
    writer.write("outing", ["id", "neighbourhood_id", "kind", "started_at", "ended_at",
                            "created_by_id", "created_at", "updated_at"], outings)
    writer.write("contact", ["id", "neighbourhood_id", "outing_id", "author_id", "occurred_at",
                             "place_type", "initiative", "people_count", "age_band", "gender",
                             "person_code_hash", "created_at", "updated_at", "record_key"],
                 contacts)
    writer.write("contact_term", ["contact_id", "vocabulary", "code"], terms)
    outings.clear()
    contacts.clear()
    terms.clear()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--scale", type=float, default=1.0)
    arguments = parser.parse_args()
    generate(arguments.url, arguments.scale)
