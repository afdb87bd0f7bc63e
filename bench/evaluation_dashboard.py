"""Time the coordinator dashboard on the data of bench/evaluation_data.py.

Two cases, as a coordinator would open them: one neighbourhood for one year (the last full
calendar year) and all twenty neighbourhoods over the five years. Each is built `--runs`
times; the first (cold) run is reported apart, then the median and the worst of the others,
and each part of the dashboard is timed on its own so that a slow one shows.

Usage: python bench/evaluation_dashboard.py DATABASE_URL [--runs 5] [--label NAME]
Writes its section of docs/benchmarks.md (one per database label).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date, datetime
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app, crypto  # noqa: E402
from app.evaluation import dashboard, engine  # noqa: E402
from app.evaluation.engine import Period  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import Neighbourhood  # noqa: E402

TABLES = ("contact", "contact_term", "referral", "bridge", "outing", "collective_action")


def parts(neighbourhoods, period: Period, k: int) -> dict[str, float]:
    """Seconds spent in each part of dashboard.build()."""
    ids = [n.id for n in neighbourhoods]
    timings = {}

    def timed(name, work):
        started = time.perf_counter()
        work()
        timings[name] = time.perf_counter() - started

    indicators = dashboard.active_indicators()
    timed("indicators, period", lambda: engine.compute(indicators, ids, period))
    timed("indicators, year before",
          lambda: engine.compute(indicators, ids, period.year_before()))
    timed("people by month", lambda: engine.contacts_by_month(ids, period))
    timed("themes × month", lambda: dashboard.theme_month_table(ids, period, k))
    timed("situations × neighbourhood",
          lambda: dashboard.situation_neighbourhood_table(neighbourhoods, period, k))
    timed("outcomes × category", lambda: dashboard.outcome_category_table(ids, period, k))
    return timings


def measure(neighbourhoods, period: Period, runs: int) -> dict:
    totals = []
    for _ in range(runs):
        db.session.expire_all()
        started = time.perf_counter()
        dashboard.build(neighbourhoods, period)
        totals.append(time.perf_counter() - started)
    split = parts(neighbourhoods, period, dashboard.suppression_k())
    warm = totals[1:] or totals
    return {"cold": totals[0], "median": statistics.median(warm), "max": max(warm),
            "parts": split}


def section(label: str, counts: dict, cases: list[tuple[str, dict]], runs: int) -> str:
    start, end = f"<!-- dashboard:{label}:start -->", f"<!-- dashboard:{label}:end -->"
    rows = "\n".join(
        f"| {name} | {r['cold'] * 1000:.0f} ms | **{r['median'] * 1000:.0f} ms** | "
        f"{r['max'] * 1000:.0f} ms |" for name, r in cases)
    part_names = list(cases[0][1]["parts"])
    part_rows = "\n".join(
        f"| {p} | " + " | ".join(f"{r['parts'][p] * 1000:.0f} ms" for _, r in cases) + " |"
        for p in part_names)
    sizes = ", ".join(f"{t} {n:,}" for t, n in counts.items())
    return f"""{start}
## Dashboard on {label}

Measured by `bench/evaluation_dashboard.py` on {datetime.now():%Y-%m-%d} (2 cores); data from
`bench/evaluation_data.py`: {sizes} rows. Targets: one neighbourhood-year under 300 ms,
everything under 2 s.

| dashboard | cold | median of {max(runs - 1, 1)} | worst |
|---|---|---|---|
{rows}

Parts (one run each):

| part | {' | '.join(name for name, _ in cases)} |
|---|{'---|' * len(cases)}
{part_rows}
{end}"""


def write(text: str, label: str, path: Path) -> None:
    start, end = f"<!-- dashboard:{label}:start -->", f"<!-- dashboard:{label}:end -->"
    current = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if start in current and end in current:
        before, rest = current.split(start, 1)
        current = before + text + rest.split(end, 1)[1]
    else:
        current = current.rstrip() + "\n\n" + text + "\n"
    path.write_text(current, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--label")
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    app = create_app({"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": args.url,
                      "DATA_KEYS": crypto.new_key_ring().to_dict()})
    with app.app_context():
        label = args.label or {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[
            db.engine.dialect.name]
        counts = {t: db.session.scalar(sa.text(f"SELECT count(*) FROM {t}"))  # noqa: S608
                  for t in TABLES}
        neighbourhoods = list(db.session.scalars(
            sa.select(Neighbourhood).order_by(Neighbourhood.id)))
        last_year = date.today().year - 1
        cases = [
            ("1 neighbourhood × 1 year", measure(
                neighbourhoods[:1], Period(date(last_year, 1, 1), date(last_year, 12, 31)),
                args.runs)),
            ("20 neighbourhoods × 5 years", measure(
                neighbourhoods, Period(date(last_year - 4, 1, 1), date.today()), args.runs)),
        ]
    text = section(label, counts, cases, args.runs)
    write(text, label, Path(args.output))
    print(text)


if __name__ == "__main__":
    main()
