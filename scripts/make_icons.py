"""Draw the app icons (PNG, 192 and 512 px) with the standard library only.

The design follows app/static/icons/icon.svg: a teal rounded square, a white "R"-like relay
stroke approximated by geometry, and a light dot. Run: python scripts/make_icons.py
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

TEAL = (31, 95, 91)
WHITE = (255, 255, 255)
MINT = (159, 216, 209)
OUT = Path(__file__).resolve().parent.parent / "app" / "static" / "icons"


def _inside_rounded(x, y, size, radius):
    cx = min(max(x, radius), size - radius)
    cy = min(max(y, radius), size - radius)
    return (x - cx) ** 2 + (y - cy) ** 2 <= radius ** 2


def _near_segment(px, py, ax, ay, bx, by, width):
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy)) <= width / 2


def _near_arc(px, py, cx, cy, r, width):
    # right half of a circle (the bowl of the "R")
    return px >= cx and abs(math.hypot(px - cx, py - cy) - r) <= width / 2


def pixel(x, y, size, maskable):
    s = size / 64.0
    u, v = x / s, y / s
    if not maskable and not _inside_rounded(x, y, size, 14 * s):
        return None  # transparent corner
    w = 6
    if (_near_segment(u, v, 16, 44, 16, 20, w) or _near_segment(u, v, 16, 20, 30, 20, w)
            or _near_arc(u, v, 30, 28, 8, w) or _near_segment(u, v, 30, 36, 24, 36, w)
            or _near_segment(u, v, 24, 36, 36, 44, w)):
        return WHITE
    if math.hypot(u - 46, v - 22) <= 5:
        return MINT
    return TEAL


def png(size: int, maskable: bool = False) -> bytes:
    rows = []
    for y in range(size):
        row = bytearray([0])
        for x in range(size):
            color = pixel(x + 0.5, y + 0.5, size, maskable)
            row += bytes((*color, 255)) if color else bytes((0, 0, 0, 0))
        rows.append(bytes(row))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + chunk(b"IEND", b""))


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for size in (192, 512):
        (OUT / f"icon-{size}.png").write_bytes(png(size))
    (OUT / "icon-maskable-512.png").write_bytes(png(512, maskable=True))
    print("icons written to", OUT)
