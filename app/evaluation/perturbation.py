"""Cell-key perturbation: figures that cannot be taken apart by subtracting one from another.

Every contact, referral, bridge and collective action carries a fixed random *record key*,
uniform in [0, 1) (app.models.record_key). A figure is counted together with the sum of its
records' keys (a `Tally`); the fractional part of that sum is the figure's *cell key*, and
the perturbation added to the count is read from a fixed table by (count, cell key). So:

* the same records always give the same figure, however and however often it is asked
  (averaging repeated answers learns nothing);
* two figures that differ by one person have unrelated cell keys, so their difference is
  the true difference only as often as the table says, and never tells for sure;
* the noise is at most D, never makes a figure negative, leaves zero at zero and is zero
  on average (the table is derived in scripts/perturbation_table.py, documented in
  docs/decisions.md).

Keys are drawn as whole multiples of 2⁻³² and summed as integers (`KEY_UNITS`), so a cell
key is exact: a block of months added up, or the same period computed live, lands on the
same key to the last bit and therefore on the same figure.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ..models.record_key import KEY_UNITS

TABLE = Path(__file__).resolve().parent.parent / "data" / "perturbation.csv"


@dataclass(frozen=True)
class Tally:
    """A count with the sum of its records' keys, in 2⁻³² units, modulo 1 (only the
    fractional part of a sum of keys is ever read)."""

    n: int
    key: int = 0

    def __post_init__(self):
        if not 0 <= self.key < KEY_UNITS:
            object.__setattr__(self, "key", self.key % KEY_UNITS)

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.n + other.n, self.key + other.key)

    def times(self, sign: int) -> Tally:
        return Tally(sign * self.n, sign * self.key)

    @property
    def cell_key(self) -> float:
        """The fractional part of the sum of the keys, in [0, 1)."""
        return self.key / KEY_UNITS


ZERO = Tally(0, 0)


@dataclass(frozen=True)
class PerturbationTable:
    """rows[n] = [(perturbation, upper bound of its cell-key interval in 2⁻³² units)] in
    increasing order of perturbation; counts above the last row use the last row."""

    max_noise: int
    rows: tuple[tuple[tuple[int, int], ...], ...]
    probabilities: dict[int, dict[int, float]]

    def noise(self, n: int, key_units: int) -> int:
        if n <= 0:
            return 0
        position = key_units % KEY_UNITS
        for d, bound in self.rows[min(n, len(self.rows) - 1)]:
            if position < bound:
                return d
        raise AssertionError("a row of the perturbation table does not reach 1")

    def perturbed(self, tally: Tally) -> int:
        return tally.n + self.noise(tally.n, tally.key)

    def probability(self, n: int, d: int) -> float:
        return self.probabilities[min(n, self.max_noise)].get(d, 0.0)


def read_table(path: Path = TABLE) -> PerturbationTable:
    probabilities: dict[int, dict[int, float]] = {}
    with path.open(encoding="utf-8") as handle:
        lines = (line for line in handle if not line.startswith("#"))
        for row in csv.DictReader(lines):
            probabilities.setdefault(int(row["count"]), {})[int(row["perturbation"])] = \
                float(row["probability"])
    rows = []
    for n in range(len(probabilities)):
        cumulative, bounds = 0.0, []
        for d in sorted(probabilities[n]):
            cumulative += probabilities[n][d]
            bounds.append((d, round(cumulative * KEY_UNITS)))
        # Every key falls in some interval, whatever the rounding of the last bound.
        bounds[-1] = (bounds[-1][0], KEY_UNITS)
        rows.append(tuple(bounds))
    return PerturbationTable(len(rows) - 1, tuple(rows), probabilities)


@cache
def table() -> PerturbationTable:
    return read_table()


def perturbed(tally: Tally) -> int:
    """The figure as it leaves the team: the count plus the noise its cell key reads."""
    return table().perturbed(tally)
