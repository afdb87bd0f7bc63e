"""Loading reference data from CSV: vocabularies and the directory of services.

Both loaders check every row before writing: rows that fail are skipped and reported with
their line and reason, the accepted rows are written in one transaction, so an import is
never left half-done.
"""

from __future__ import annotations

import csv
import io
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from sqlalchemy import select

from . import versions
from .extensions import db
from .models import Organisation, Term

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_VOCABULARIES = DATA_DIR / "vocabularies.csv"
DEFAULT_DIRECTORY = DATA_DIR / "directory-brussels-demo.csv"
CODE_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_")


@dataclass
class LoadReport:
    created: int = 0
    updated: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.rejected

    def summary(self) -> str:
        lines = [f"{self.created} created, {self.updated} updated, {len(self.rejected)} rejected"]
        lines += [f"  line {line}: {reason}" for line, reason in self.rejected]
        return "\n".join(lines)


class UnusableFile(ValueError):
    """The whole file cannot be read as the expected CSV: nothing is imported."""


@contextmanager
def _text(source: Path | IO[bytes]):
    """A CSV file from a path (command line) or an uploaded byte stream (admin page)."""
    if isinstance(source, Path | str):
        with open(source, newline="", encoding="utf-8-sig") as fh:
            yield fh
    else:
        yield io.TextIOWrapper(source, encoding="utf-8-sig", newline="")


def _rows(source, required: set[str]):
    with _text(source) as fh:
        try:
            reader = csv.DictReader(fh)
            fieldnames = reader.fieldnames or []
            rows = list(enumerate(reader, start=2))
        except (UnicodeDecodeError, csv.Error) as exc:
            raise UnusableFile(f"not a UTF-8 CSV file ({exc.__class__.__name__})") from exc
    missing = required - set(fieldnames)
    if missing:
        raise UnusableFile(f"missing columns: {', '.join(sorted(missing))}")
    for line, row in rows:
        # DictReader marks a short row with None values and a long one with a None key.
        malformed = None in row or None in row.values()
        yield line, malformed, {k: v.strip() for k, v in row.items()
                                if k is not None and isinstance(v, str)}


def load_vocabularies(path: Path = DEFAULT_VOCABULARIES) -> LoadReport:
    report = LoadReport()
    existing = {(t.vocabulary, t.code): t for t in db.session.scalars(select(Term))}
    positions: dict[str, int] = {}
    for (vocabulary, _code), term in existing.items():
        positions[vocabulary] = max(positions.get(vocabulary, 0), term.position)
    seen: set[tuple[str, str]] = set()
    accepted = []
    for line, malformed, row in _rows(path, {"vocabulary", "code", "label_fr"}):
        key = (row.get("vocabulary", ""), row.get("code", ""))
        if malformed:
            report.rejected.append((line, "wrong number of columns"))
        elif not row["vocabulary"] or not row["code"] or not row["label_fr"]:
            report.rejected.append((line, "vocabulary, code and label_fr are required"))
        elif not set(row["code"]) <= CODE_CHARS or not set(row["vocabulary"]) <= CODE_CHARS:
            report.rejected.append((line, "codes use lower-case letters, digits and _ only"))
        elif key in seen:
            report.rejected.append((line, f"duplicate code {row['code']!r}"))
        else:
            seen.add(key)
            accepted.append(row)
    for row in accepted:
        key = (row["vocabulary"], row["code"])
        term = existing.get(key)
        if term is None:
            positions[row["vocabulary"]] = positions.get(row["vocabulary"], 0) + 1
            term = Term(vocabulary=row["vocabulary"], code=row["code"],
                        position=positions[row["vocabulary"]], active=True)
            db.session.add(term)
            report.created += 1
        else:
            report.updated += 1
        term.label_fr = row["label_fr"]
        term.label_nl = row.get("label_nl") or None
        term.label_en = row.get("label_en") or None
    db.session.commit()
    return report


def load_directory(path: Path | IO[bytes] = DEFAULT_DIRECTORY) -> LoadReport:
    report = LoadReport()
    categories = set(db.session.scalars(
        select(Term.code).where(Term.vocabulary == "org_category")
    ))
    existing = {o.name.casefold(): o for o in db.session.scalars(select(Organisation))}
    seen: set[str] = set()
    accepted = []
    for line, malformed, row in _rows(path, {"name", "category", "commune"}):
        name = row.get("name", "")
        if malformed:
            report.rejected.append((line, "wrong number of columns"))
        elif not name:
            report.rejected.append((line, "name is required"))
        elif len(name) > 200:
            report.rejected.append((line, "name is longer than 200 characters"))
        elif row["category"] and row["category"] not in categories:
            report.rejected.append((line, f"unknown category {row['category']!r}"))
        elif name.casefold() in seen:
            report.rejected.append((line, f"duplicate name {name!r}"))
        else:
            seen.add(name.casefold())
            accepted.append(row)
    for row in accepted:
        org = existing.get(row["name"].casefold())
        if org is None:
            org = Organisation(name=row["name"], active=True)
            db.session.add(org)
            report.created += 1
        else:
            report.updated += 1
        with versions.tracked(org, via="import"):
            org.category = row["category"] or None
            org.commune = row["commune"] or None
            org.description = row.get("note") or None
            for optional in ("phone", "email", "website"):
                if row.get(optional):
                    setattr(org, optional, row[optional])
    db.session.commit()
    return report


DEFAULT_OBJECTIVES = DATA_DIR / "clss-objectives.csv"
DEFAULT_INDICATORS = DATA_DIR / "clss-indicators.csv"


def load_objectives(path: Path | IO[bytes] = DEFAULT_OBJECTIVES) -> LoadReport:
    """plan,code,parent,level,title_fr,target[,title_nl,title_en] — created or updated by
    (plan, code). The Dutch and English columns are optional: a CSV without them still loads,
    and leaves the translations already in the database as they are."""
    from .models import Objective

    report = LoadReport()
    existing = {(o.plan, o.code): o for o in db.session.scalars(select(Objective))}
    seen: set[tuple[str, str]] = set()
    for position, (line, malformed, row) in enumerate(
            _rows(path, {"plan", "code", "level", "title_fr"}), start=1):
        key = (row.get("plan", ""), row.get("code", ""))
        target = row.get("target", "")
        if malformed:
            report.rejected.append((line, "wrong number of columns"))
        elif not all(key) or not row["title_fr"] or not row["level"]:
            report.rejected.append((line, "plan, code, level and title_fr are required"))
        elif target and not target.isdigit():
            report.rejected.append((line, f"target {target!r} is not a whole number"))
        elif key in seen:
            report.rejected.append((line, f"duplicate objective {key[1]!r}"))
        else:
            seen.add(key)
            objective = existing.get(key)
            if objective is None:
                objective = Objective(plan=key[0], code=key[1])
                db.session.add(objective)
                report.created += 1
            else:
                report.updated += 1
            with versions.tracked(objective, via="import"):
                objective.parent_code = row.get("parent") or None
                objective.level = row["level"]
                objective.title_fr = row["title_fr"]
                for name in ("title_nl", "title_en"):
                    if name in row:
                        setattr(objective, name, row[name].strip() or None)
                objective.target = int(target) if target else None
                objective.position = position
    db.session.commit()
    return report


def load_indicators(path: Path | IO[bytes] = DEFAULT_INDICATORS) -> LoadReport:
    """plan,objective,code,label_fr,record,measure,filter[,label_nl,label_en] — each filter is
    checked against the vocabularies; an indicator of an unknown objective is refused. The
    Dutch and English columns are optional, as for objectives."""
    from .evaluation.filters import FilterError, validate
    from .models import Indicator, Objective

    report = LoadReport()
    objectives = {(o.plan, o.code): o for o in db.session.scalars(select(Objective))}
    existing = {i.code: i for i in db.session.scalars(select(Indicator))}
    seen: set[str] = set()
    for position, (line, malformed, row) in enumerate(
            _rows(path, {"plan", "objective", "code", "label_fr", "record", "measure"}),
            start=1):
        if malformed:
            report.rejected.append((line, "wrong number of columns"))
            continue
        objective = objectives.get((row["plan"], row["objective"]))
        if objective is None:
            report.rejected.append((line, f"unknown objective {row['plan']} {row['objective']}"))
            continue
        if not row["code"] or not row["label_fr"] or row["code"] in seen:
            report.rejected.append((line, "code and label_fr are required, codes are unique"))
            continue
        try:
            validate(row["record"], row["measure"], row.get("filter", ""))
        except FilterError as exc:
            report.rejected.append((line, str(exc)))
            continue
        seen.add(row["code"])
        indicator = existing.get(row["code"])
        if indicator is None:
            indicator = Indicator(code=row["code"], active=True)
            db.session.add(indicator)
            report.created += 1
        else:
            report.updated += 1
        with versions.tracked(indicator, via="import"):
            indicator.objective = objective
            indicator.objective_id = objective.id
            indicator.label_fr = row["label_fr"]
            for name in ("label_nl", "label_en"):
                if name in row:
                    setattr(indicator, name, row[name].strip() or None)
            indicator.record, indicator.measure = row["record"], row["measure"]
            indicator.filter = row.get("filter", "")
            indicator.position = position
    db.session.commit()
    return report


def load_evaluation() -> tuple[LoadReport, LoadReport]:
    """The default CLSS frame: objectives, then their indicators."""
    return load_objectives(), load_indicators()
