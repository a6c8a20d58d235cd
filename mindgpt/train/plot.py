"""A run's pictures (loss, learning rate, validation metric) drawn with matplotlib.

Figures are `matplotlib.figure.Figure`s printed by the Agg canvas: no pyplot, so no global state, no display
and no change to the backend a notebook's own plots use. A picture is a by-product of a run: `save_figure`
turns any failure (matplotlib missing or broken, a value it cannot draw) into one warning, so plotting never
ends a run or loses its results. matplotlib is imported only when a picture is drawn.
"""
from __future__ import annotations

import logging
import math
import os
from typing import TYPE_CHECKING, Callable, Sequence

from ..io import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

logger = logging.getLogger("mindgpt")
Curve = Sequence[tuple[int, float]]  # (step, value) points, as MetricsLog.curve returns them
DPI = 120


def save_figure(path: str | os.PathLike, draw: Callable[[], "Figure"]) -> "Figure | None":
    """Write the figure `draw()` returns to `path` as a PNG, atomically; return it, or None after one warning
    if drawing or writing failed (the caller carries on: its results matter more than the picture)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        figure = draw()
        FigureCanvasAgg(figure)  # Agg renders without a display, whatever backend pyplot uses
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format="png", dpi=DPI)
        return figure
    except Exception as e:  # noqa: BLE001 - any failure here is the picture's, never the run's
        logger.warning("could not draw %s (%s: %s); the run's other results are kept", os.fspath(path),
                       type(e).__name__, e)
        return None


def plot_losses(path: str | os.PathLike, train: Curve, val: Curve = (), lr: Curve = (), *,
                baseline: float | None = None, metric: tuple[str, Curve] | None = None, title: str = "",
                unit: str = "nats/token") -> "Figure | None":
    """`loss_figure` saved to `path` (see `save_figure`: a failure warns and returns None)."""
    return save_figure(path, lambda: loss_figure(train, val, lr, baseline=baseline, metric=metric, title=title,
                                                 unit=unit))


def loss_figure(train: Curve, val: Curve = (), lr: Curve = (), *, baseline: float | None = None,
                metric: tuple[str, Curve] | None = None, title: str = "", unit: str = "nats/token") -> "Figure":
    """Training loss (logged points, light, and their EMA), validation loss (markers) and the `baseline` loss
    (e.g. the unigram model's: the bar a model must beat) on one panel; below it, sharing the step axis, a
    panel for the validation `metric` (name, points) and one for the learning-rate schedule, each if given.
    `unit` is the loss's: nats/token for language modelling, nats for a fine-tuning loss (per example, plus
    the auxiliary LM loss)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    panels = ["loss"] + ["metric"] * bool(metric and metric[1]) + ["lr"] * bool(lr)
    heights = {"loss": 3.0, "metric": 1.4, "lr": 1.1}
    figure = Figure(figsize=(9, 3.2 + 1.3 * (len(panels) - 1)), layout="constrained")
    axes = figure.subplots(len(panels), 1, sharex=True, squeeze=False,
                           gridspec_kw={"height_ratios": [heights[p] for p in panels]})[:, 0]
    ax = dict(zip(panels, axes))
    if train:
        steps, values = zip(*train)
        smoothed = len(train) >= 20  # fewer points read better unsmoothed
        ax["loss"].plot(steps, values, color="C0", lw=0.8, alpha=0.35 if smoothed else 1.0, label="train",
                        marker=None if smoothed else ".")  # a lone logged point shows too
        if smoothed:
            span = max(5, len(train) // 30)
            ax["loss"].plot(steps, ema(values, span), color="C0", lw=2, label=f"train, EMA over {span} logs")
    if val:
        ax["loss"].plot(*zip(*val), "o-", color="C3", lw=1, ms=5, label="validation")
    if baseline is not None:
        ax["loss"].axhline(baseline, color="0.4", ls="--", lw=1.2, label=f"unigram baseline ({baseline:.2f})")
    ax["loss"].set_ylabel(f"loss ({unit})")
    if train or val or baseline is not None:
        ax["loss"].legend(loc="best")
    if "metric" in ax:
        name, points = metric
        ax["metric"].plot(*zip(*points), "s-", color="C2", lw=1, ms=5)
        ax["metric"].set_ylabel(name.replace("_", " "))
    if "lr" in ax:
        ax["lr"].plot(*zip(*lr), color="C1", lw=1.5)
        ax["lr"].set_ylabel("learning rate")
        ax["lr"].ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
        ax["lr"].set_ylim(bottom=0)
    for a in axes:
        a.grid(True, alpha=0.3)
    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 2.5, 5, 10]))
    axes[-1].set_xlabel("step")
    figure.suptitle(title)
    return figure


def ema(values: Sequence[float], span: int) -> list[float]:
    """Exponential moving average, bias-corrected as TensorBoard's smoothing: the first points are not pulled
    toward zero. Non-finite values (a diverged step) are skipped rather than poisoning every later point."""
    alpha, average, weight, out = 2 / (span + 1), 0.0, 0.0, []
    for value in values:
        if math.isfinite(value):
            average, weight = (1 - alpha) * average + alpha * value, (1 - alpha) * weight + alpha
        out.append(average / weight if weight else float("nan"))
    return out
