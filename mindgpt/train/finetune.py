"""Fine-tuning a pretrained GPT on a labelled task with the paper's objective L3 = L2 + λ·L1 (section 3.2).

The configs (configs/finetune_<task>.yaml) hold the paper's recipe: lr 6.25e-5 with linear decay after 0.2%
warmup, 3 epochs, batch 32, and the model fields classifier dropout 0.1 and λ = `lm_coef` = 0.5. The backbone is a mindgpt pretraining output or an HF `openai-gpt`
directory; a tokenizer without [BOS]/[SEP]/[EOS]/[PAD] gets them added and the token table grows to match,
new rows freshly initialized, as the course notebook does. `from_scratch=true` keeps the shapes and the
tokenizer but starts from random weights: the paper's "no pre-training" ablation.

The loop is `mindgpt.Trainer`'s: batches pad to a few bucket lengths (one compiled graph each), training drops
its short last batch, the validation split is scored after each epoch and saved as `checkpoint-<step>/`, and
the best epoch's weights are reloaded at the end, written to `output_dir/best` (with the tokenizer, loadable by
`from_pretrained`) and scored on the test split: `test_predictions.jsonl` and `metrics.json`. Under msrun every
rank trains on its slice of each batch (see `trainer.py`); `resume=true` continues a killed run exactly.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any, Callable

import mindspore as ms
import numpy as np

from ..checkpoint import weights_digest
from ..config import GPTConfig
from ..data.datasets import LabelledData, load_labelled
from ..data.pipeline import task_collator, validate_records
from ..io import atomic_write_text
from ..metrics import predict, task_metrics
from ..model import GPTDoubleHeadsModel, GPTForSequenceClassification
from ..tasks import TASKS
from ..tokenizer import GPTTokenizer, pretrained_tokenizer
from .distributed import init_data_parallel
from .run import disk_full_reported, precision_for
from .settings import FinetuneSettings
from .trainer import LAYOUT, EvalPrediction, Trainer, TrainingArguments

logger = logging.getLogger("mindgpt")

# What picks the best epoch when `metric` is not set: the paper's headline number per label type.
DEFAULT_METRIC = {"classification": "accuracy", "regression": "pearson", "multiple_choice": "accuracy"}
BEST_DIR = "best"


# --- data ----------------------------------------------------------------------------------------
# What a custom file's labels are, by the classifier's problem_type: a number to regress or a class.
LABELS_OF_PROBLEM = {"regression": "regression", "single_label_classification": "classification"}


def load_data(settings: FinetuneSettings, problem_type: str | None = None) -> LabelledData:
    """The dataset's cached splits; `task` may re-read custom text pairs as entailment or similarity, and
    `problem_type` (the model field) says what a custom file's labels are when they leave it open."""
    if problem_type is not None and problem_type not in LABELS_OF_PROBLEM:
        raise ValueError(f"problem_type={problem_type!r} cannot be fine-tuned here; use one of {list(LABELS_OF_PROBLEM)}")
    data = load_labelled(settings.dataset, settings.data_dir, settings.split_seed, settings.val_fraction,
                         settings.test_fraction, settings.data_path, settings.n_choices,
                         LABELS_OF_PROBLEM.get(problem_type) if settings.dataset == "custom" else None)
    if settings.task is None or settings.task == data.task:
        return data
    pair_tasks = ("entailment", "similarity")
    if settings.dataset != "custom" or data.task not in pair_tasks or settings.task not in pair_tasks:
        raise ValueError(f"task={settings.task!r} does not fit dataset {settings.dataset!r} (its task is "
                         f"{data.task!r}); only custom text pairs may choose between {pair_tasks}")
    return dataclasses.replace(data, task=settings.task)


def subset(records: list[dict], limit: int, seed: int) -> list[dict]:
    """`limit` records drawn with `seed` (kept in split order), or all of them when limit is 0."""
    if not limit or limit >= len(records):
        return records
    keep = np.sort(np.random.default_rng(seed).permutation(len(records))[:limit])
    return [records[i] for i in keep]


def buckets_for(settings: FinetuneSettings) -> list[int]:
    """Padded lengths: few, so graph mode compiles few graphs, and the last one fits any row."""
    if settings.buckets:
        if max(settings.buckets) < settings.max_length:
            raise ValueError(f"buckets={settings.buckets} must include a length >= max_length={settings.max_length}")
        return sorted(settings.buckets)
    return [b for b in (32, 64, 128, 256) if b < settings.max_length] + [settings.max_length]


def collator(tokenizer: GPTTokenizer, data: LabelledData, settings: FinetuneSettings):
    """Records into framed batches padded to the bucket lengths (one compiled graph each)."""
    return task_collator(tokenizer, data.task, max_length=settings.max_length, padding=buckets_for(settings),
                         num_labels=data.num_labels)


# --- model ---------------------------------------------------------------------------------------
def head_class(task: str) -> type:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {sorted(TASKS)}")
    return GPTDoubleHeadsModel if task == "multiple_choice" else GPTForSequenceClassification


def build_task_model(settings: FinetuneSettings, data: LabelledData, model_overrides: dict[str, Any]
                     ) -> tuple[GPTForSequenceClassification | GPTDoubleHeadsModel, GPTTokenizer]:
    """The task model on the pretrained backbone (or its random twin), vocabulary grown to the tokenizer."""
    if not settings.pretrained:
        raise ValueError("set pretrained=<dir>: a mindgpt pretraining output (e.g. outputs/pretrain_small/final) "
                         "or an HF openai-gpt directory; with from_scratch=true only its shapes are used")
    ms.set_seed(settings.seed)
    np.random.seed(settings.seed)  # resize_token_embeddings draws the new rows with numpy
    tokenizer = pretrained_tokenizer(settings.pretrained)
    cls = head_class(data.task)
    overrides = {"num_labels": data.num_labels, **model_overrides}
    if settings.from_scratch:
        model = cls(GPTConfig.from_pretrained(settings.pretrained, **overrides))
    else:
        model = cls.from_pretrained(settings.pretrained, **overrides)
    if len(tokenizer) > model.config.vocab_size:
        model.resize_token_embeddings(len(tokenizer))
    name_labels(model.config, data)
    for key, value in tokenizer.special_token_ids().items():  # read when the graph compiles, i.e. later
        setattr(model.config, key, value)
    model.config.validate()
    if settings.max_length > model.config.n_positions:
        raise ValueError(f"max_length={settings.max_length} exceeds the model's n_positions="
                         f"{model.config.n_positions}; lower max_length")
    return model, tokenizer


def name_labels(config: GPTConfig, data: LabelledData) -> None:
    """Class names into config.json's id2label, so a saved classifier says what its outputs mean."""
    if data.label_names:
        config.id2label = dict(enumerate(data.label_names))
        config.label2id = {name: i for i, name in enumerate(data.label_names)}


# --- evaluation ----------------------------------------------------------------------------------
def metrics_for(data: LabelledData) -> Callable[[EvalPrediction], dict[str, float]]:
    """The task's metrics (accuracy, F1, Pearson, ...) from the Trainer's predictions."""
    def compute(prediction: EvalPrediction) -> dict[str, float]:
        return task_metrics(data.label_type, prediction.label_ids, predict(data.label_type, prediction.predictions))

    return compute


def metrics_and_predictions(trainer: Trainer, records: list[dict], data: LabelledData
                            ) -> tuple[dict[str, float], np.ndarray]:
    """(metrics, predictions) of a split."""
    output = trainer.predict(records)
    predictions = predict(data.label_type, output.predictions)
    return task_metrics(data.label_type, np.array([r["label"] for r in records]), predictions), predictions


def selection_metric(settings: FinetuneSettings, data: LabelledData) -> str:
    metric = settings.metric or DEFAULT_METRIC[data.label_type]
    allowed = [m for m in task_metrics(data.label_type, np.array([0, 1]), np.array([0, 1])) if m != "mse"]
    if metric not in allowed:
        raise ValueError(f"metric={metric!r} cannot pick the best epoch of a {data.label_type} task; "
                         f"use one of {allowed}")
    return metric


def write_predictions(path: Path, records: list[dict], predictions: np.ndarray, data: LabelledData) -> None:
    """One JSON line per record: id, label and prediction (class names for classification)."""
    def shown(value):
        if data.label_type == "regression":
            return float(value)
        return data.label_names[int(value)] if data.label_names else int(value)

    atomic_write_text(path, "".join(
        json.dumps({"id": r["id"], "label": shown(r["label"]), "prediction": shown(p)}) + "\n"
        for r, p in zip(records, predictions)))


def report(trainer: Trainer, tokenizer: GPTTokenizer, data: LabelledData, settings: FinetuneSettings, out: Path,
           extra: dict[str, Any]) -> dict[str, Any]:
    """Score validation and test, write `test_predictions.jsonl` and `metrics.json` into `out`."""
    validation = subset(data.splits["validation"], settings.max_eval_examples, settings.split_seed)
    test = subset(data.splits["test"], settings.max_eval_examples, settings.split_seed)
    val_metrics, _ = metrics_and_predictions(trainer, validation, data)
    test_metrics, predictions = metrics_and_predictions(trainer, test, data)
    out.mkdir(parents=True, exist_ok=True)
    write_predictions(out / "test_predictions.jsonl", test, predictions, data)
    summary = {"dataset": data.name, "task": data.task, "label_type": data.label_type, "data": data.meta["dir"],
               "sizes": {"validation": len(validation), "test": len(test)}, **extra,
               "validation": val_metrics, "test": test_metrics,
               "predictions": str(out / "test_predictions.jsonl")}
    atomic_write_text(out / "metrics.json", json.dumps(summary, indent=2))
    return summary


# --- the loop ------------------------------------------------------------------------------------
def training_arguments(settings: FinetuneSettings, metric: str, world: int = 1) -> TrainingArguments:
    """The recipe as the Trainer's arguments over `world` ranks: evaluate and save each epoch, keep the best by
    `metric`."""
    precision = precision_for(settings.precision)
    rows = settings.batch_size // settings.grad_accum
    if settings.batch_size % settings.grad_accum or rows % world:
        raise ValueError(f"batch_size={settings.batch_size} must split evenly into grad_accum={settings.grad_accum} "
                         f"micro-batches and each of them over {world} rank(s)")
    return TrainingArguments(
        output_dir=settings.output_dir, learning_rate=settings.lr, num_train_epochs=settings.epochs,
        max_steps=settings.max_steps or -1, warmup_ratio=settings.warmup_fraction, lr_scheduler_type=settings.lr_decay,
        weight_decay=settings.weight_decay, max_grad_norm=settings.grad_clip,
        gradient_accumulation_steps=settings.grad_accum, per_device_train_batch_size=rows // world,
        per_device_eval_batch_size=settings.eval_batch_size, logging_steps=settings.log_every,
        eval_strategy="epoch", save_strategy="epoch", save_total_limit=1, load_best_model_at_end=True,
        metric_for_best_model=metric, greater_is_better=True, seed=settings.seed, fp16=precision == "fp16",
        bf16=precision == "bf16", length_buckets=buckets_for(settings), dataloader_drop_last=True,
        overwrite_output_dir=settings.overwrite)


def finetune(settings: FinetuneSettings, model_overrides: dict[str, Any]) -> dict[str, Any]:
    """Train with the Trainer for `epochs`, keep the best epoch by validation `metric`, then report on test."""
    rank, world = init_data_parallel()  # before the model: its gradients are reduced over the ranks
    data = load_data(settings, model_overrides.get("problem_type"))
    metric = selection_metric(settings, data)
    model, tokenizer = build_task_model(settings, data, model_overrides)
    train = subset(data.splits["train"], settings.max_train_examples, settings.split_seed)
    validation = subset(data.splits["validation"], settings.max_eval_examples, settings.split_seed)
    if len(train) < settings.batch_size:
        raise ValueError(f"{len(train)} training examples make no full batch of batch_size={settings.batch_size}")
    out = Path(settings.output_dir)
    if rank == 0:
        print(f"mindgpt finetune: {data.name} ({data.task}, {data.num_labels} label(s)), {len(train)} train / "
              f"{len(validation)} validation examples, {settings.epochs} epochs of {len(train) // settings.batch_size}"
              f" steps, λ={model.config.lm_coef}, {'from scratch' if settings.from_scratch else settings.pretrained}")
    collate = collator(tokenizer, data, settings)
    validate_records(train, tokenizer, data.task, collate.keywords)  # bad records fail now, not mid-epoch
    trainer = Trainer(model, training_arguments(settings, metric, world), train_dataset=train, eval_dataset=validation,
                      compute_metrics=metrics_for(data), data_collator=collate, processing_class=tokenizer)
    result = trainer.train(resume_from_checkpoint=settings.resume or None)
    if rank == 0:  # once the Trainer holds the folder: a refused second run must not touch it
        atomic_write_text(out / "settings.json", json.dumps({**dataclasses.asdict(settings), **model_overrides},
                                                            indent=2))
    trainer.save_model(out / BEST_DIR)
    if world > 1:
        print(f"rank {rank}: weights sha256 {weights_digest(model)}", flush=True)  # replicas must agree
    if rank != 0:  # rank 0 reports for every rank
        return {}
    epochs = epoch_history(trainer.state.log_history, metric)
    best = max(epochs, key=lambda e: e["validation"][metric])
    extra = {"pretrained": settings.pretrained, "from_scratch": settings.from_scratch, "lm_coef": model.config.lm_coef,
             "seed": settings.seed, "train_examples": len(train), "steps": result.global_step, "metric": metric,
             "train_loss": result.training_loss, "best_epoch": best["epoch"], "epochs": epochs,
             "best_dir": str(out / BEST_DIR), "train_seconds": result.metrics["train_runtime"],
             "graphs": result.metrics["train_graphs"]}
    with disk_full_reported(out, LAYOUT, model):
        return report(trainer, tokenizer, data, settings, out, extra)


def epoch_history(log_history: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    """Per epoch: its mean logged training loss and its validation metrics, from the Trainer's log."""
    history = []
    for record in (r for r in log_history if f"eval_{metric}" in r):
        epoch = record["epoch"]
        losses = [r["loss"] for r in log_history if "loss" in r and epoch - 1 < r["epoch"] <= epoch]
        validation = {k[5:]: v for k, v in record.items()
                      if k.startswith("eval_") and k not in ("eval_loss", "eval_runtime", "eval_samples_per_second")}
        history.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "validation": validation})
    return history


def evaluate_finetuned(directory: str, settings: FinetuneSettings) -> dict[str, Any]:
    """Score a fine-tuned model (a finetune output_dir or its best/) on the settings' dataset: writes
    `<directory>/evaluation/metrics.json` and `test_predictions.jsonl`."""
    root = Path(directory)
    model_dir = root / BEST_DIR if (root / BEST_DIR).is_dir() else root
    model_config = GPTConfig.from_pretrained(model_dir)
    data = load_data(settings, model_config.problem_type)
    tokenizer = GPTTokenizer.from_pretrained(model_dir)
    model = head_class(data.task).from_pretrained(model_dir)
    if model.config.num_labels != data.num_labels and data.label_type != "multiple_choice":
        raise ValueError(f"{model_dir} predicts {model.config.num_labels} label(s) but dataset {data.name!r} has "
                         f"{data.num_labels}; evaluate it with the config it was fine-tuned with")
    trainer = Trainer(model, TrainingArguments(output_dir=str(root), per_device_eval_batch_size=settings.eval_batch_size,
                                               length_buckets=buckets_for(settings)),
                      data_collator=collator(tokenizer, data, settings))
    return report(trainer, tokenizer, data, settings, root / "evaluation", {"model": str(model_dir)})


def summary_line(summary: dict[str, Any]) -> str:
    """`test accuracy 0.8123, f1 …` for the console."""
    return "test " + ", ".join(f"{k} {v:.4f}" for k, v in summary["test"].items())

