"""Derive the perturbation table of the cell-key method and write app/data/perturbation.csv.

    .venv/bin/python scripts/perturbation_table.py [--max-noise 2] [--variance 1]

For a true count n, the perturbation d is drawn from {-D, …, D} with n + d ≥ 0 (never a
negative figure) and d = 0 when n = 0 (zero stays zero). Among the distributions on that
support with mean 0 (unbiased) and variance V, the table takes the one of maximum entropy:
p(d) ∝ exp(a·d + b·d²), with (a, b) solved by Newton's method. This is the construction of
the `ptable` package of Giessing, Tent and Enderle (Destatis) used for the German and UK
census outputs. Counts of D and more allow every d, so their row (written for n = D) serves
every larger count.

The same function is used by the tests to check that the shipped table is exactly this
derivation for the parameters it names.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "app" / "data" / "perturbation.csv"
DIGITS = 12  # probabilities written with 12 decimals: mean and variance exact to ~1e-11


def _moments(support: list[int], a: float, b: float) -> tuple[list[float], float, float]:
    weights = [math.exp(a * d + b * d * d) for d in support]
    total = sum(weights)
    p = [w / total for w in weights]
    mean = sum(pi * d for pi, d in zip(p, support, strict=True))
    second = sum(pi * d * d for pi, d in zip(p, support, strict=True))
    return p, mean, second


def max_entropy(support: list[int], variance: float) -> list[float]:
    """p over `support` with mean 0 and the given variance, of maximum entropy."""
    a = b = 0.0
    for _ in range(200):
        p, mean, second = _moments(support, a, b)
        gap = (mean, second - variance)
        if max(abs(g) for g in gap) < 1e-15:
            break
        # The Jacobian of (E d, E d²) in (a, b) is the covariance of (d, d²).
        m3 = sum(pi * d ** 3 for pi, d in zip(p, support, strict=True))
        m4 = sum(pi * d ** 4 for pi, d in zip(p, support, strict=True))
        j11, j12, j22 = second - mean * mean, m3 - mean * second, m4 - second * second
        det = j11 * j22 - j12 * j12
        a -= (j22 * gap[0] - j12 * gap[1]) / det
        b -= (-j12 * gap[0] + j11 * gap[1]) / det
    else:  # pragma: no cover - only for parameters no table can meet
        raise ValueError(f"no distribution on {support} with mean 0 and variance {variance}")
    return p


def rows(max_noise: int, variance: float) -> list[tuple[int, int, float]]:
    """[(count, perturbation, probability)] for counts 0 … D."""
    table = [(0, 0, 1.0)]
    for n in range(1, max_noise + 1):
        support = list(range(-min(n, max_noise), max_noise + 1))
        rounded = [round(pi, DIGITS) for pi in max_entropy(support, variance)]
        # The largest probability takes the rounding's remainder, so that each row sums to 1.
        largest = rounded.index(max(rounded))
        rounded[largest] = round(1.0 - sum(rounded) + rounded[largest], DIGITS)
        table += [(n, d, pi) for d, pi in zip(support, rounded, strict=True)]
    return table


def render(max_noise: int, variance: float) -> str:
    out = io.StringIO()
    out.write(f"# Cell-key perturbation table: D = {max_noise}, V = {variance:g}, maximum "
              "entropy (scripts/perturbation_table.py)\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["count", "perturbation", "probability"])
    for n, d, p in rows(max_noise, variance):
        writer.writerow([n, d, f"{p:.{DIGITS}f}"])
    return out.getvalue()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-noise", type=int, default=2)
    parser.add_argument("--variance", type=float, default=1.0)
    parser.add_argument("--output", type=Path, default=TABLE)
    args = parser.parse_args(argv)
    args.output.write_text(render(args.max_noise, args.variance), encoding="utf-8")
    print(f"{args.output}: D = {args.max_noise}, V = {args.variance:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
