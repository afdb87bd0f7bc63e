"""Monthly blocks of the evaluation figures, kept in the database and added up on demand.

A dashboard over twenty neighbourhoods and five years would otherwise scan a million
contacts every time it is opened. Every additive figure (counts, people, hours, the two
halves of a rate, the cells of the cross-tables) of one neighbourhood for one local calendar
month is a *block* in `figure_block`, computed by the same SQL as the live figures
(`engine.compute_blocks`) the first time it is needed. A period adds up its whole months
from blocks and computes its partial first and last months live; the measures that cannot be
added (distinct services, persons seen twice) are always computed live over the whole scope.

A block is only used while it is known to be exact:
- every flush that writes a contact, its terms, a referral, a bridge, an outing or a
  collective action notes the blocks it touches (its neighbourhood and month before and
  after the change; for a contact, also the blocks of its referrals and bridges, whose
  filters read the contact's fields), and the commit bumps their `generation` in the same
  transaction as the writes (the columns that place a record in a block are mapped with
  `active_history`, so that the value a record leaves is known even if it was not loaded);
- a block records the generation it was computed at, read *before* its records were, so a
  write that commits meanwhile leaves it outdated rather than wrong;
- it also records the digest of each indicator's definition next to its figure, so that
  editing an indicator recomputes that indicator only; changing a service's category bumps
  every block.
Writes that bypass the ORM (bulk loads) must call `invalidate_all()`.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import chain
from zoneinfo import ZoneInfo

import orjson
from flask import current_app
from sqlalchemy import event, func, inspect, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from .. import SQLITE_BUSY_TIMEOUT_MS
from ..extensions import db
from ..models import (
    Bridge,
    CollectiveAction,
    CollectiveActionTerm,
    Contact,
    ContactTerm,
    FigureBlock,
    Neighbourhood,
    Organisation,
    Outing,
    Referral,
)
from . import engine
from .engine import NON_ADDITIVE, Period
from .perturbation import ZERO, Tally

log = logging.getLogger(__name__)
FORMAT = "relais-blocks-2"  # change when the content of a block changes
PENDING = "relais_figure_blocks_pending"  # session.info: blocks this transaction touched


# -- adding up ----------------------------------------------------------------------------------
@dataclass
class Totals:
    """The figures of a scope and a period, before perturbation and suppression: every count
    about people is a Tally (the count with its records' keys)."""

    indicators: dict[str, object] = field(default_factory=dict)  # code → engine.number value
    people_by_month: dict[str, Tally] = field(default_factory=dict)  # 'YYYY-MM' → people
    theme_month: dict[tuple[str, str], Tally] = field(default_factory=dict)
    situation_neighbourhood: dict[tuple[str, int], Tally] = field(default_factory=dict)
    outcome_category: dict[tuple[str, str], Tally] = field(default_factory=dict)

    def counts(self) -> dict[str, object]:
        """The indicators' true figures without their keys (what the team may read)."""
        return {code: plain(value) for code, value in self.indicators.items()}


def plain(value):
    """A figure without its keys: a Tally's count, a rate's two counts."""
    if isinstance(value, Tally):
        return value.n
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    return value


@contextmanager
def _no_collection_pauses():
    """Reading a thousand blocks makes some 200,000 small lists and dicts, none in a cycle:
    the cyclic garbage collector, triggered by those allocations, would walk every object
    of the process again and again for nothing (a third of a dashboard's time over years).
    Reference counting frees them all the same."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def totals(indicators, neighbourhood_ids, period: Period) -> Totals:
    """Every indicator and cross-table of the neighbourhoods over the period, as the live SQL
    would give them, from kept blocks wherever it can."""
    with _no_collection_pauses():
        return _totals(indicators, neighbourhood_ids, period)


def _totals(indicators, neighbourhood_ids, period: Period) -> Totals:
    ids = list(neighbourhood_ids)
    additive = [i for i in indicators if i.measure not in NON_ADDITIVE]
    months, edges = split(period)
    # A partial month is its whole block less the days left out, when those are fewer than
    # the days in (the 25 first days of a month: its block less 5 days, computed live).
    live, left_out = [], []
    for edge in edges:
        rest = _rest_of_month(edge)
        if sum(_days(p) for p in rest) < _days(edge):
            months.append(edge.start.strftime("%Y-%m"))
            left_out.extend(rest)
        else:
            live.append(edge)
    parts = [(key, block, 1) for key, block in _cached(additive, ids, months).items()]
    for piece, sign in chain(((p, 1) for p in live), ((p, -1) for p in left_out)):
        parts.extend((key, block, sign) for key, block in
                     engine.compute_blocks(additive, ids, piece).items())
    result = _added_up(parts, additive)
    others = [i for i in indicators if i.measure in NON_ADDITIVE]
    if others:
        result.indicators.update(engine.compute(others, ids, period))
    return result


def _days(period: Period) -> int:
    return (period.end - period.start).days + 1


def _rest_of_month(part: Period) -> list[Period]:
    """The days of its calendar month that a part of it leaves out, as periods."""
    first = part.start.replace(day=1)
    return [p for p in (Period(first, part.start - timedelta(days=1)),
                        Period(part.end + timedelta(days=1), _month_end(first)))
            if p.start <= p.end]


def _added_up(parts, additive) -> Totals:
    """The sum of signed blocks: [((neighbourhood id, month), block, +1 or -1)].

    Added up in their encoded form ([n, keys] lists, summed in place), and made into Tallies
    once at the end: a dashboard over years adds up some 100,000 of them."""
    result, sums = Totals(), {}
    tables: tuple[dict, dict, dict, dict] = ({}, {}, {}, {})
    people, themes, situations, outcomes = tables
    for (nid, month), block, sign in parts:
        for code, value in block["indicators"].items():
            sums[code] = _plus(sums.get(code), value, sign)
        _add(people, month, block["people"], sign)
        for code, n in block["theme"].items():
            _add(themes, (code, month), n, sign)
        for code, n in block["situation"].items():
            _add(situations, (code, nid), n, sign)
        for key, n in block["outcome"].items():
            _add(outcomes, tuple(key.split("|", 1)), n, sign)
    for added, table in zip(tables, (result.people_by_month, result.theme_month,
                                     result.situation_neighbourhood, result.outcome_category),
                            strict=True):
        table.update((key, Tally(n, keys)) for key, (n, keys) in added.items() if n)
    for indicator in additive:
        code = indicator.code
        result.indicators[code] = engine.number(
            engine.decode(sums[code]) if code in sums else _zero(indicator))
    return result


def _pair_plus(total: list[int] | None, pair: list[int], sign: int) -> list[int]:
    """total + sign × [n, keys]: added in place into `total`, or a new list when there is none
    yet (never one of the block's own lists, which stay as read)."""
    if total is None:
        return [sign * pair[0], sign * pair[1]]
    total[0] += sign * pair[0]
    total[1] += sign * pair[1]
    return total


def _add(table: dict, key, encoded: list[int], sign: int) -> None:
    table[key] = _pair_plus(table.get(key), encoded, sign)


def _plus(total, value, sign: int):
    """total + sign × value for an encoded figure (engine.encode): a number, [n, keys] or a
    rate's two of them; `total` is None at first."""
    if not isinstance(value, list):
        return (total or 0) + sign * value
    if isinstance(value[0], list):
        return [_pair_plus(part, added, sign)
                for part, added in zip(total or (None, None), value, strict=True)]
    return _pair_plus(total, value, sign)


def _zero(indicator):
    if indicator.measure == "rate_taken_up":
        return (ZERO, ZERO)
    if engine.is_keyed(indicator.record, indicator.measure):
        return ZERO
    return 0.0 if indicator.measure == "hours" else 0


def split(period: Period) -> tuple[list[str], list[Period]]:
    """The whole calendar months of the period ('YYYY-MM') and the partial ones (periods)."""
    months, edges = [], []
    for month in period.months():
        if month.start.day == 1 and month.end == _month_end(month.start):
            months.append(month.start.strftime("%Y-%m"))
        else:
            edges.append(month)
    return months, edges


# -- the cache ----------------------------------------------------------------------------------
def base_digest() -> str:
    """What every figure of a block depends on besides the records: the block format and the
    time zone that draws the months."""
    text = json.dumps([FORMAT, current_app.config["LOCAL_TIMEZONE"]])
    return hashlib.sha256(text.encode()).hexdigest()


def indicator_digest(indicator) -> str:
    """An indicator's definition: its figure in a block is valid only for this one."""
    text = json.dumps([indicator.record, indicator.measure, indicator.filter or ""])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# Months computed and kept together at most: a first opening over years keeps its progress
# even if the request is cut short.
CHUNK_MONTHS = 12


def _cached(indicators, ids: list[int], months: list[str]) -> dict[tuple[int, str], dict]:
    if not ids or not months:
        return {}
    digest = base_digest()
    wanted = {i.code: indicator_digest(i) for i in indicators}
    # Generations are read before any record is: a write committed after this point leaves
    # the block outdated (recomputed next time), never wrong.
    rows = db.session.execute(select(
        FigureBlock.neighbourhood_id, FigureBlock.month, FigureBlock.generation,
        FigureBlock.data_generation, FigureBlock.definitions, FigureBlock.data,
    ).where(FigureBlock.neighbourhood_id.in_(ids), FigureBlock.month.in_(months))).all()
    generations, found = {}, {}
    for nid, month, generation, data_generation, definitions, data in rows:
        generations[(nid, month)] = generation
        if data is not None and data_generation == generation and definitions == digest:
            # orjson: a dashboard over years reads a thousand blocks; the standard
            # library's parser took half its time.
            found[(nid, month)] = orjson.loads(data)
    # What each block lacks: everything (None), or the indicators defined since it was kept.
    lacking: dict[frozenset | None, list[tuple[int, str]]] = {}
    for key in ((nid, m) for nid in ids for m in months):
        block = found.get(key)
        if block is None:
            lacking.setdefault(None, []).append(key)
            continue
        stale = frozenset(code for code, d in wanted.items()
                          if block["definitions"].get(code) != d)
        if stale:
            lacking.setdefault(stale, []).append(key)
    for stale, keys in lacking.items():
        chosen = indicators if stale is None else [i for i in indicators if i.code in stale]
        for run in _runs(sorted({m for _, m in keys})):
            chunk = {(nid, m) for nid, m in keys if m in run}
            computed = engine.compute_blocks(
                chosen, sorted({nid for nid, _ in chunk}),
                Period(_first_day(run[0]), _last_day(run[-1])), tables=stale is None)
            fresh = {}
            for key in chunk:
                block = found.get(key) if stale is not None else None
                block = block or {**engine.empty_block(), "definitions": {}}
                part = computed.get(key) or engine.empty_block()
                if stale is None:
                    block.update(part)
                block["indicators"].update(part["indicators"])
                block["definitions"].update({i.code: wanted[i.code] for i in chosen})
                fresh[key] = found[key] = block
            _store(fresh, generations, digest)
    return found


def _runs(months: list[str]) -> list[list[str]]:
    """Consecutive months together (at most CHUNK_MONTHS), so that a gap is never computed
    for nothing."""
    runs: list[list[str]] = []
    for month in months:
        if runs and len(runs[-1]) < CHUNK_MONTHS \
                and _first_day(month) == _last_day(runs[-1][-1]) + timedelta(days=1):
            runs[-1].append(month)
        else:
            runs.append([month])
    return runs


def _first_day(month: str) -> date:
    return date(int(month[:4]), int(month[5:]), 1)


def _last_day(month: str) -> date:
    return _month_end(_first_day(month))


def _month_end(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def _store(fresh: dict, generations: dict, digest: str) -> None:
    """Keep the computed blocks, in a transaction of their own and without waiting: this is
    a cache, and a reader must never be held up (or deadlocked) by a writer."""
    if db.session.info.get(PENDING):
        return  # read inside an unfinished write: they may hold what a rollback undoes
    try:
        with db.engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            if sqlite:
                connection.exec_driver_sql("PRAGMA busy_timeout=200")
                connection.commit()
            try:
                with connection.begin():
                    if not sqlite:
                        connection.exec_driver_sql("SET LOCAL lock_timeout = '200ms'")
                    for (nid, month), block in fresh.items():
                        generation = generations.get((nid, month), 0)
                        content = {"data_generation": generation, "definitions": digest,
                                   "data": orjson.dumps(block).decode()}
                        _upsert(connection, nid, month,
                                {"generation": generation, **content}, content)
            finally:
                if sqlite:
                    connection.rollback()
                    connection.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
                    connection.commit()
    except OperationalError as exc:
        log.info("figure blocks not kept this time (database busy): %s", exc.__class__.__name__)


def _upsert(connection, nid: int, month: str, values: dict, changes: dict) -> None:
    """INSERT the block's row with `values`, or UPDATE it with `changes` when it exists."""
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(FigureBlock.__table__).values(neighbourhood_id=nid, month=month, **values)
    connection.execute(stmt.on_conflict_do_update(
        index_elements=["neighbourhood_id", "month"], set_=changes))


OUTDATE_ALL = update(FigureBlock).values(generation=FigureBlock.generation + 1)


def invalidate_all() -> None:
    """After writes that bypassed the ORM: every block is computed again when next needed."""
    db.session.execute(OUTDATE_ALL)


def fill(indicators, today: date) -> int:
    """Compute and keep every block, from the month of the first record to the last whole
    month before `today` (what a first opening over years would otherwise do); returns how
    many blocks that is. Call it outside any write transaction."""
    firsts = [db.session.scalar(select(func.min(column))) for column in (
        Contact.occurred_at, Referral.created_at, Bridge.opened_at, Outing.started_at,
        CollectiveAction.occurred_on)]
    tz = ZoneInfo(current_app.config["LOCAL_TIMEZONE"])
    days = [f.astimezone(tz).date() if isinstance(f, datetime) else f for f in firsts if f]
    last = today.replace(day=1) - timedelta(days=1)
    if not days or min(days) > last:
        return 0
    months, _ = split(Period(min(days).replace(day=1), last))
    ids = list(db.session.scalars(select(Neighbourhood.id)))
    _cached([i for i in indicators if i.measure not in NON_ADDITIVE], ids, months)
    return len(ids) * len(months)


# -- invalidation on write ----------------------------------------------------------------------
def _month(moment, tz: ZoneInfo) -> str | None:
    if moment is None:
        return None
    if isinstance(moment, datetime):
        aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return aware.astimezone(tz).strftime("%Y-%m")
    return moment.strftime("%Y-%m")


def _old_and_new(obj, name: str) -> list:
    """The attribute's value now and, when this flush changed it, before."""
    history = inspect(obj).attrs[name].history
    return list(chain(history.added, history.unchanged, history.deleted)) or \
        [getattr(obj, name, None)]


def _keys_of(obj, moment_names: tuple[str, ...], tz) -> set[tuple[int, str]]:
    keys = set()
    for nid in _old_and_new(obj, "neighbourhood_id"):
        for name in moment_names:
            for moment in _old_and_new(obj, name):
                month = _month(moment, tz)
                if nid is not None and month:
                    keys.add((nid, month))
    return keys


ALL = (0, "*")  # every block
MOMENTS = {Contact: ("occurred_at",), Referral: ("created_at",),
           Bridge: ("opened_at", "closed_at"), Outing: ("started_at",),
           CollectiveAction: ("occurred_on",)}


def touched_blocks(session: Session) -> set[tuple[int, str]]:
    """(neighbourhood id, month) of every block that this flush may have changed."""
    tz = ZoneInfo(current_app.config["LOCAL_TIMEZONE"])
    keys: set[tuple[int, str]] = set()
    contacts, actions = set(), set()
    for obj in chain(session.new, session.dirty, session.deleted):
        moments = MOMENTS.get(type(obj))
        if moments:
            keys |= _keys_of(obj, moments, tz)
        if isinstance(obj, Contact) and obj not in session.new:
            contacts.add(obj.id)
        elif isinstance(obj, ContactTerm):
            contacts.update(_old_and_new(obj, "contact_id"))
        elif isinstance(obj, CollectiveActionTerm):
            actions.update(_old_and_new(obj, "action_id"))
        elif isinstance(obj, Organisation) and inspect(obj).attrs.category.history.has_changes():
            keys.add(ALL)  # referrals to it are counted under another category now
    connection = session.connection()
    contacts.discard(None)
    if contacts:
        # A referral or a bridge reads its origin contact's fields in its filters.
        found = connection.execute(select(Contact.neighbourhood_id, Contact.occurred_at)
                                   .where(Contact.id.in_(contacts))).all()
        found += connection.execute(select(Referral.neighbourhood_id, Referral.created_at)
                                    .where(Referral.contact_id.in_(contacts))).all()
        for nid, opened, closed in connection.execute(select(
                Bridge.neighbourhood_id, Bridge.opened_at, Bridge.closed_at)
                .where(Bridge.origin_contact_id.in_(contacts))):
            found += [(nid, opened), (nid, closed)]
        keys |= {(nid, _month(moment, tz)) for nid, moment in found if moment}
    actions.discard(None)
    if actions:
        keys |= {(nid, _month(day, tz)) for nid, day in connection.execute(
            select(CollectiveAction.neighbourhood_id, CollectiveAction.occurred_on)
            .where(CollectiveAction.id.in_(actions)))}
    return keys


def _after_flush(session: Session, flush_context) -> None:
    keys = touched_blocks(session)
    if keys:
        session.info.setdefault(PENDING, set()).update(keys)


def _before_commit(session: Session) -> None:
    """Bump the generations of every block the transaction touched, all at once and in one
    order, as its last writes: a transaction holds the locks of blocks only while it commits,
    so two writers never wait on each other in a cycle."""
    session.flush()
    keys = session.info.pop(PENDING, set())
    if not keys:
        return
    connection = session.connection()
    if ALL in keys:
        connection.execute(OUTDATE_ALL)
        keys.discard(ALL)
    generation = FigureBlock.__table__.c.generation
    for nid, month in sorted(keys):
        _upsert(connection, nid, month, {"generation": 1}, {"generation": generation + 1})


def _transaction_end(session: Session, transaction) -> None:
    if transaction.parent is None:  # a savepoint's rollback leaves the rest to commit
        session.info.pop(PENDING, None)


def install() -> None:
    """Listen to every flush and commit of the app's sessions (called by create_app)."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "before_commit", _before_commit)
        event.listen(Session, "after_transaction_end", _transaction_end)
