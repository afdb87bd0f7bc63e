"""The fixed random key of a counted record, for the cell-key perturbation of the figures
that leave the team (app.evaluation.perturbation). Never shown, never exported."""

from __future__ import annotations

import secrets

from sqlalchemy import Double
from sqlalchemy.orm import Mapped, mapped_column

KEY_BITS = 32
KEY_UNITS = 1 << KEY_BITS  # a record key is an integer number of 2⁻³²


def new_record_key() -> float:
    """Uniform in [0, 1), from the operating system's cryptographic source, and a whole
    multiple of 2⁻³² (exact in a double) so that sums of keys can be made exactly."""
    return secrets.randbits(KEY_BITS) / KEY_UNITS


class RecordKeyed:
    """Mixin: `record_key`, drawn once when the record is created and never changed."""

    record_key: Mapped[float] = mapped_column(Double, default=new_record_key)
