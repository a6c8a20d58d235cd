"""The pictures: loss.png of pretraining and the Trainer, the benchmark charts; a picture never fails a run."""
import importlib.util
import json
import logging
import math
import os
import shutil
import sys
from types import SimpleNamespace

import pytest
from PIL import Image

from mindgpt.train import plot
from mindgpt.train.plot import ema, plot_losses

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PNG = b"\x89PNG\r\n\x1a\n"


def assert_png(path, min_size=(600, 300)):
    """A whole PNG file that reads back at a sane size."""
    assert open(path, "rb").read(8) == PNG
    with Image.open(path) as image:
        image.load()
        assert image.size[0] >= min_size[0] and image.size[1] >= min_size[1] and image.size[0] < 4000
    assert not [f for f in os.listdir(os.path.dirname(path)) if ".tmp-" in f], "a temporary file was left behind"


def curves(n=60):
    train = [(10 * i, 3 + 6 * math.exp(-i / 10) + 0.1 * math.sin(i)) for i in range(1, n + 1)]
    val = [(100 * i, 3.2 + 6 * math.exp(-i)) for i in range(1, n // 10 + 1)]
    lr = [(10 * i, 6e-4 * min(1.0, i / 5) * (1 - i / (n + 1))) for i in range(1, n + 1)]
    return train, val, lr


def labels(ax):
    return ax.get_legend_handles_labels()[1]


def test_loss_plot_draws_train_val_baseline_and_lr(tmp_path):
    train, val, lr = curves()
    figure = plot_losses(tmp_path / "loss.png", train, val, lr, baseline=math.log(750.0), title="4x256 on english")
    assert_png(tmp_path / "loss.png")
    loss_ax, lr_ax = figure.axes
    assert loss_ax.get_ylabel() == "loss (nats/token)" and lr_ax.get_ylabel() == "learning rate"
    assert lr_ax.get_xlabel() == "step" and figure.get_suptitle() == "4x256 on english"
    assert labels(loss_ax) == ["train", "train, EMA over 5 logs", "validation", "unigram baseline (6.62)"]
    baseline = [line for line in loss_ax.get_lines() if line.get_label().startswith("unigram")][0]
    assert set(baseline.get_ydata()) == {math.log(750.0)}
    assert list(lr_ax.get_lines()[0].get_ydata()) == [v for _, v in lr]
    assert loss_ax.get_legend() is not None
    assert all(float(t).is_integer() for t in lr_ax.get_xticks()), "steps are whole numbers"


def test_loss_plot_adds_a_metric_panel_and_leaves_out_what_is_missing(tmp_path):
    train, _, _ = curves(5)  # too few logged points to smooth
    figure = plot_losses(tmp_path / "loss.png", train, [(30, 5.0)], metric=("eval_accuracy", [(100, 0.6), (200, 0.7)]),
                         unit="nats")
    assert_png(tmp_path / "loss.png")
    assert [ax.get_ylabel() for ax in figure.axes] == ["loss (nats)", "eval accuracy"]
    assert labels(figure.axes[0]) == ["train", "validation"]


@pytest.mark.parametrize("failure", ["drawing", "matplotlib missing"])
def test_a_plotting_failure_warns_once_and_returns(tmp_path, monkeypatch, caplog, failure):
    if failure == "drawing":
        def broken(*args, **kwargs):
            raise ValueError("a value it cannot draw")
        monkeypatch.setattr(plot, "loss_figure", broken)
    else:
        monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)  # import raises ImportError
    (tmp_path / "loss.png").write_bytes(b"the last good picture")
    with caplog.at_level(logging.WARNING, logger="mindgpt"):
        assert plot_losses(tmp_path / "loss.png", *curves()) is None
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "loss.png" in warnings[0].getMessage()
    assert "\n" not in warnings[0].getMessage()
    assert (tmp_path / "loss.png").read_bytes() == b"the last good picture", "written whole or not at all"
    assert os.listdir(tmp_path) == ["loss.png"]


def test_ema_is_bias_corrected_and_skips_non_finite_values():
    assert ema([4.0, 4.0, 4.0], span=5) == [4.0, 4.0, 4.0]  # not pulled toward 0 at the start
    smoothed = ema([2.0, float("nan"), 2.0, 8.0], span=3)
    assert smoothed[:3] == [2.0, 2.0, 2.0] and 2.0 < smoothed[3] < 8.0
    assert math.isnan(ema([float("inf")], span=3)[0])


def test_a_loss_plot_with_a_diverged_step_still_draws(tmp_path):
    train, val, lr = curves()
    train[30] = (train[30][0], float("nan"))
    assert plot_losses(tmp_path / "loss.png", train, val, lr) is not None
    assert_png(tmp_path / "loss.png")


def test_trainer_plots_its_metric_and_learning_rate(tmp_path, monkeypatch):
    from mindgpt.train import trainer
    from mindgpt.train.run import MetricsLog

    log = MetricsLog(tmp_path / "metrics.jsonl", 0, enabled=True)
    for step in range(1, 21):
        log.write({"loss": 1.0 / step, "learning_rate": 1e-4 * (1 - step / 20), "epoch": step / 10, "step": step})
        if step % 10 == 0:
            log.write({"eval_loss": 0.7, "eval_accuracy": step / 40, "eval_runtime": 1.0,
                       "eval_samples_per_second": 9.0, "epoch": step / 10, "step": step})
    log.write({"train_runtime": 5.0, "train_loss": 0.3, "epoch": 2.0, "step": 20})
    figures = []
    monkeypatch.setattr(trainer, "plot_losses", lambda *a, **k: figures.append(plot_losses(*a, **k)))
    for metric_for_best_model in (None, "accuracy", "loss"):  # None: compute_metrics' metric
        fake = SimpleNamespace(rank=0, args=SimpleNamespace(metric_for_best_model=metric_for_best_model),
                               output_dir=tmp_path, model=object())
        trainer.Trainer.plot(fake, log)
        assert_png(tmp_path / "loss.png")
    panels = [[ax.get_ylabel() for ax in figure.axes] for figure in figures]
    assert panels[0] == panels[1] == ["loss (nats)", "eval accuracy", "learning rate"]
    assert panels[2] == ["loss (nats)", "learning rate"], "eval_loss is drawn on the loss panel already"
    assert list(figures[0].axes[1].get_lines()[0].get_ydata()) == [0.25, 0.5]


def load_script(name, *parts):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "benchmarks", *parts))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ablation_chart_from_the_committed_results(tmp_path):
    script = load_script("ablation_run", "ablation", "run.py")
    results = shutil.copy(os.path.join(ROOT, "benchmarks", "ablation", "results_mr_english.json"), tmp_path)
    assert script.plot_results(results) == tmp_path / "results_mr_english.png"
    assert_png(tmp_path / "results_mr_english.png")
    (ax,) = script.chart(json.load(open(results))).axes
    assert len(ax.patches) == 4 and ax.get_ylabel() == "test accuracy"
    assert "TF-IDF + logistic regression (0.703)" in labels(ax)
    full = [r["test"]["accuracy"] for r in json.load(open(results))["tasks"]["mr"]["runs"] if r["variant"] == "full"]
    assert len(full) == 3 and ax.patches[0].get_height() == pytest.approx(sum(full) / 3)  # the mean over seeds
    assert sum(len(line.get_xdata()) for line in ax.get_lines() if line.get_marker() == "o") == 12, "every seed"


def test_benchmark_chart_from_the_committed_results(tmp_path):
    script = load_script("bench_run", "run.py")
    results = shutil.copy(os.path.join(ROOT, "benchmarks", "results", "bench.json"), tmp_path)
    assert script.plot_results(results) == tmp_path / "bench.png"
    assert_png(tmp_path / "bench.png")
    (ax,) = script.chart(json.load(open(results))).axes
    summary = json.load(open(results))["summary"]
    ratios = sorted(value[0] / value[1] for row in summary.values() for key, value in row.items()
                    if key in script.LABELS and key not in script.NOT_CHARTED)
    assert len(ax.patches) == len(ratios) and labels(ax)[0] == "parity (1×)"  # a bar per charted ratio
    assert [round(p.get_y() + p.get_height(), 6) for p in sorted(ax.patches, key=lambda p: p.get_y() + p.get_height())
            ] == [round(r, 6) for r in ratios]  # each bar reaches its ratio from the 1x line
    assert ax.get_yscale() == ("log" if ratios[-1] / ratios[0] > 10 else "linear")
    assert "course flow (6x384, 4 × ≤512)" in labels(ax)  # the course flow is a series of its own


def test_a_broken_results_file_only_warns(tmp_path, caplog):
    script = load_script("bench_run", "run.py")
    (tmp_path / "bench.json").write_text("{}")
    with caplog.at_level(logging.WARNING, logger="mindgpt"):
        assert script.plot_results(tmp_path / "bench.json") is None
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1
