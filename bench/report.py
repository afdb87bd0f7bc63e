"""docs/benchmarks.md is shared by the benchmarks: each replaces only its own section,
marked by an HTML comment at each end."""

from __future__ import annotations

from pathlib import Path


def write_section(section: str, start: str, end: str, path: Path) -> None:
    """Put `section` (which begins with `start` and ends with `end`) in place of the one
    already in the file, or at its end."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")
