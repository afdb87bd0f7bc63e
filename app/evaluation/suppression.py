"""Small-cell suppression: no figure that leaves the team may single anybody out.

* primary: a count from 1 to k−1 is not shown (``<k``); zero stays zero;
* complementary: in a table with its totals, every row and column that hides one cell hides
  at least a second one (the smallest non-zero visible cell, the total included), so that no
  total minus the visible cells gives a hidden one back. Repeated until nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..formats import format_decimal


@dataclass
class Cell:
    value: float | int
    suppressed: bool = False

    def shown(self, k: int) -> str:
        if self.suppressed:
            return f"<{k}"
        return format_decimal(self.value)  # in the reader's language: 12,5 or 12.5


def is_small(value, k: int) -> bool:
    return 0 < value < k


def suppress_value(value, k: int) -> Cell:
    return Cell(value, is_small(value, k))


def suppress_rate(taken_up: int, closed: int, k: int) -> Cell:
    """A percentage hides when its denominator, numerator or complement is a small count."""
    if closed == 0:
        return Cell(0.0)
    hidden = is_small(closed, k) or is_small(taken_up, k) or is_small(closed - taken_up, k)
    return Cell(round(100.0 * taken_up / closed, 1), hidden)


@dataclass
class Table:
    """A two-way table with its row, column and grand totals, ready to publish."""

    row_keys: list
    col_keys: list
    cells: list[list[Cell]]
    row_totals: list[Cell]
    col_totals: list[Cell]
    total: Cell
    k: int = field(default=5)

    def rows(self):
        yield from zip(self.row_keys, self.cells, self.row_totals, strict=True)


def suppress_table(row_keys: list, col_keys: list, values: list[list[int]], k: int,
                   totals: tuple[list[int], list[int], int] | None = None) -> Table:
    """`totals` (row totals, column totals, grand total) default to the sums of the values;
    perturbed figures bring their own, perturbed as cells of their own."""
    n_rows, n_cols = len(row_keys), len(col_keys)
    if totals is None:
        col_sums = [sum(values[r][c] for r in range(n_rows)) for c in range(n_cols)]
        totals = ([sum(row) for row in values], col_sums, sum(col_sums))
    row_totals, col_totals, total = totals
    # The extended grid: the last column holds row totals, the last row column totals.
    grid = [[Cell(v) for v in row] + [Cell(t)] for row, t in zip(values, row_totals,
                                                                  strict=True)]
    grid.append([Cell(v) for v in col_totals] + [Cell(total)])
    for row in grid:
        for cell in row:
            cell.suppressed = is_small(cell.value, k)

    lines = [grid[r] for r in range(n_rows + 1)] + \
        [[grid[r][c] for r in range(n_rows + 1)] for c in range(n_cols + 1)]
    changed = True
    while changed:
        changed = False
        for line in lines:
            hidden = [c for c in line if c.suppressed]
            if len(hidden) != 1:
                continue
            candidates = [c for c in line if not c.suppressed and c.value != 0]
            if candidates:
                min(candidates, key=lambda c: c.value).suppressed = True
                changed = True
    return Table(
        row_keys=row_keys, col_keys=col_keys,
        cells=[row[:n_cols] for row in grid[:n_rows]],
        row_totals=[row[n_cols] for row in grid[:n_rows]],
        col_totals=grid[n_rows][:n_cols], total=grid[n_rows][n_cols], k=k,
    )
