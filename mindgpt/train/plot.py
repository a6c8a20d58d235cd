"""The loss curve as a PNG, drawn with Pillow (already a MindSpore dependency): no plotting library."""
from __future__ import annotations

import os
from typing import Sequence

from PIL import Image, ImageDraw

from ..io import atomic_path

SIZE, MARGIN = (800, 480), 60
COLORS = {"train": (31, 119, 180), "val": (214, 39, 40)}


def plot_losses(path: str | os.PathLike, curves: dict[str, Sequence[tuple[int, float]]], title: str) -> None:
    """Plot each named curve of (step, loss) points on shared axes; write `path` atomically."""
    points = [p for curve in curves.values() for p in curve]
    if not points:
        return
    image = Image.new("RGB", SIZE, "white")
    draw = ImageDraw.Draw(image)
    (x0, x1), (y0, y1) = _span([p[0] for p in points]), _span([p[1] for p in points])
    width, height = SIZE[0] - 2 * MARGIN, SIZE[1] - 2 * MARGIN

    def at(step: float, loss: float) -> tuple[float, float]:
        return MARGIN + (step - x0) / (x1 - x0) * width, SIZE[1] - MARGIN - (loss - y0) / (y1 - y0) * height

    draw.rectangle([MARGIN, MARGIN, SIZE[0] - MARGIN, SIZE[1] - MARGIN], outline="black")
    for i in range(5):
        loss = y0 + (y1 - y0) * i / 4
        draw.text((5, at(x0, loss)[1] - 6), f"{loss:.2f}", fill="black")
        step = x0 + (x1 - x0) * i / 4
        draw.text((at(step, y0)[0] - 10, SIZE[1] - MARGIN + 8), f"{step:.0f}", fill="black")
    for row, (name, curve) in enumerate(curves.items()):
        color = COLORS.get(name, (0, 0, 0))
        xy = [at(s, v) for s, v in curve]
        if len(xy) > 1:
            draw.line(xy, fill=color, width=2)
        for x, y in xy if len(xy) < 50 else ():
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=color)
        draw.text((SIZE[0] - MARGIN - 120, MARGIN + 10 + 14 * row), f"— {name} loss", fill=color)
    draw.text((MARGIN, 20), title, fill="black")
    draw.text((SIZE[0] // 2 - 15, SIZE[1] - 25), "step", fill="black")
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


def _span(values: Sequence[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    return (low, high) if high > low else (low - 1, high + 1)
