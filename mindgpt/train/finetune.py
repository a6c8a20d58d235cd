"""Fine-tuning a pretrained GPT on a labelled task with the paper's objective L3 = L2 + λ·L1 (section 3.2).

The recipe's defaults are the paper's: lr 6.25e-5 with linear decay after 0.2% warmup, 3 epochs, batch 32,
classifier dropout 0.1, λ = 0.5. The backbone is a mindgpt pretraining output or an HF `openai-gpt`
directory; a tokenizer without [BOS]/[SEP]/[EOS]/[PAD] gets them added and the token table grows to match,
new rows freshly initialized, as the course notebook does. `from_scratch=true` keeps the shapes and the
tokenizer but starts from random weights: the paper's "no pre-training" ablation.

Graph mode compiles one graph per input shape, so batches pad to a few bucket lengths, training drops its
short last batch and evaluation pads its last batch with copies of a record whose outputs are discarded.
After each epoch the validation split is scored; the best epoch's weights are kept in `output_dir/best`
(with the tokenizer, loadable by `from_pretrained`), reloaded at the end and scored on the test split:
`test_predictions.jsonl` and `metrics.json`.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from pathlib import Path
from typing import Any, Iterator

import mindspore as ms
import numpy as np
from mindspore import ops
from tqdm import tqdm

from ..checkpoint import find_weights_file, load_state, read_weights
from ..config import GPTConfig
from ..data.datasets import LabelledData, load_dataset
from ..data.pipeline import build_task_dataset
from ..io import atomic_write_text
from ..metrics import predict, task_metrics
from ..model import IGNORE_INDEX, GPTDoubleHeadsModel, GPTForSequenceClassification
from ..outputs import DoubleHeadsModelOutput
from ..tasks import TASKS
from ..tokenizer import DEFAULT_SPECIAL_TOKENS, GPTTokenizer
from .optim import build_optimizer, lr_schedule
from .run import MetricsLog, cast_for_training, precision_for, restores_host_thread, yield_host_thread
from .step import make_train_step, model_loss

logger = logging.getLogger("mindgpt")

# What picks the best epoch when `metric` is not set: the paper's headline number per kind of task.
DEFAULT_METRIC = {"classification": "accuracy", "regression": "pearson", "multiple_choice": "accuracy"}
BEST_DIR = "best"


@dataclasses.dataclass
class FinetuneSettings:
    """Defaults are the paper's fine-tuning recipe; configs/finetune_<task>.yaml set the data."""

    pretrained: str | None = None  # a mindgpt pretraining output (…/final) or an HF openai-gpt directory
    from_scratch: bool = False  # the pretrained directory's shapes and tokenizer, but random weights
    dataset: str = "mr"  # mr, bbc, tweets, lee, shakespeare_next_line or custom (see data/datasets.py)
    data_path: str | None = None  # custom: a .csv/.jsonl file or a folder with train/validation/test files
    task: str | None = None  # custom pairs only: entailment or similarity instead of the inferred task
    data_dir: str = "data_cache"
    split_seed: int = 0
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    n_choices: int = 2  # shakespeare_next_line: candidate lines per example (2-4)
    max_train_examples: int = 0  # 0: all; else a seeded random subset (quick runs, the CPU ablation)
    max_eval_examples: int = 0  # 0: all; else a seeded subset of validation and of test
    output_dir: str = "outputs/finetune_mr"
    max_length: int = 128  # tokens per row, specials included; at most the model's n_positions
    buckets: list[int] | None = None  # padded lengths; default 32, 64, ... below max_length, and max_length
    epochs: int = 3
    batch_size: int = 32  # examples per optimizer step
    grad_accum: int = 1  # micro-batches per step, when batch_size does not fit in memory at once
    eval_batch_size: int = 64
    lr: float = 6.25e-5
    warmup_fraction: float = 0.002
    lr_decay: str = "linear"
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    lm_coef: float = 0.5  # λ in L3 = L2 + λ·L1; 0 trains on the task loss alone
    classifier_dropout: float = 0.1  # dropout on the pooled state before the classifier (either head)
    metric: str | None = None  # validation metric that picks the best epoch; default per task kind
    precision: str = "auto"
    seed: int = 42
    log_every: int = 10


# --- data ----------------------------------------------------------------------------------------
def load_data(settings: FinetuneSettings) -> LabelledData:
    """The dataset's cached splits; `task` may re-read custom text pairs as entailment or similarity."""
    data = load_dataset(settings.dataset, settings.data_dir, settings.split_seed, settings.val_fraction,
                        settings.test_fraction, settings.data_path, settings.n_choices)
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


def batches(records: list[dict], tokenizer: GPTTokenizer, data: LabelledData, settings: FinetuneSettings,
            train: bool) -> ms.dataset.GeneratorDataset:
    """Training batches (shuffled each pass, short last batch dropped) or evaluation batches in order."""
    size = settings.batch_size if train else settings.eval_batch_size
    if not train:  # copies of the last record fill the last batch: one shape, outputs discarded
        records = records + [records[-1]] * (-len(records) % size)
    return build_task_dataset(records, tokenizer, data.task, settings.max_length, size, padding=buckets_for(settings),
                              num_labels=data.num_labels, shuffle=train, drop_remainder=train, seed=settings.seed)


# --- model ---------------------------------------------------------------------------------------
def head_class(task: str) -> type:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {sorted(TASKS)}")
    return GPTDoubleHeadsModel if task == "multiple_choice" else GPTForSequenceClassification


def load_tokenizer(directory: str) -> GPTTokenizer:
    """The directory's tokenizer with any missing fine-tuning token added ([BOS] [SEP] [EOS] [PAD])."""
    tokenizer = GPTTokenizer.from_pretrained(directory)
    missing = {role: name for role, name in DEFAULT_SPECIAL_TOKENS.items() if role not in tokenizer.special_tokens}
    if missing:
        tokenizer.add_special_tokens(missing)
    return tokenizer


def build_model(settings: FinetuneSettings, data: LabelledData, model_overrides: dict[str, Any]
                ) -> tuple[GPTForSequenceClassification | GPTDoubleHeadsModel, GPTTokenizer]:
    """The task model on the pretrained backbone (or its random twin), vocabulary grown to the tokenizer."""
    if not settings.pretrained:
        raise ValueError("set pretrained=<dir>: a mindgpt pretraining output (e.g. outputs/pretrain_small/final) "
                         "or an HF openai-gpt directory; with from_scratch=true only its shapes are used")
    ms.set_seed(settings.seed)
    np.random.seed(settings.seed)  # resize_token_embeddings draws the new rows with numpy
    tokenizer = load_tokenizer(settings.pretrained)
    cls = head_class(data.task)
    overrides = {"num_labels": data.num_labels, "lm_coef": settings.lm_coef,
                 "classifier_dropout": settings.classifier_dropout,
                 "summary_first_dropout": settings.classifier_dropout, **model_overrides}
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
def model_outputs(model, records: list[dict], tokenizer: GPTTokenizer, data: LabelledData,
                  settings: FinetuneSettings) -> np.ndarray:
    """Logits (or regression scores) of every record, in order, with dropout off."""
    model.set_train(False)
    outputs = [choice_scores(model(*(ms.Tensor(x) for x in batch[:3]))).asnumpy()
               for batch in batches(records, tokenizer, data, settings, train=False)
               .create_tuple_iterator(num_epochs=1, output_numpy=True)]
    return np.concatenate(outputs)[:len(records)]


def choice_scores(output):
    """What a task head predicts from: the choices' scores of a multiple-choice output, else the logits."""
    return output.mc_logits if isinstance(output, DoubleHeadsModelOutput) else output.logits


def score(model, records: list[dict], tokenizer: GPTTokenizer, data: LabelledData, settings: FinetuneSettings
          ) -> tuple[dict[str, float], np.ndarray]:
    """(metrics, predictions) of a split."""
    predictions = predict(data.kind, model_outputs(model, records, tokenizer, data, settings))
    labels = np.array([r["label"] for r in records])
    return task_metrics(data.kind, labels, predictions), predictions


def selection_metric(settings: FinetuneSettings, data: LabelledData) -> str:
    metric = settings.metric or DEFAULT_METRIC[data.kind]
    allowed = [m for m in task_metrics(data.kind, np.array([0, 1]), np.array([0, 1])) if m != "mse"]
    if metric not in allowed:
        raise ValueError(f"metric={metric!r} cannot pick the best epoch of a {data.kind} task; use one of {allowed}")
    return metric


def write_predictions(path: Path, records: list[dict], predictions: np.ndarray, data: LabelledData) -> None:
    """One JSON line per record: id, label and prediction (class names for classification)."""
    def shown(value):
        if data.kind == "regression":
            return float(value)
        return data.label_names[int(value)] if data.label_names else int(value)

    atomic_write_text(path, "".join(
        json.dumps({"id": r["id"], "label": shown(r["label"]), "prediction": shown(p)}) + "\n"
        for r, p in zip(records, predictions)))


def report(model, tokenizer: GPTTokenizer, data: LabelledData, settings: FinetuneSettings, out: Path,
           extra: dict[str, Any]) -> dict[str, Any]:
    """Score validation and test, write `test_predictions.jsonl` and `metrics.json` into `out`."""
    validation = subset(data.splits["validation"], settings.max_eval_examples, settings.split_seed)
    test = subset(data.splits["test"], settings.max_eval_examples, settings.split_seed)
    val_metrics, _ = score(model, validation, tokenizer, data, settings)
    test_metrics, predictions = score(model, test, tokenizer, data, settings)
    out.mkdir(parents=True, exist_ok=True)
    write_predictions(out / "test_predictions.jsonl", test, predictions, data)
    summary = {"dataset": data.name, "task": data.task, "kind": data.kind, "data": data.meta["dir"],
               "sizes": {"validation": len(validation), "test": len(test)}, **extra,
               "validation": val_metrics, "test": test_metrics,
               "predictions": str(out / "test_predictions.jsonl")}
    atomic_write_text(out / "metrics.json", json.dumps(summary, indent=2))
    return summary


# --- the loop ------------------------------------------------------------------------------------
def train_step(model, settings: FinetuneSettings, total_steps: int):
    """(compiled step, per-step learning rates): AdamW, linear decay after `warmup_fraction` warmup."""
    lrs = lr_schedule(settings.lr, total_steps, round(settings.warmup_fraction * total_steps), settings.lr_decay)
    optimizer = build_optimizer(model, lrs, settings.weight_decay)
    trained, scaler = cast_for_training(model, precision_for(settings.precision))
    loss_fn = multiple_choice_loss(settings.lm_coef) if isinstance(model, GPTDoubleHeadsModel) else model_loss
    return make_train_step(trained, optimizer, settings.grad_clip, settings.grad_accum, scaler, loss_fn), lrs


def multiple_choice_loss(lm_coef: float):
    """L3 = mc_loss + λ·L1 for the double-heads model, which returns the two losses apart (as HF's): L1 on the
    choices' own tokens, padding left out."""
    def loss(model, input_ids, attention_mask, token_type_ids, labels):
        if lm_coef == 0:
            return model(input_ids, attention_mask, token_type_ids, mc_labels=labels)[1]
        lm_labels = ops.masked_fill(input_ids, attention_mask == 0, IGNORE_INDEX)
        out = model(input_ids, attention_mask, token_type_ids, labels=lm_labels, mc_labels=labels)
        return out[1] + lm_coef * out[0]

    return loss


def epoch_losses(step_fn, train_batches, settings: FinetuneSettings) -> Iterator[float]:
    """Train on one pass over the batches, dropout on; yield each step's loss."""
    for batch in train_batches.create_tuple_iterator(num_epochs=1, output_numpy=True):
        loss = float(step_fn(*(ms.Tensor(x) for x in batch)).asnumpy())
        if not math.isfinite(loss) and precision_for(settings.precision) != "fp16":  # fp16 skips overflowing steps
            raise FloatingPointError(f"loss became {loss}; lower lr (now {settings.lr})")
        yield loss


@restores_host_thread
def finetune(settings: FinetuneSettings, model_overrides: dict[str, Any]) -> dict[str, Any]:
    """Train for `epochs`, keep the best epoch by validation `metric`, then report on the test split."""
    data = load_data(settings)
    metric = selection_metric(settings, data)
    model, tokenizer = build_model(settings, data, model_overrides)
    train = subset(data.splits["train"], settings.max_train_examples, settings.split_seed)
    validation = subset(data.splits["validation"], settings.max_eval_examples, settings.split_seed)
    steps_per_epoch = len(train) // settings.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"{len(train)} training examples make no full batch of batch_size={settings.batch_size}")
    total = settings.epochs * steps_per_epoch
    step_fn, lrs = train_step(model, settings, total)
    out = Path(settings.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "settings.json", json.dumps({**dataclasses.asdict(settings), **model_overrides}, indent=2))
    tokenizer.save_pretrained(out / BEST_DIR)
    log = MetricsLog(out / "metrics.jsonl", 0, enabled=True)
    print(f"mindgpt finetune: {data.name} ({data.task}, {data.num_labels} label(s)), {len(train)} train / "
          f"{len(validation)} validation examples, {settings.epochs} epochs × {steps_per_epoch} steps, "
          f"λ={settings.lm_coef}, {'from scratch' if settings.from_scratch else settings.pretrained}")
    train_batches = batches(train, tokenizer, data, settings, train=True)
    bar = tqdm(total=total, unit="step", dynamic_ncols=True)
    history, best, step, started = [], None, 0, time.perf_counter()
    for epoch in range(1, settings.epochs + 1):
        model.set_train(True)
        losses = []
        for loss in epoch_losses(step_fn, train_batches, settings):
            losses.append(loss)
            step += 1
            if step == 1:
                yield_host_thread()
            if step % settings.log_every == 0:
                log.write({"step": step, "epoch": epoch, "loss": loss, "lr": float(lrs[step - 1])})
            bar.set_postfix(epoch=epoch, loss=f"{loss:.3f}", lr=f"{lrs[step - 1]:.2e}")
            bar.update(1)
        val_metrics, _ = score(model, validation, tokenizer, data, settings)
        history.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "validation": val_metrics})
        log.write({"step": step, "epoch": epoch, "train_loss": history[-1]["train_loss"],
                   **{f"val_{k}": v for k, v in val_metrics.items()}})
        bar.write(f"epoch {epoch}: train loss {history[-1]['train_loss']:.4f}, validation "
                  + ", ".join(f"{k} {v:.4f}" for k, v in val_metrics.items()))
        if best is None or val_metrics[metric] > best["validation"][metric]:
            best = history[-1]
            model.save_pretrained(out / BEST_DIR)
    bar.close()
    load_state(model, read_weights(find_weights_file(out / BEST_DIR)[1]), source=str(out / BEST_DIR))
    extra = {"pretrained": settings.pretrained, "from_scratch": settings.from_scratch, "lm_coef": settings.lm_coef,
             "seed": settings.seed, "train_examples": len(train), "steps": total, "metric": metric,
             "best_epoch": best["epoch"], "epochs": history, "best_dir": str(out / BEST_DIR),
             "train_seconds": time.perf_counter() - started}
    return report(model, tokenizer, data, settings, out, extra)


def evaluate(directory: str, settings: FinetuneSettings) -> dict[str, Any]:
    """Score a fine-tuned model (a finetune output_dir or its best/) on the settings' dataset: writes
    `<directory>/evaluation/metrics.json` and `test_predictions.jsonl`."""
    root = Path(directory)
    model_dir = root / BEST_DIR if (root / BEST_DIR).is_dir() else root
    data = load_data(settings)
    tokenizer = GPTTokenizer.from_pretrained(model_dir)
    model = head_class(data.task).from_pretrained(model_dir)
    if model.config.num_labels != data.num_labels and data.kind != "multiple_choice":
        raise ValueError(f"{model_dir} predicts {model.config.num_labels} label(s) but dataset {data.name!r} has "
                         f"{data.num_labels}; evaluate it with the config it was fine-tuned with")
    return report(model, tokenizer, data, settings, root / "evaluation", {"model": str(model_dir)})


def summary_line(summary: dict[str, Any]) -> str:
    """`test accuracy 0.8123, f1 …` for the console."""
    return "test " + ", ".join(f"{k} {v:.4f}" for k, v in summary["test"].items())

