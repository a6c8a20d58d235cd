"""The paper's Table 5 in miniature: what pre-training and the auxiliary LM loss each add to fine-tuning.

For each task, four GPT variants share one recipe (the task's configs/finetune_<task>.yaml plus the
overrides given here) and differ only in the weights they start from and in λ:

    pretrained, λ = 0.5     the full method (L3 = L2 + 0.5·L1)
    pretrained, λ = 0       without the auxiliary LM objective
    from scratch, λ = 0.5   without pre-training
    from scratch, λ = 0     without either

each over `--seeds` (classifier initialization, dropout and batch order; the data split is fixed), beside a
TF-IDF + logistic-regression baseline fitted on the same training examples in the same run. Test scores
are reported as mean ± std over the seeds; everything goes into `--out` (JSON) and a Markdown table.

    python benchmarks/ablation/run.py --pretrained outputs/pretrain_english/final --tasks mr tweets \
        max_train_examples=2000 epochs=4 lr=3e-4 batch_size=8

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
from typing import Any

import numpy as np

from mindgpt.cli import set_up_device
from mindgpt.metrics import task_metrics
from mindgpt.train.finetune import finetune, load_data, selection_metric, subset
from mindgpt.train.settings import FinetuneSettings, load_settings

ROOT = Path(__file__).resolve().parents[2]

VARIANTS = {  # id -> (table row, from_scratch, lm_coef)
    "full": ("GPT pretrained, λ = 0.5 (full)", False, 0.5),
    "no_aux": ("GPT pretrained, λ = 0 (no aux LM)", False, 0.0),
    "scratch_aux": ("GPT from scratch, λ = 0.5", True, 0.5),
    "scratch": ("GPT from scratch, λ = 0 (no pre-training)", True, 0.0),
}
BASELINE = "TF-IDF + logistic regression"


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
    if data.kind != "classification":
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


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pretrained", default="outputs/pretrain_english/final",
                        help="the backbone: `python -m mindgpt pretrain --config configs/pretrain_english.yaml`")
    parser.add_argument("--tasks", nargs="+", default=["mr", "tweets"], help="configs/finetune_<task>.yaml names")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", default="benchmarks/ablation/results.json")
    parser.add_argument("--work-dir", default="outputs/ablation", help="where the fine-tuned runs go")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="settings for every run")
    # key=value settings may follow `--seeds 0 1 2`, which would swallow them: hand them to argparse first
    settings = [arg for arg in argv if "=" in arg and not arg.startswith("-")]
    return parser.parse_args(settings + [arg for arg in argv if arg not in settings])


def main() -> None:
    args = parse_args(sys.argv[1:])
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
    print(f"\n{markdown}\n\n{command}\nresults: {args.out}")


if __name__ == "__main__":
    main()
