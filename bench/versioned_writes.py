"""What versions and merges cost a write: the API's PUT of a contact, timed case by case.

A phone sends its queue one PUT at a time, often on a slow network: the server side of each
write must stay small beside the network. Every case is a real request through the app (test
client, signed in as a field worker), median and 95th percentile of `--runs` requests:

* a creation (`If-None-Match: *`) and its identical resend (a retried upload);
* an edit of the current version (`If-Match: "<v>"`);
* a stale edit merged with a colleague's change of another field (three-way merge, a second
  round against the current version);
* a stale edit of the same field (409: nothing written, both versions shown);
* an edit of a contact that already has 200 versions (the base is found by its index).

Usage: python bench/versioned_writes.py [DATABASE_URL] [--runs 200] [--label NAME]
Without a URL, a temporary SQLite database. Writes its section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import itertools
import re
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from report import write_section  # noqa: E402  (bench/ is the script's folder)

from app import create_app, crypto  # noqa: E402
from app.cli import create_user  # noqa: E402
from app.extensions import db  # noqa: E402
from app.loaders import load_vocabularies  # noqa: E402
from app.models import Neighbourhood  # noqa: E402

PASSWORD = "benchmark password"  # noqa: S105  (a throw-away account)
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
TARGET_MS = 50


def _reset(url: str) -> None:
    if url.startswith("postgresql"):
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
        engine.dispose()


def _app(url: str, workdir: Path):
    keys = workdir / "keys.json"
    crypto.write_key_file(keys, crypto.new_key_ring())
    app = create_app({"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url,
                      "DATA_KEYS_FILE": str(keys), "SESSION_COOKIE_SECURE": False,
                      "LOGIN_RATE_LIMIT": "100000 per minute"})
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()
        load_vocabularies()
        db.session.add(Neighbourhood(code="colignon", name="Colignon", commune="Schaerbeek"))
        db.session.commit()
        create_user("a@bench.be", "field_worker", PASSWORD, neighbourhoods=["colignon"])
        create_user("b@bench.be", "field_worker", PASSWORD, neighbourhoods=["colignon"])
    return app


class Client:
    def __init__(self, app, email: str):
        self.http = app.test_client()
        page = self.http.get("/login").text
        self.http.post("/login", data={"email": email, "password": PASSWORD,
                                       "csrf_token": CSRF.search(page).group(1)})
        self.token = self.http.get("/api/v1/me").get_json()["csrf_token"]

    def put(self, record_id: str, body: dict, **headers):
        headers = {"X-CSRFToken": self.token, **headers}
        return self.http.put(f"/api/v1/contacts/{record_id}", json=body, headers=headers)


def contact(**changes) -> dict:
    body = {"neighbourhood": "colignon", "people_count": 2, "place_type": "rue",
            "initiative": "aller_vers", "age_band": "25_34", "gender": "femme",
            "occurred_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
            "languages": ["fr"], "situations": ["risque_perte_logement"],
            "themes": ["logement"], "responses": ["ecoute"], "note": "Revoir mardi",
            "person_code": "AB12"}
    return {**body, **changes}


def timed(cases: dict, name: str, send, expected: int, runs: int, prepare=None) -> None:
    times = []
    for _ in range(runs):
        state = prepare() if prepare else None
        started = time.perf_counter()
        response = send(state)
        times.append(time.perf_counter() - started)
        assert response.status_code == expected, (name, response.status_code,
                                                  response.get_json())
    times.sort()
    cases[name] = (statistics.median(times), times[int(len(times) * .95) - 1])


def run(url: str, runs: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        _reset(url)
        app = _app(url, Path(tmp))
        a, b = Client(app, "a@bench.be"), Client(app, "b@bench.be")
        cases: dict = {}

        def created():
            record_id, body = str(uuid.uuid4()), contact()
            a.put(record_id, body, **{"If-None-Match": "*"})
            return record_id, body

        timed(cases, "creation (If-None-Match: *)",
              lambda _: a.put(str(uuid.uuid4()), contact(), **{"If-None-Match": "*"}), 201, runs)
        timed(cases, "identical resend (If-None-Match: *)",
              lambda s: a.put(s[0], s[1], **{"If-None-Match": "*"}), 200, runs, created)
        timed(cases, "edit of the current version (If-Match)",
              lambda s: a.put(s[0], {**s[1], "people_count": 3}, **{"If-Match": '"1"'}),
              200, runs, created)

        def colleague_changed():
            record_id, body = created()
            b.put(record_id, {**body, "people_count": 5}, **{"If-Match": '"1"'})
            return record_id, body

        timed(cases, "stale edit, other field: merged",
              lambda s: a.put(s[0], {**s[1], "themes": ["sante"]}, **{"If-Match": '"1"'}),
              200, runs, colleague_changed)
        timed(cases, "stale edit, same field: 409",
              lambda s: a.put(s[0], {**s[1], "people_count": 3}, **{"If-Match": '"1"'}),
              409, runs, colleague_changed)

        deep_id, body = created()
        for version in range(1, 201):
            a.put(deep_id, {**body, "people_count": 2 + version % 2},
                  **{"If-Match": f'"{version}"'})
        turns = itertools.count()

        def colleague_changed_deep():
            """B changes the number of people; A's edit is then one version behind."""
            seen = b.http.get(f"/api/v1/contacts/{deep_id}").get_json()["version"]
            turn = next(turns)
            b.put(deep_id, {**body, "people_count": 2 + turn % 2, "note": f"note {turn}"},
                  **{"If-Match": f'"{seen}"'})
            return seen, turn

        timed(cases, "stale edit of a contact with 200 versions: merged",
              lambda s: a.put(deep_id, {**body, "note": f"note {s[1]}",
                                        "themes": [["sante"], ["logement"]][s[1] % 2]},
                              **{"If-Match": f'"{s[0]}"'}), 200, runs, colleague_changed_deep)
        with app.app_context():
            db.engine.dispose()
        return cases


def section(label: str, cases: dict, runs: int) -> str:
    rows = "\n".join(f"| {name} | {median * 1000:.1f} ms | {p95 * 1000:.1f} ms |"
                     for name, (median, p95) in cases.items())
    worst = max(median for median, _ in cases.values()) * 1000
    verdict = "within" if worst < TARGET_MS else "OVER"
    slug = label.lower()
    return (f"<!-- versioned-writes-{slug}:start -->\n"
            f"## Versioned writes ({label})\n\n"
            f"Measured by `bench/versioned_writes.py` on {datetime.now(UTC):%Y-%m-%d} "
            f"(2 cores): one contact `PUT` through the app, signed in, {runs} requests per "
            f"case. Slowest median **{worst:.1f} ms**, {verdict} the target of "
            f"{TARGET_MS} ms per write.\n\n"
            "| case | median | 95th percentile |\n|---|---|---|\n"
            f"{rows}\n"
            f"<!-- versioned-writes-{slug}:end -->")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--label")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{tmp}/bench.db"
        label = args.label or ("PostgreSQL" if url.startswith("postgresql") else "SQLite")
        cases = run(url, args.runs)
    for name, (median, p95) in cases.items():
        print(f"{name:55} {median * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms")
    text = section(label, cases, args.runs)
    slug = label.lower()
    write_section(text, f"<!-- versioned-writes-{slug}:start -->",
                  f"<!-- versioned-writes-{slug}:end -->", ROOT / "docs" / "benchmarks.md")


if __name__ == "__main__":
    main()
