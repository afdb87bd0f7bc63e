"""Time the coordinator dashboard on the data of bench/evaluation_data.py.

Two cases, as a coordinator would open them: one neighbourhood for one year (the last full
calendar year) and all twenty neighbourhoods over the five years up to today. Each is timed
with the monthly blocks of app/evaluation/blocks.py kept, after a day's writes, and at the
first opening (no block kept), and each part of the dashboard is timed on its own so that a
slow one shows.

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

from report import write_section  # noqa: E402  (bench/ is the script's folder)

from app import create_app, crypto  # noqa: E402
from app.evaluation import blocks, dashboard, engine  # noqa: E402
from app.evaluation.engine import Period  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import FigureBlock, Neighbourhood  # noqa: E402

TABLES = ("contact", "contact_term", "referral", "bridge", "outing", "collective_action")


def parts(neighbourhoods, period: Period, runs: int) -> dict[str, float]:
    """Seconds spent in each part of dashboard.build() (blocks kept), median of `runs`."""
    ids = [n.id for n in neighbourhoods]
    indicators = dashboard.active_indicators()
    live = [i for i in indicators if i.measure in engine.NON_ADDITIVE]
    timings = {}

    def timed(name, work):
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            work()
            times.append(time.perf_counter() - started)
        timings[name] = statistics.median(times)

    timed("figures of the period", lambda: blocks.totals(indicators, ids, period))
    timed("figures of the year before",
          lambda: blocks.totals(indicators, ids, period.year_before()))
    timed("of which distinct services and persons (live)",
          lambda: engine.compute(live, ids, period))
    timed("whole dashboard", lambda: dashboard.build(neighbourhoods, period))
    return timings


def _build_times(neighbourhoods, period: Period, runs: int) -> list[float]:
    totals = []
    for _ in range(runs):
        db.session.expire_all()
        started = time.perf_counter()
        dashboard.build(neighbourhoods, period)
        totals.append(time.perf_counter() - started)
    return totals


def _touch_last_month(neighbourhoods, period: Period) -> None:
    """What a working day does to the blocks: records written or changed in the last month
    of the period, in every neighbourhood of the scope, make those blocks outdated."""
    month = period.end.strftime("%Y-%m")
    for nid in (n.id for n in neighbourhoods):
        db.session.execute(sa.update(FigureBlock).where(
            FigureBlock.neighbourhood_id == nid, FigureBlock.month == month)
            .values(generation=FigureBlock.generation + 1))
    db.session.commit()


def measure(neighbourhoods, period: Period, runs: int) -> dict:
    db.session.execute(sa.delete(FigureBlock))  # as after a bulk load: nothing kept yet
    db.session.commit()
    first = _build_times(neighbourhoods, period, 1)[0]
    kept = _build_times(neighbourhoods, period, runs)
    touched = []
    for _ in range(max(runs // 2, 1)):
        _touch_last_month(neighbourhoods, period)
        touched += _build_times(neighbourhoods, period, 1)
    return {"first": first, "median": statistics.median(kept), "max": max(kept),
            "touched": statistics.median(touched), "parts": parts(neighbourhoods, period, runs)}


def markers(label: str) -> tuple[str, str]:
    return f"<!-- dashboard:{label}:start -->", f"<!-- dashboard:{label}:end -->"


def section(label: str, counts: dict, cases: list[tuple[str, dict]], runs: int) -> str:
    start, end = markers(label)
    rows = "\n".join(
        f"| {name} | **{r['median'] * 1000:.0f} ms** (worst {r['max'] * 1000:.0f} ms) | "
        f"{r['touched'] * 1000:.0f} ms | {r['first'] * 1000:.0f} ms |" for name, r in cases)
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

Times are for the whole dashboard (every indicator for the period and the year before, the
people per month, the three cross-tables, suppression), median of {runs} runs:
- *blocks kept*: as it is used, the monthly blocks being up to date;
- *after a day's writes*: the block of the period's last month outdated in every
  neighbourhood by records written there, so recomputed first;
- *first opening*: no block kept yet, as after a bulk load or a change of indicators.

| dashboard | blocks kept | after a day's writes | first opening |
|---|---|---|---|
{rows}

Parts with blocks kept (median of {runs} runs each):

| part | {' | '.join(name for name, _ in cases)} |
|---|{'---|' * len(cases)}
{part_rows}
{end}"""


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
        from flask_migrate import upgrade

        upgrade()  # a database generated before the last migration
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
    write_section(text, *markers(label), Path(args.output))
    print(text)


if __name__ == "__main__":
    main()
