"""Indicators computed by SQL aggregation, for any set of neighbourhoods and any period.

Every indicator of one record type is computed in a single scan (conditional aggregation:
one SUM(CASE …) per indicator), so the whole dashboard costs a handful of queries whatever
the number of indicators. Nothing is ever loaded row by row into Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import BigInteger, and_, case, cast, exists, func, literal, select, true
from sqlalchemy.sql import ColumnElement

from ..extensions import db
from ..models import (
    Bridge,
    CollectiveAction,
    CollectiveActionTerm,
    Contact,
    ContactTerm,
    Organisation,
    Outing,
    Referral,
)
from ..models.record_key import KEY_UNITS
from .filters import CONTACT_FIELDS, CONTACT_MULTI, parse
from .perturbation import Tally

SINGLE_COLUMNS = {
    "contact": {f: getattr(Contact, f) for f in CONTACT_FIELDS if f not in CONTACT_MULTI},
}


@dataclass(frozen=True)
class Period:
    """Calendar days from `start` to `end` included, in the local time of the field work."""

    start: date
    end: date

    def bounds(self) -> tuple[datetime, datetime]:
        tz = ZoneInfo(current_app.config["LOCAL_TIMEZONE"])
        return (datetime.combine(self.start, time.min, tzinfo=tz),
                datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=tz))

    def year_before(self) -> Period:
        return Period(_minus_year(self.start), _minus_year(self.end))

    def months(self) -> list[Period]:
        months, first = [], self.start.replace(day=1)
        while first <= self.end:
            following = (first + timedelta(days=32)).replace(day=1)
            months.append(Period(max(first, self.start),
                                 min(following - timedelta(days=1), self.end)))
            first = following
        return months


def _minus_year(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


# -- conditions ---------------------------------------------------------------------------------
# Above this many neighbourhood-days, a term filter reads the term table once (a set of
# matching contacts) rather than probing it for every contact of the scope.
LARGE_SCOPE = 4 * 366


def _contact_clause(field: str, values: list[str], large: bool) -> ColumnElement:
    if field not in CONTACT_MULTI:
        return getattr(Contact, field).in_(values)
    if large:
        # Uncorrelated: the database builds the set of matching contacts once (a hashed
        # subplan on PostgreSQL, an ephemeral index on SQLite).
        return Contact.id.in_(select(ContactTerm.contact_id).where(
            ContactTerm.vocabulary == field, ContactTerm.code.in_(values)))
    # Correlated: a few index probes per contact of a small scope (primary key of
    # contact_term starts with contact_id).
    return exists().where(ContactTerm.contact_id == Contact.id,
                          ContactTerm.vocabulary == field, ContactTerm.code.in_(values))


def _clause(record: str, field: str, values: list[str], large: bool) -> ColumnElement:
    if field in CONTACT_FIELDS and record in ("contact", "referral", "bridge"):
        return _contact_clause(field, values, large)
    if record == "referral":
        if field == "org_category":
            return Organisation.category.in_(values)
        return getattr(Referral, field).in_(values)
    if record == "bridge":
        if field == "org_category":
            return Organisation.category.in_(values)
        return getattr(Bridge, field).in_(values)
    if record == "outing":
        return Outing.kind.in_(values)
    if record == "collective_action":
        if field == "theme":
            return CollectiveAction.id.in_(select(CollectiveActionTerm.action_id).where(
                CollectiveActionTerm.vocabulary == "theme",
                CollectiveActionTerm.code.in_(values)))
        return CollectiveAction.mission.in_(values)
    raise ValueError(f"no field {field} on {record}")


def condition(record: str, filter_text: str | None, large: bool = False) -> ColumnElement:
    clauses = [_clause(record, field, values, large) for field, values in parse(filter_text)]
    return and_(true(), *clauses) if clauses else true()


# -- the scan of one record type -----------------------------------------------------------------
CONTACT, SERVICE = "contact", "service"


def _joins(indicators) -> set[str]:
    """What a referral or bridge scan must join for these filters: its origin contact (for a
    contact field) and its service (for `org_category`). Every other join is left out: each
    costs a lookup per record."""
    fields = {field for indicator in indicators for field, _ in parse(indicator.filter)}
    return ({CONTACT} if fields & set(CONTACT_FIELDS) else set()) | \
        ({SERVICE} if "org_category" in fields else set())


def _scope(record: str, neighbourhood_ids, period: Period, *, closing: bool = False,
           joins: set[str] = frozenset()):
    """FROM, joins and WHERE for one record type in the neighbourhoods and the period."""
    ids = list(neighbourhood_ids)
    start, end = period.bounds()
    if record == "contact":
        return select().select_from(Contact).where(
            Contact.neighbourhood_id.in_(ids), Contact.occurred_at >= start,
            Contact.occurred_at < end)
    if record == "referral":
        stmt = select().select_from(Referral)
        if CONTACT in joins:
            stmt = stmt.join(Contact, Referral.contact_id == Contact.id)
        if SERVICE in joins:
            stmt = stmt.join(Organisation, Referral.organisation_id == Organisation.id)
        return stmt.where(Referral.neighbourhood_id.in_(ids), Referral.created_at >= start,
                          Referral.created_at < end)
    if record == "bridge":
        # Counting closings (an outcome) dates them by their closing, else by their opening.
        moment = Bridge.closed_at if closing else Bridge.opened_at
        stmt = select().select_from(Bridge)
        if CONTACT in joins:
            stmt = stmt.join(Contact, Bridge.origin_contact_id == Contact.id)
        if SERVICE in joins:
            stmt = stmt.outerjoin(Organisation, Bridge.organisation_id == Organisation.id)
        return stmt.where(Bridge.neighbourhood_id.in_(ids), moment >= start, moment < end)
    if record == "outing":
        return select().select_from(Outing).where(
            Outing.neighbourhood_id.in_(ids), Outing.started_at >= start,
            Outing.started_at < end)
    if record == "collective_action":
        return select().select_from(CollectiveAction).where(
            CollectiveAction.neighbourhood_id.in_(ids),
            CollectiveAction.occurred_on >= period.start,
            CollectiveAction.occurred_on <= period.end)
    raise ValueError(record)


def _hours(dialect: str) -> ColumnElement:
    if dialect == "postgresql":
        return func.extract("epoch", Outing.ended_at - Outing.started_at) / 3600.0
    return (func.julianday(Outing.ended_at) - func.julianday(Outing.started_at)) * 24.0


def _sum_if(cond, value) -> ColumnElement:
    return func.coalesce(func.sum(case((cond, value), else_=0)), 0)


# -- record keys (app.evaluation.perturbation) ------------------------------------------------
# The records whose figures are perturbed when they leave the team, with their key column.
# Outings are the team's own hours and rounds, about nobody: they carry no key.
KEYED = {"contact": Contact, "referral": Referral, "bridge": Bridge,
         "collective_action": CollectiveAction}
KEYED_MEASURES = frozenset({"count", "people", "participants", "rate_taken_up",
                            "distinct_persons_repeat"})


def is_keyed(record: str, measure: str) -> bool:
    """Whether an indicator's figure is a Tally (a count with its records' keys)."""
    return record in KEYED and measure in KEYED_MEASURES


def key_units(model) -> ColumnElement:
    """The record key as an integer number of 2⁻³² (exact: the key is such a multiple)."""
    return cast(model.record_key * KEY_UNITS, BigInteger)


def _tally_columns(record: str, cond, weight) -> list[ColumnElement]:
    """The weighted count and, for a keyed record, the sum of weight × key."""
    model = KEYED.get(record)
    if model is None:
        return [_sum_if(cond, weight)]
    return [_sum_if(cond, weight), _sum_if(cond, key_units(model) * weight)]


def _columns(record: str, measure: str, cond, dialect: str) -> list[ColumnElement]:
    if measure == "count":
        return _tally_columns(record, cond, 1)
    if measure == "people":
        return _tally_columns(record, cond, Contact.people_count)
    if measure == "participants":
        return _tally_columns(record, cond, CollectiveAction.participants)
    if measure == "hours":
        return [func.coalesce(func.sum(case(
            (and_(cond, Outing.ended_at.is_not(None)), _hours(dialect)), else_=0.0)), 0.0)]
    if measure == "distinct_services":
        return [func.count(func.distinct(case((cond, Referral.organisation_id))))]
    if measure == "rate_taken_up":
        closed = and_(cond, Referral.status == "closed")
        return _tally_columns(record, and_(closed, Referral.outcome == "accroche"), 1) + \
            _tally_columns(record, closed, 1)
    raise ValueError(measure)


def _closing(indicator) -> bool:
    return indicator.record == "bridge" and any(
        field in ("outcome", "status") for field, _ in parse(indicator.filter))


# Measures that cannot be added up month by month (a service or a person counts once over
# the whole period): always computed over the whole scope.
NON_ADDITIVE = frozenset({"distinct_services", "distinct_persons_repeat"})


def _is_large(neighbourhood_ids, period: Period) -> bool:
    return len(list(neighbourhood_ids)) * ((period.end - period.start).days + 1) > LARGE_SCOPE


def _scans(indicators, large: bool, dialect: str):
    """One scan per (record, closing): [(record, closing, joins, columns, slots)] where a
    slot is (indicator, offset, width) in the columns."""
    groups: dict[tuple[str, bool], list] = {}
    for indicator in indicators:
        groups.setdefault((indicator.record, _closing(indicator)), []).append(indicator)
    for (record, closing), members in groups.items():
        columns, slots = [], []
        for indicator in members:
            cols = _columns(record, indicator.measure,
                            condition(record, indicator.filter, large), dialect)
            slots.append((indicator, len(columns), len(cols)))
            columns.extend(cols)
        yield record, closing, _joins(members), columns, slots


def _values(row, slots) -> dict[str, object]:
    """code → an int or float, a Tally, or (taken up, closed) Tallies for a rate."""
    found = {}
    for indicator, offset, width in slots:
        values = row[offset:offset + width]
        if not is_keyed(indicator.record, indicator.measure):
            found[indicator.code] = _raw(values[0])
            continue
        counts = [_int(v) for v in values]  # Tally reduces the keys modulo 1
        found[indicator.code] = (Tally(*counts[:2]), Tally(*counts[2:])) \
            if indicator.measure == "rate_taken_up" else Tally(*counts)
    return found


def compute(indicators, neighbourhood_ids, period: Period) -> dict[str, object]:
    """code → raw value over the whole scope, live: an int or float, a Tally (a count with
    its records' keys), or (taken up, closed) Tallies for a rate."""
    dialect = db.engine.dialect.name
    large = _is_large(neighbourhood_ids, period)
    results: dict[str, object] = {}
    plain = []
    for indicator in indicators:
        if indicator.measure == "distinct_persons_repeat":
            results[indicator.code] = _repeat_persons(indicator, neighbourhood_ids, period,
                                                      large)
        else:
            plain.append(indicator)
    for record, closing, joins, columns, slots in _scans(plain, large, dialect):
        stmt = _scope(record, neighbourhood_ids, period, closing=closing, joins=joins) \
            .add_columns(*columns)
        results.update({code: number(value) for code, value in
                        _values(db.session.execute(stmt).one(), slots).items()})
    return results


def _int(value) -> int:
    """An integer sum as an int (PostgreSQL sums bigints as numeric: never through float)."""
    return int(value or 0)


def _raw(value):
    if value is None:
        return 0
    return float(value) if isinstance(value, float | Decimal) else int(value)


def number(value):
    """A figure as kept: hours to one decimal, counts as integers or Tallies, rates as
    pairs."""
    if isinstance(value, Tally):
        return value
    if isinstance(value, tuple | list):
        return tuple(v if isinstance(v, Tally) else int(v) for v in value)
    value = _raw(value)
    return round(value, 1) if isinstance(value, float) else value


def _repeat_persons(indicator, neighbourhood_ids, period: Period, large: bool) -> Tally:
    """Distinct person codes met at least twice in the period (the lasting link), with the
    sum of the persons' keys.

    A person's key is the sum of the record keys of their contacts counted here, never
    anything read from their code: the same question always brings the same key, a person
    more or less changes it unpredictably, and the figure survives a code being unlinked
    (app.retention: the person's contacts then share a random pseudonym instead of the
    code's HMAC, and count as the same one person)."""
    persons = _scope("contact", neighbourhood_ids, period).add_columns(
        Contact.person_code_hash.label("code"), func.sum(key_units(Contact)).label("key")
    ).where(Contact.person_code_hash.is_not(None),
            condition("contact", indicator.filter, large)) \
        .group_by(Contact.person_code_hash).having(func.count() >= 2).subquery()
    count, keys = db.session.execute(select(
        func.count(), func.coalesce(func.sum(persons.c.key), 0))).one()
    return Tally(_int(count), _int(keys))


# -- cross-tables --------------------------------------------------------------------------------
def _local_month(column, period: Period) -> ColumnElement:
    """'YYYY-MM' of a UTC timestamp column in the local time of the field work."""
    zone = current_app.config["LOCAL_TIMEZONE"]
    if db.engine.dialect.name == "postgresql":
        return func.to_char(func.timezone(zone, func.timezone("UTC", column)), "YYYY-MM")
    # SQLite knows no time zones: add the offset in force, stretch by stretch between the
    # zone's changes of offset (summer time) within the period.
    whens = [(column < until, f"{hours:+d} hours") for until, hours in _offsets(period)]
    return func.strftime("%Y-%m", column, case(*whens, else_="+0 hours"))


def _offsets(period: Period) -> list[tuple[datetime, int]]:
    """[(UTC end of a stretch, offset in hours)] covering the period."""
    start, end = period.bounds()
    utc_start = start.astimezone(UTC)
    utc_end = end.astimezone(UTC)
    tz = start.tzinfo
    stretches, moment = [], utc_start
    offset = moment.astimezone(tz).utcoffset()
    while moment < utc_end:
        step = moment + timedelta(hours=1)
        if step >= utc_end or step.astimezone(tz).utcoffset() != offset:
            stretches.append((min(step, utc_end),
                              int(offset.total_seconds() // 3600)))
            offset = step.astimezone(tz).utcoffset()
        moment = step
    return stretches


def _block_month(record: str, closing: bool, period: Period):
    """(neighbourhood column, local 'YYYY-MM') by which a record falls into a block."""
    if record == "collective_action":
        day = CollectiveAction.occurred_on
        month = func.to_char(day, "YYYY-MM") if db.engine.dialect.name == "postgresql" \
            else func.strftime("%Y-%m", day)
        return CollectiveAction.neighbourhood_id, month
    column, moment = {
        "contact": (Contact.neighbourhood_id, Contact.occurred_at),
        "referral": (Referral.neighbourhood_id, Referral.created_at),
        "bridge": (Bridge.neighbourhood_id, Bridge.closed_at if closing else Bridge.opened_at),
        "outing": (Outing.neighbourhood_id, Outing.started_at),
    }[record]
    return column, _local_month(moment, period)


def empty_block() -> dict:
    return {"indicators": {}, "people": [0, 0], "theme": {}, "situation": {}, "outcome": {}}


def encode(value):
    """A figure as a block keeps it in JSON: a Tally as [n, keys] (keys modulo 1, in 2⁻³²
    units), a rate as two of them."""
    if isinstance(value, Tally):
        return [value.n, value.key]
    if isinstance(value, tuple):
        return [encode(v) for v in value]
    return value


def decode(value):
    """The reverse of `encode`."""
    if isinstance(value, list):
        if isinstance(value[0], list):
            return tuple(decode(v) for v in value)
        return Tally(*value)
    return value


def compute_blocks(indicators, neighbourhood_ids, period: Period, *,
                   tables: bool = True) -> dict[tuple[int, str], dict]:
    """The additive figures of every neighbourhood × local calendar month of the period, in a
    few grouped scans whatever the number of blocks: {(neighbourhood id, 'YYYY-MM'): block}.

    A block is {"indicators": {code: encoded figure}, "people": people met, "theme": {code:
    people}, "situation": {code: people}, "outcome": {"outcome|category": referrals}}, every
    count as [n, sum of its records' keys] (`encode`); what is missing is zero. Indicators
    with a NON_ADDITIVE measure are left out, and so are the people and the cross-tables
    unless `tables`.
    """
    ids = list(neighbourhood_ids)
    dialect = db.engine.dialect.name
    large = _is_large(ids, period)
    blocks: dict[tuple[int, str], dict] = {}

    def block(nid, month) -> dict:
        return blocks.setdefault((nid, month), empty_block())

    additive = [i for i in indicators if i.measure not in NON_ADDITIVE]
    for record, closing, joins, columns, slots in _scans(additive, large, dialect):
        nid, month = _block_month(record, closing, period)
        stmt = _scope(record, ids, period, closing=closing, joins=joins) \
            .add_columns(nid, month, *columns).group_by(nid, month)
        for row in db.session.execute(stmt):
            block(row[0], row[1])["indicators"].update(
                {code: encode(v) for code, v in _values(row[2:], slots).items()})
    if not tables:
        return blocks

    nid, month = _block_month("contact", False, period)
    people = (func.sum(Contact.people_count),
              func.sum(Contact.people_count * key_units(Contact)))
    for key, when, n, keys in db.session.execute(_scope("contact", ids, period).add_columns(
            nid, month, *people).group_by(nid, month)):
        block(key, when)["people"] = [_int(n), _int(keys) % KEY_UNITS]
    stmt = _scope("contact", ids, period).join(  # themes and situations in one pass
        ContactTerm, and_(ContactTerm.contact_id == Contact.id,
                          ContactTerm.vocabulary.in_(("theme", "situation")))
    ).add_columns(nid, month, ContactTerm.vocabulary, ContactTerm.code, *people) \
        .group_by(nid, month, ContactTerm.vocabulary, ContactTerm.code)
    for key, when, vocabulary, code, n, keys in db.session.execute(stmt):
        block(key, when)[vocabulary][code] = [_int(n), _int(keys) % KEY_UNITS]

    nid, month = _block_month("referral", False, period)
    outcome = func.coalesce(Referral.outcome, literal("en_cours"))
    category = func.coalesce(Organisation.category, literal(""))
    stmt = _scope("referral", ids, period, joins={SERVICE}).add_columns(
        nid, month, outcome, category, func.count(), func.sum(key_units(Referral))
    ).group_by(nid, month, outcome, category)
    for key, when, out, cat, n, keys in db.session.execute(stmt):
        block(key, when)["outcome"][f"{out}|{cat}"] = [_int(n), _int(keys) % KEY_UNITS]
    return blocks
