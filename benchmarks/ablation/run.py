"""The paper's Table 5 in miniature: what pre-training and the auxiliary LM loss each add to fine-tuning.

For each task, four GPT variants share one recipe (the task's configs/finetune_<task>.yaml plus the
overrides given here) and differ only in the weights they start from and in λ:

    pretrained, λ = 0.5     the full method (L3 = L2 + 0.5·L1)
    pretrained, λ = 0       without the auxiliary LM objective
    from scratch, λ = 0.5   without pre-training
    from scratch, λ = 0     without either

each over `--seeds` (classifier initialization, dropout and batch order; the data split is fixed), beside a
TF-IDF + logistic-regression baseline fitted on the same training examples in the same run. Test scores
are reported as mean ± std over the seeds; everything goes into `--out` (JSON), a Markdown table and a bar chart
beside the JSON (same name, .png).

    python benchmarks/ablation/run.py --pretrained outputs/pretrain_english/final --tasks mr tweets \
        max_train_examples=2000 epochs=4 lr=3e-4 batch_size=8
    python benchmarks/ablation/run.py --plot-only benchmarks/ablation/results_mr_english.json   # redraw the chart

Needs mindgpt installed (`pip install -e '.[bench]'`, which brings scikit-learn for the baseline).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mindgpt.cli import set_up_device
from mindgpt.metrics import task_metrics
from mindgpt.train.finetune import finetune, load_data, selection_metric, subset
from mindgpt.train.plot import save_figure
from mindgpt.train.settings import FinetuneSettings, load_settings

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ROOT = Path(__file__).resolve().parents[2]

VARIANTS = {  # id -> (table row, from_scratch, lm_coef)
    "full": ("GPT pretrained, λ = 0.5 (full)", False, 0.5),
    "no_aux": ("GPT pretrained, λ = 0 (no aux LM)", False, 0.0),
    "scratch_aux": ("GPT from scratch, λ = 0.5", True, 0.5),
    "scratch": ("GPT from scratch, λ = 0 (no pre-training)", True, 0.0),
}
BASELINE = "TF-IDF + logistic regression"
SHORT = {"full": "pretrained\nλ = 0.5", "no_aux": "pretrained\nλ = 0", "scratch_aux": "from scratch\nλ = 0.5",
         "scratch": "from scratch\nλ = 0"}  # the chart's bar labels


def task_settings(task: str, overrides: list[str]) -> tuple[FinetuneSettings, dict[str, Any]]:
    config = ROOT / "configs" / f"finetune_{task}.yaml"
    if not config.is_file():
        raise SystemExit(f"no {config}; --tasks takes the <task> of configs/finetune_<task>.yaml")
    return load_settings(str(config), overrides, settings_class=FinetuneSettings)


def tfidf_baseline(settings: FinetuneSettings) -> dict[str, float]:
    """Word and bigram TF-IDF, logistic regression, fitted on the same training subset the GPTs see."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    data = load_data(settings)
    if data.label_type != "classification":
        return {}
    train = subset(data.splits["train"], settings.max_train_examples, settings.split_seed)
    test = subset(data.splits["test"], settings.max_eval_examples, settings.split_seed)
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    features = vectorizer.fit_transform([_text(r) for r in train])
    classifier = LogisticRegression(max_iter=2000, C=10.0).fit(features, [r["label"] for r in train])
    predictions = classifier.predict(vectorizer.transform([_text(r) for r in test]))
    return task_metrics("classification", np.array([r["label"] for r in test]), predictions)


def _text(record: dict[str, Any]) -> str:
    return f"{record['text']} {record.get('text_pair', '')}"


def finished_run(run_dir: Path, settings: FinetuneSettings, model_overrides: dict[str, Any]) -> dict[str, Any] | None:
    """The summary of a run that already finished with exactly these settings (a rerun after a crash or an
    interruption picks up where it stopped), else None."""
    started, finished = run_dir / "settings.json", run_dir / "metrics.json"
    try:
        if finished.stat().st_mtime < started.stat().st_mtime:  # a later start did not get to the end
            return None
        recorded, summary = json.loads(started.read_text()), json.loads(finished.read_text())
    except (OSError, ValueError):
        return None
    return summary if recorded == json.loads(json.dumps({**vars(settings), **model_overrides})) else None


def finetune_in_child(settings: FinetuneSettings, model_overrides: dict[str, Any]) -> dict[str, Any]:
    """One fine-tuning run in a fresh process: MindSpore keeps every compiled graph of a process, and two dozen
    runs in one process outgrow a small machine's memory (one was OOM-killed at 12 GB)."""
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        return pool.submit(_finetune_on_device, settings, model_overrides).result()


def _finetune_on_device(settings: FinetuneSettings, model_overrides: dict[str, Any]) -> dict[str, Any]:
    set_up_device()
    return finetune(settings, model_overrides)


def run_task(task: str, pretrained: str, variants: list[str], seeds: list[int], overrides: list[str],
             out_dir: Path) -> dict[str, Any]:
    """Every variant over every seed on one task, then the baseline."""
    settings, _ = task_settings(task, overrides)
    metric = selection_metric(settings, load_data(settings))
    runs = []
    for variant in variants:
        name, scratch, lm_coef = VARIANTS[variant]
        for seed in seeds:
            run_dir = out_dir / task / f"{'scratch' if scratch else 'pretrained'}-lm{lm_coef}-seed{seed}"
            settings, model_overrides = task_settings(task, overrides + [
                f"pretrained={pretrained}", f"from_scratch={scratch}", f"lm_coef={lm_coef}", f"seed={seed}",
                f"output_dir={run_dir}"])
            summary = finished_run(run_dir, settings, model_overrides) or finetune_in_child(settings, model_overrides)
            runs.append({"variant": variant, "seed": seed, "test": summary["test"], "best_epoch": summary["best_epoch"],
                         "train_seconds": summary["train_seconds"]})
            print(f"[{task}] {name}, seed {seed}: test {metric} {summary['test'][metric]:.4f}", flush=True)
    baseline = tfidf_baseline(settings)
    return {"metric": metric, "settings": {k: v for k, v in vars(settings).items() if k not in ("seed", "output_dir")},
            "runs": runs, "baseline": baseline}


def mean_std(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def table(results: dict[str, Any]) -> str:
    """Markdown: one row per variant, one column per task, test mean ± std over the seeds."""
    tasks = list(results)
    header = "| | " + " | ".join(f"{t} (test {results[t]['metric']})" for t in tasks) + " |"
    lines = [header, "|---" * (len(tasks) + 1) + "|"]
    for variant in dict.fromkeys(r["variant"] for t in tasks for r in results[t]["runs"]):
        cells = [mean_std([r["test"][results[t]["metric"]] for r in results[t]["runs"] if r["variant"] == variant])
                 for t in tasks]
        lines.append(f"| {VARIANTS[variant][0]} | " + " | ".join(cells) + " |")
    cells = [f"{results[t]['baseline'][results[t]['metric']]:.3f}" if results[t]["baseline"] else "—" for t in tasks]
    lines.append(f"| {BASELINE} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def chart(results: dict[str, Any]) -> "Figure":
    """One panel per task of an ablation JSON: a bar per variant at its mean test score, each seed's score as a
    dot on it, the TF-IDF baseline as a dashed line. The score axis starts near the lowest score, not at 0: the
    variants differ by a few points, which bars from 0 would flatten."""
    from matplotlib.figure import Figure

    tasks = results["tasks"]
    figure = Figure(figsize=(2.5 + 4.5 * len(tasks), 5), layout="constrained")
    for ax, (task, result) in zip(figure.subplots(1, len(tasks), squeeze=False)[0], tasks.items()):
        metric, runs, baseline = result["metric"], result["runs"], result["baseline"].get(result["metric"])
        variants = list(dict.fromkeys(r["variant"] for r in runs))
        scores = [[r["test"][metric] for r in runs if r["variant"] == v] for v in variants]
        ax.bar(range(len(variants)), [np.mean(s) for s in scores], width=0.6, alpha=0.75,
               color=[f"C{list(VARIANTS).index(v)}" for v in variants])
        for i, s in enumerate(scores):  # seeds side by side, so equal scores stay apart
            ax.plot(i + 0.12 * (np.arange(len(s)) - (len(s) - 1) / 2), s, "o", color="black", ms=4,
                    label="one seed" if i == 0 else None)
        lowest = min(min(map(min, scores)), baseline if baseline is not None else 1.0)
        highest = max(max(map(max, scores)), baseline if baseline is not None else 0.0)
        if baseline is not None:
            ax.axhline(baseline, color="0.25", ls="--", lw=1.2, label=f"{BASELINE} ({baseline:.3f})")
        ax.set_ylim(max(0.0, lowest - 0.1 * (highest - lowest) - 0.02), highest + 0.25 * (highest - lowest) + 0.01)
        ax.set_xticks(range(len(variants)), [f"{SHORT.get(v, v)}\n{mean_std(s)}" for v, s in zip(variants, scores)])
        ax.set_ylabel(f"test {metric}")
        ax.set_title(f"{task}: mean of {len(scores[0])} seeds (bars), each seed (dots)", fontsize="medium")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(loc="upper right", fontsize="small")
    examples = next(iter(tasks.values()))["settings"].get("max_train_examples")
    figure.suptitle(f"Fine-tuning ablation, {f'{examples:,}' if examples else 'all'} training examples\n"
                    f"backbone {results['pretrained']}")
    return figure


def plot_results(path: str | Path) -> Path | None:
    """Draw the chart of an ablation JSON beside it (same name, .png) and return its path; a failure only warns
    and returns None (`save_figure`): the results are in the JSON already."""
    out = Path(path).with_suffix(".png")
    return out if save_figure(out, lambda: chart(json.loads(Path(path).read_text()))) else None


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pretrained", default="outputs/pretrain_english/final",
                        help="the backbone: `python -m mindgpt pretrain --config configs/pretrain_english.yaml`")
    parser.add_argument("--tasks", nargs="+", default=["mr", "tweets"], help="configs/finetune_<task>.yaml names")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", default="benchmarks/ablation/results.json")
    parser.add_argument("--work-dir", default="outputs/ablation", help="where the fine-tuned runs go")
    parser.add_argument("--plot-only", metavar="JSON", help="only redraw the chart of an existing results JSON")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="settings for every run")
    # key=value settings may follow `--seeds 0 1 2`, which would swallow them: hand them to argparse first
    settings = [arg for arg in argv if "=" in arg and not arg.startswith("-")]
    return parser.parse_args(settings + [arg for arg in argv if arg not in settings])


def main() -> None:
    args = parse_args(sys.argv[1:])
    if args.plot_only:
        print(f"chart: {plot_results(args.plot_only)}")
        return
    if not os.path.isdir(args.pretrained):
        raise SystemExit(f"--pretrained {args.pretrained!r} is not a directory; run `python -m mindgpt pretrain` first")
    set_up_device()
    started = time.perf_counter()
    results = {task: run_task(task, args.pretrained, args.variants, args.seeds, args.overrides, Path(args.work_dir))
               for task in args.tasks}
    command = "python benchmarks/ablation/run.py " + " ".join(sys.argv[1:])
    markdown = table(results)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"command": command, "pretrained": args.pretrained, "seeds": args.seeds,
                                          "seconds": time.perf_counter() - started, "tasks": results,
                                          "table": markdown}, indent=2))
    print(f"\n{markdown}\n\n{command}\nresults: {args.out}, chart: {plot_results(args.out)}")


if __name__ == "__main__":
    main()
