"""`Trainer`, `TrainingArguments`, `EvalPrediction`: transformers' fine-tuning surface on mindgpt's compiled step.

Code written for transformers' or mindnlp's Trainer (the MindSpore course's IMDB notebook) runs unchanged: the
same arguments, `train()` returning `TrainOutput`, `evaluate()` returning `eval_loss` and `eval_<metric>`,
`predict`, `save_model`, `checkpoint-<step>/` folders. Underneath:
- Datasets are `mindspore.dataset` pipelines (batched, as the course builds them with `padded_batch`, or rows the
  Trainer batches with `data_collator`) or lists of records. Columns: `input_ids`, optional `attention_mask`,
  `token_type_ids`, and `labels` (a double-heads model's labels are its choice labels).
- Every step runs `make_train_step`'s graph, compiled whatever the context's mode, and `evaluate`/`predict` run
  `make_predict_step`'s. Each batch is padded up to the next of a few lengths (`length_buckets`), so a run
  compiles one graph per length and batch size, not one per batch; `train()` reports how many (`train_graphs`).
- Checkpoints are HF's folders (model, tokenizer) plus `train_state.ckpt` (Adam moments, step, dropout counters)
  and `state.json` (the loop's position, log history, best metric), written atomically. Each epoch's batch order is
  a function of (seed, epoch), so a run killed at any point and resumed ends on the unbroken run's weights.
- Under a data-parallel launch (msrun, rank table) every rank reads the same batches and trains on its slice of
  each: the gradients are averaged, so ranks end bit-identical to each other and equal to one process on the whole
  batch (to the last bits of the sums; a loss averaged over tokens, like the auxiliary LM loss, is averaged per
  rank first, as in every data-parallel trainer). Every rank
  evaluates the whole evaluation set, so its metrics are the whole split's; rank 0 writes the files.
"""
from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple, Sequence

import mindspore as ms
import numpy as np
from mindspore import ops
from tqdm import tqdm

from ..checkpoint import load_state, read_weights, find_weights_file
from ..model import IGNORE_INDEX, GPTDoubleHeadsModel
from .distributed import barrier, init_data_parallel
from .optim import build_optimizer, lr_schedule
from .plot import plot_losses
from .run import (METRICS_FILE, MetricsLog, RunLayout, cast_for_training, claim_output_dir, disk_full_reported,
                  precision_for, restores_host_thread, resume_train_state, save_train_state, yield_host_thread)
from .step import CompiledStep, make_predict_step, make_train_step, model_loss

STRATEGIES = ("no", "steps", "epoch")
SCHEDULES = {"linear": "linear", "cosine": "cosine", "constant": "constant", "constant_with_warmup": "constant"}
CHECKPOINT_NAME = "checkpoint-{}"
# A run's files in output_dir beside its checkpoint-<step> folders; overwrite_output_dir clears both first.
LAYOUT = RunLayout(".", CHECKPOINT_NAME, (METRICS_FILE, "loss.png"),
                   resume="resume_from_checkpoint=True (finetune: resume=true)",
                   overwrite="overwrite_output_dir=True (finetune: overwrite=true)")
# Arguments that shape a run's updates: a checkpoint is resumed only under the same values (and the same model
# config, global batch, length buckets and updates per epoch). The length (num_train_epochs, max_steps) may change:
# the LR schedule follows it, and a checkpoint past it is refused.
SHAPING_ARGUMENTS = ("learning_rate", "weight_decay", "warmup_ratio", "warmup_steps", "lr_scheduler_type",
                     "max_grad_norm", "gradient_accumulation_steps", "seed", "fp16", "bf16", "dataloader_drop_last")
COLUMNS = ("input_ids", "attention_mask", "token_type_ids", "labels")


@dataclasses.dataclass
class TrainingArguments:
    """transformers' names and defaults. `length_buckets` is mindgpt's: the padded lengths a batch may take
    (default: 16, 32, 64, ... up to the model's n_positions), each one compiled graph."""

    output_dir: str = "trainer_output"
    overwrite_output_dir: bool = False  # replace the run in output_dir; without it (or a resume) that is refused
    per_device_train_batch_size: int = 8
    per_device_eval_batch_size: int = 8
    learning_rate: float = 5e-5
    num_train_epochs: float = 3.0
    max_steps: int = -1
    logging_steps: int = 500
    eval_strategy: str = "no"
    evaluation_strategy: str | None = None  # transformers' older name for eval_strategy
    eval_steps: int | None = None
    save_strategy: str = "steps"
    save_steps: int = 500
    save_total_limit: int | None = None
    load_best_model_at_end: bool = False
    metric_for_best_model: str | None = None
    greater_is_better: bool | None = None
    weight_decay: float = 0.0
    warmup_ratio: float = 0.0
    warmup_steps: int = 0
    lr_scheduler_type: str = "linear"
    max_grad_norm: float = 1.0
    gradient_accumulation_steps: int = 1
    seed: int = 42
    fp16: bool = False
    bf16: bool = False
    resume_from_checkpoint: str | None = None
    report_to: str | list[str] | None = "none"  # logs go to metrics.jsonl and loss.png; no integrations
    disable_tqdm: bool = False
    dataloader_drop_last: bool = False  # training leaves out a last batch smaller than the others
    length_buckets: Sequence[int] | None = None

    def __post_init__(self) -> None:
        if self.evaluation_strategy is not None:
            self.eval_strategy = self.evaluation_strategy
        for name in ("eval_strategy", "save_strategy"):
            if getattr(self, name) not in STRATEGIES:
                raise ValueError(f"TrainingArguments.{name}={getattr(self, name)!r}; use one of {STRATEGIES}")
        if self.lr_scheduler_type not in SCHEDULES:
            raise ValueError(f"lr_scheduler_type={self.lr_scheduler_type!r} is not supported; use one of "
                             f"{sorted(SCHEDULES)}")
        for name in ("per_device_train_batch_size", "per_device_eval_batch_size", "logging_steps", "save_steps",
                     "gradient_accumulation_steps"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"TrainingArguments.{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.eval_steps is None:
            self.eval_steps = self.logging_steps
        if self.fp16 and self.bf16:
            raise ValueError("pass fp16=True or bf16=True, not both")
        if self.load_best_model_at_end:
            if self.eval_strategy == "no" or self.eval_strategy != self.save_strategy:
                raise ValueError("load_best_model_at_end needs eval_strategy and save_strategy to match (and not be "
                                 f"'no'), got {self.eval_strategy!r} and {self.save_strategy!r}")
            if self.eval_strategy == "steps" and self.save_steps % self.eval_steps:
                raise ValueError(f"load_best_model_at_end needs save_steps ({self.save_steps}) to be a multiple of "
                                 f"eval_steps ({self.eval_steps})")
            self.metric_for_best_model = self.metric_for_best_model or "loss"
        if self.metric_for_best_model is not None:
            self.metric_for_best_model = self.metric_for_best_model.removeprefix("eval_")
            if self.greater_is_better is None:
                self.greater_is_better = not self.metric_for_best_model.endswith("loss")

    @property
    def precision(self) -> str:
        return "fp16" if self.fp16 else "bf16" if self.bf16 else "fp32"


class EvalPrediction(NamedTuple):
    """What `compute_metrics` receives: `logits, labels = eval_pred` unpacks it, as in transformers."""

    predictions: np.ndarray
    label_ids: np.ndarray | None


class TrainOutput(NamedTuple):
    global_step: int
    training_loss: float
    metrics: dict[str, float]


class PredictionOutput(NamedTuple):
    predictions: np.ndarray
    label_ids: np.ndarray | None
    metrics: dict[str, float]


@dataclasses.dataclass
class TrainerState:
    """The loop's position and history; saved in each checkpoint."""

    global_step: int = 0
    epoch: float = 0.0
    max_steps: int = 0
    log_history: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    best_metric: float | None = None
    best_model_checkpoint: str | None = None


@dataclasses.dataclass
class TrainerControl:
    """What callbacks may ask of the loop, as in transformers: stop, or evaluate / save at this step."""

    should_training_stop: bool = False
    should_save: bool = False
    should_evaluate: bool = False


class TrainerCallback:
    """Override any of: on_train_begin, on_epoch_begin, on_step_end, on_log, on_evaluate, on_save, on_epoch_end,
    on_train_end; each gets (args, state, control, **kwargs), as transformers' callbacks do."""


# --- batches ---------------------------------------------------------------------------------------
def default_buckets(n_positions: int) -> list[int]:
    lengths, n = [], 16
    while n < n_positions:
        lengths.append(n)
        n *= 2
    return lengths + [n_positions]


def pad_collator(pad_token_id: int) -> Callable[[list[dict]], dict[str, np.ndarray]]:
    """Rows (dicts of ids lists) into one right-padded batch, as transformers' DataCollatorWithPadding."""
    def collate(rows: list[dict]) -> dict[str, np.ndarray]:
        width = max(len(row["input_ids"]) for row in rows)
        batch: dict[str, np.ndarray] = {}
        for column, fill in (("input_ids", pad_token_id), ("attention_mask", 0), ("token_type_ids", 0)):
            if column in rows[0]:
                batch[column] = np.stack([np.pad(np.asarray(r[column]), (0, width - len(r[column])),
                                                 constant_values=fill) for r in rows])
        if "attention_mask" not in batch:
            batch["attention_mask"] = np.stack([np.pad(np.ones(len(r["input_ids"]), np.int32),
                                                       (0, width - len(r["input_ids"]))) for r in rows])
        label = "labels" if "labels" in rows[0] else "label" if "label" in rows[0] else None
        if label is not None:
            batch["labels"] = np.stack([np.asarray(r[label]) for r in rows])
        return batch

    return collate


def to_length(batch: dict[str, np.ndarray], length: int, pad_token_id: int) -> dict[str, np.ndarray]:
    """The batch right-padded to `length` columns: pad ids, mask 0, token type 0, LM labels -100."""
    width = batch["input_ids"].shape[-1]
    if width > length:
        raise ValueError(f"a batch is {width} tokens long, more than the model's n_positions; truncate the texts "
                         "(the tokenizer's truncation=True, max_length=...)")
    out = dict(batch)
    if "attention_mask" not in out:
        out["attention_mask"] = np.ones(batch["input_ids"].shape, np.int32)
    extra = [(0, 0)] * (batch["input_ids"].ndim - 1) + [(0, length - width)]
    fills = {"input_ids": pad_token_id, "attention_mask": 0, "token_type_ids": 0, "labels": IGNORE_INDEX}
    for column, fill in fills.items():
        value = out.get(column)
        if value is not None and value.shape == batch["input_ids"].shape:
            out[column] = np.pad(value, extra, constant_values=fill)
    return out


def as_batches(dataset: Any, batch_size: int, collator: Callable | None, pad_token_id: int,
               seed: int | None, drop_last: bool = False) -> Iterator[dict[str, np.ndarray]]:
    """Numpy batches of a dataset, in an order that is a function of `seed` (None: the dataset's own order).

    A `mindspore.dataset` pipeline yields batches (the course's ends in `padded_batch`) and is read as it is; a
    list of records is grouped into `batch_size` rows by `collator` (default: right padding).
    """
    if isinstance(dataset, ms.dataset.Dataset):
        if seed is not None:
            ms.dataset.config.set_seed(seed)  # the pipeline's shuffles draw from it when the iterator starts
        for batch in dataset.create_dict_iterator(num_epochs=1, output_numpy=True):
            if batch["input_ids"].ndim < 2:
                raise ValueError("the mindspore dataset yields single rows (input_ids of shape "
                                 f"{batch['input_ids'].shape}); end its pipeline in .batch(...) or .padded_batch(...)"
                                 ", or pass a list of records for the Trainer to batch")
            yield batch
        return
    order = np.arange(len(dataset)) if seed is None else np.random.default_rng(seed).permutation(len(dataset))
    rows = (dataset[int(i)] for i in order)
    collate = collator or pad_collator(pad_token_id)
    group: list[dict] = []
    for row in rows:
        group.append(row)
        if len(group) == batch_size:
            yield collate(group)
            group = []
    if group and not drop_last:
        yield collate(group)


def count_batches(dataset: Any, batch_size: int, drop_last: bool) -> int:
    """How many batches `as_batches` yields, without reading the data."""
    if isinstance(dataset, ms.dataset.Dataset):
        return dataset.get_dataset_size()
    return len(dataset) // batch_size if drop_last else -(-len(dataset) // batch_size)


def with_labels_column(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if "labels" not in batch and "label" in batch:
        batch = {**batch, "labels": batch["label"]}
    return {k: v for k, v in batch.items() if k in COLUMNS}


# --- objectives -------------------------------------------------------------------------------------
def multiple_choice_loss(model, input_ids, attention_mask, token_type_ids, labels):
    """L3 = mc_loss + λ·L1 (λ = config.lm_coef) for the double-heads model, which returns the two losses apart (as
    HF's): L1 on the choices' own tokens, padding left out. A module-level function, not a closure: MindSpore's
    graph cache keys functions by identity, and a freed closure's identity can come back as another function."""
    lm_coef = model.config.lm_coef
    if lm_coef == 0:
        return model(input_ids, attention_mask, token_type_ids, mc_labels=labels)[1]
    lm_labels = ops.masked_fill(input_ids, attention_mask == 0, IGNORE_INDEX)
    out = model(input_ids, attention_mask, token_type_ids, labels=lm_labels, mc_labels=labels)
    return out[1] + lm_coef * out[0]


def objective(model) -> Callable:
    """The loss a model is trained on: its own (L2 + λ·L1 for the classifier), or L3 for double heads."""
    return multiple_choice_loss if isinstance(model, GPTDoubleHeadsModel) else model_loss


class Trainer:
    def __init__(self, model, args: TrainingArguments | None = None, train_dataset: Any = None,
                 eval_dataset: Any = None, compute_metrics: Callable[[EvalPrediction], dict] | None = None,
                 data_collator: Callable | None = None, callbacks: Sequence[Any] | None = None,
                 processing_class: Any = None, tokenizer: Any = None):
        self.model = model
        self.args = args or TrainingArguments()
        self.train_dataset, self.eval_dataset = train_dataset, eval_dataset
        self.compute_metrics = compute_metrics
        self.data_collator = data_collator
        self.callbacks = [c() if isinstance(c, type) else c for c in callbacks or ()]
        self.tokenizer = processing_class if processing_class is not None else tokenizer
        self.state, self.control = TrainerState(), TrainerControl()
        self.rank, self.world = init_data_parallel()
        self.buckets = sorted(self.args.length_buckets or default_buckets(model.config.n_positions))
        self.output_dir = Path(self.args.output_dir)
        self.step_shapes: set[tuple] = set()
        self.eval_shapes: set[tuple] = set()
        self.predictor: CompiledStep | None = None  # evaluation's compiled forward, for the model's config then
        self.predictor_config: tuple | None = None

    @property
    def pad_token_id(self) -> int:
        return self.model.config.pad_token_id or 0

    # --- training --------------------------------------------------------------------------------
    @restores_host_thread
    def train(self, resume_from_checkpoint: str | bool | None = None) -> TrainOutput:
        """Train for `num_train_epochs` (or `max_steps`), evaluating, logging and saving as the arguments say."""
        args = self.args
        if self.train_dataset is None:
            raise ValueError("Trainer.train needs a train_dataset")
        ms.set_seed(args.seed)
        per_epoch = self.updates_per_epoch()
        total = args.max_steps if args.max_steps > 0 else max(1, math.ceil(args.num_train_epochs * per_epoch))
        warmup = args.warmup_steps or math.ceil(args.warmup_ratio * total)
        lrs = lr_schedule(args.learning_rate, total, 0 if args.lr_scheduler_type == "constant" else warmup,
                          SCHEDULES[args.lr_scheduler_type])
        optimizer = build_optimizer(self.model, lrs, args.weight_decay)
        trained, scaler = cast_for_training(self.model, precision_for(args.precision))
        step_fn = make_train_step(trained, optimizer, args.max_grad_norm, args.gradient_accumulation_steps, scaler,
                                  objective(self.model))
        self.state = TrainerState(max_steps=total)
        self.shaping = self.shaping_settings(per_epoch)
        resume = resume_from_checkpoint or args.resume_from_checkpoint
        with claim_output_dir(self.output_dir, LAYOUT, bool(resume), args.overwrite_output_dir, self.rank == 0), \
                disk_full_reported(self.output_dir, LAYOUT, self.model, optimizer):
            start = self.resume(resume, optimizer, total)
            log = MetricsLog(self.output_dir / METRICS_FILE, start, enabled=self.rank == 0)
            self.event("on_train_begin")
            bar = tqdm(total=total, initial=start, unit="step", dynamic_ncols=True,
                       disable=args.disable_tqdm or self.rank != 0)
            started, losses, since_log, samples = time.perf_counter(), [], [], 0
            epoch = start // per_epoch
            while self.state.global_step < total and not self.control.should_training_stop:
                self.event("on_epoch_begin")
                skip = self.state.global_step - epoch * per_epoch
                for group in self.update_groups(epoch, per_epoch, skip):
                    self.model.set_train(True)
                    inputs = self.step_inputs(group)
                    loss = float(step_fn(*inputs).asnumpy())
                    samples += len(inputs[0]) * self.world
                    if not math.isfinite(loss) and scaler is None:
                        raise FloatingPointError(f"loss became {loss} at step {self.state.global_step + 1}; lower "
                                                 f"learning_rate (now {args.learning_rate})")
                    if self.state.global_step == start:
                        yield_host_thread()
                    self.state.global_step += 1
                    self.state.epoch = epoch + (self.state.global_step - epoch * per_epoch) / per_epoch
                    losses.append(loss)
                    since_log.append(loss)
                    bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lrs[self.state.global_step - 1]:.2e}")
                    bar.update(1)
                    self.event("on_step_end")
                    at_end = self.state.global_step == total or self.state.global_step % per_epoch == 0
                    if self.state.global_step % args.logging_steps == 0 or at_end:
                        self.log(log, {"loss": float(np.mean(since_log)),
                                       "learning_rate": float(lrs[self.state.global_step - 1])})
                        since_log = []
                    self.evaluate_and_save(log, optimizer, "steps")
                    if self.state.global_step >= total or self.control.should_training_stop:
                        break
                epoch += 1
                self.event("on_epoch_end")
                self.evaluate_and_save(log, optimizer, "epoch")
            bar.close()
            if args.load_best_model_at_end and self.state.best_model_checkpoint:
                self.load_weights(self.state.best_model_checkpoint)
            runtime = time.perf_counter() - started
            done = self.state.global_step - start
            metrics = {"train_runtime": runtime, "train_steps_per_second": done / runtime,
                       "train_samples_per_second": samples / runtime,
                       "train_loss": float(np.mean(losses)) if losses else float("nan"), "epoch": self.state.epoch,
                       "train_graphs": len(self.step_shapes)}
            self.log(log, metrics)
            self.plot(log)
            self.event("on_train_end")
            return TrainOutput(self.state.global_step, metrics["train_loss"], metrics)

    def updates_per_epoch(self) -> int:
        batches = count_batches(self.train_dataset, self.global_batch(), self.args.dataloader_drop_last)
        per_epoch = batches // self.args.gradient_accumulation_steps
        if per_epoch == 0:
            raise ValueError(f"the train_dataset has {batches} batch(es), fewer than gradient_accumulation_steps="
                             f"{self.args.gradient_accumulation_steps}")
        return per_epoch

    def global_batch(self) -> int:
        """Rows per batch over all ranks: each rank trains on its slice (see the module docstring)."""
        return self.args.per_device_train_batch_size * self.world

    def update_groups(self, epoch: int, per_epoch: int, skip: int) -> Iterator[list[dict[str, np.ndarray]]]:
        """The epoch's batches, `gradient_accumulation_steps` to an update, from update `skip` on."""
        k = self.args.gradient_accumulation_steps
        batches = as_batches(self.train_dataset, self.global_batch(), self.data_collator, self.pad_token_id,
                             self.args.seed + epoch, self.args.dataloader_drop_last)
        group: list[dict[str, np.ndarray]] = []
        for index, batch in enumerate(batches):
            if index // k >= per_epoch:
                return
            if index // k < skip:
                continue
            group.append(with_labels_column(batch))
            if len(group) == k:
                yield group
                group = []

    def step_inputs(self, group: list[dict[str, np.ndarray]]) -> list[ms.Tensor | None]:
        """One update's batches as the step's inputs: padded to one bucket length, this rank's slice of each,
        stacked (the step cuts them back into micro-batches)."""
        length = self.bucket(max(b["input_ids"].shape[-1] for b in group))
        parts = [self.rank_slice(to_length(b, length, self.pad_token_id)) for b in group]
        inputs = []
        for column in COLUMNS:
            values = [p.get(column) for p in parts]
            inputs.append(None if values[0] is None else ms.Tensor(np.concatenate(values)))
        self.step_shapes.add(tuple(None if x is None else (tuple(x.shape), str(x.dtype)) for x in inputs))
        return inputs

    def rank_slice(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = len(batch["input_ids"])
        if rows % self.world:
            raise ValueError(f"a batch of {rows} rows does not split over {self.world} ranks; make the dataset's "
                             "batch size a multiple of the number of ranks")
        size = rows // self.world
        return {k: v[self.rank * size:(self.rank + 1) * size] for k, v in batch.items()}

    def bucket(self, width: int) -> int:
        return next((b for b in self.buckets if b >= width), width)

    # --- evaluation --------------------------------------------------------------------------------
    def evaluate(self, eval_dataset: Any = None, metric_key_prefix: str = "eval") -> dict[str, float]:
        """Loss and `compute_metrics` over the whole dataset, dropout off: {'eval_loss': ..., 'eval_<metric>': ...}."""
        dataset = eval_dataset if eval_dataset is not None else self.eval_dataset
        if dataset is None:
            raise ValueError("Trainer.evaluate needs an eval_dataset (here or when the Trainer is built)")
        output = self.prediction_loop(dataset, metric_key_prefix)
        self.event("on_evaluate", metrics=output.metrics)
        return output.metrics

    def predict(self, test_dataset: Any, metric_key_prefix: str = "test") -> PredictionOutput:
        return self.prediction_loop(test_dataset, metric_key_prefix)

    def predict_step(self, inputs: dict[str, ms.Tensor | None]) -> tuple:
        """(loss or None, scores) of one padded batch through the compiled step of `make_predict_step`: the inputs
        checked on the host first, as a model call checks them; a config change since the last call builds a new
        one."""
        multiple_choice = isinstance(self.model, GPTDoubleHeadsModel)
        given = {k: v for k, v in inputs.items() if k != "labels"}
        given["mc_labels" if multiple_choice else "labels"] = inputs["labels"]
        self.model.check_inputs(given)
        self.model.apply_config_changes()
        if self.predictor is None or self.predictor_config != self.model.config_seen:
            self.predictor = make_predict_step(self.model, multiple_choice)
            self.predictor_config = self.model.config_seen
        return self.predictor(*(inputs[k] for k in COLUMNS))

    def prediction_loop(self, dataset: Any, prefix: str) -> PredictionOutput:
        self.model.set_train(False)
        started = time.perf_counter()
        predictions, labels, losses, rows = [], [], [], 0
        for batch in as_batches(dataset, self.args.per_device_eval_batch_size, self.data_collator,
                                self.pad_token_id, None):
            batch = with_labels_column(batch)
            width = batch["input_ids"].shape[-1]
            padded = to_length(batch, self.bucket(width), self.pad_token_id)
            inputs = {k: ms.Tensor(padded[k]) if k in padded else None for k in COLUMNS}
            has_labels = "labels" in padded
            self.eval_shapes.add(tuple(sorted((k, v.shape) for k, v in padded.items())))
            loss, scores = self.predict_step(inputs)
            scores = scores.asnumpy()
            if scores.ndim == batch["input_ids"].ndim + 1:  # per-token scores: drop the bucket's padding
                scores = scores[..., :width, :]
            predictions.append(scores)
            n = len(batch["input_ids"])
            rows += n
            if has_labels:
                labels.append(batch["labels"])
                losses.append(float(loss.asnumpy()) * n)
        runtime = time.perf_counter() - started
        predictions_array = np.concatenate(predictions) if predictions else np.zeros((0,))
        label_array = np.concatenate(labels) if labels else None
        metrics: dict[str, float] = {}
        if losses:
            metrics["loss"] = sum(losses) / rows
        if self.compute_metrics is not None and label_array is not None:
            metrics.update(self.compute_metrics(EvalPrediction(predictions_array, label_array)))
        metrics.update(runtime=runtime, samples_per_second=rows / max(runtime, 1e-9))
        return PredictionOutput(predictions_array, label_array,
                                {f"{prefix}_{k}": float(v) for k, v in metrics.items()})

    # --- logging, saving, resuming ---------------------------------------------------------------
    def evaluate_and_save(self, log: MetricsLog, optimizer, boundary: str) -> None:
        """At a step or epoch boundary: evaluate and save if the strategies ask for it now."""
        args, step = self.args, self.state.global_step
        due = {"steps": lambda every: step % every == 0, "epoch": lambda _: boundary == "epoch"}
        evaluate = args.eval_strategy == boundary and due[boundary](args.eval_steps) or self.control.should_evaluate
        save = args.save_strategy == boundary and due[boundary](args.save_steps) or self.control.should_save
        self.control.should_evaluate = self.control.should_save = False
        if evaluate and self.eval_dataset is not None:
            metrics = self.evaluate()
            self.log(log, metrics)
            self.remember_best(metrics, step)
        if save:
            self.save_checkpoint(optimizer)

    def remember_best(self, metrics: dict[str, float], step: int) -> None:
        name = self.args.metric_for_best_model
        if name is None or f"eval_{name}" not in metrics:
            return
        value, best = metrics[f"eval_{name}"], self.state.best_metric
        better = best is None or (value > best if self.args.greater_is_better else value < best)
        if better:
            self.state.best_metric = value
            self.state.best_model_checkpoint = str(self.output_dir / CHECKPOINT_NAME.format(step))

    def log(self, log: MetricsLog, values: dict[str, float]) -> None:
        record = {**values, "epoch": round(self.state.epoch, 4), "step": self.state.global_step}
        self.state.log_history.append(record)
        log.write(record)
        self.event("on_log", logs=record)

    def plot(self, log: MetricsLog) -> None:
        """loss.png: training and eval loss, the selection metric per evaluation (metric_for_best_model, else
        compute_metrics' first) and the learning rate."""
        if self.rank != 0:
            return
        name = self.args.metric_for_best_model
        found = [k for r in log.records for k in r if k.startswith("eval_")
                 and k not in ("eval_loss", "eval_runtime", "eval_samples_per_second")]
        key = f"eval_{name}" if name else (found[0] if found else None)
        metric = (key, log.curve(key)) if key and key != "eval_loss" else None
        plot_losses(self.output_dir / "loss.png", log.curve("loss"), log.curve("eval_loss"),
                    log.curve("learning_rate"), metric=metric, unit="nats",
                    title=f"{type(self.model).__name__}: {self.output_dir.resolve().name}")

    def save_checkpoint(self, optimizer) -> None:
        """`checkpoint-<step>/`: the model and tokenizer in HF's layout, plus what resuming needs. Rank 0 writes
        it; every rank waits until it is complete (the best one may be read back at the end)."""
        if self.rank == 0:
            best = self.state.best_model_checkpoint
            save_train_state(self.output_dir, self.state.global_step, self.model, optimizer,
                             {"trainer_state": dataclasses.asdict(self.state), "run": self.shaping},
                             self.args.save_total_limit, CHECKPOINT_NAME, self.save_model,
                             protect=(Path(best),) if best else ())
        barrier(self.world)
        self.event("on_save")

    def save_model(self, output_dir: str | Path | None = None) -> None:
        """The model (and tokenizer, when the Trainer has one) in HF's layout, loadable by from_pretrained."""
        if self.rank != 0:
            return
        directory = Path(output_dir or self.args.output_dir)
        with disk_full_reported(directory.parent, LAYOUT, self.model):
            self.model.save_pretrained(directory)
            if self.tokenizer is not None:
                self.tokenizer.save_pretrained(directory)

    def shaping_settings(self, per_epoch: int) -> dict[str, Any]:
        """What a checkpoint must share with the run that resumes it (see SHAPING_ARGUMENTS)."""
        return {"model": self.model.config.to_dict(), "train_batch_size": self.global_batch(),
                "length_buckets": self.buckets, "updates_per_epoch": per_epoch,
                **{name: getattr(self.args, name) for name in SHAPING_ARGUMENTS}}

    def resume(self, checkpoint: str | bool | None, optimizer, total: int) -> int:
        """Restore weights, optimizer, step and history from `checkpoint` (True: the newest intact one in
        output_dir), once it is known to continue this run of `total` steps (see `run.resume_train_state`)."""
        if not checkpoint:
            return 0
        state = resume_train_state(self.output_dir, LAYOUT, self.model, optimizer, self.shaping, total,
                                   None if checkpoint is True else checkpoint)
        if state is None:
            raise FileNotFoundError(f"resume_from_checkpoint=True but {self.output_dir} holds no complete "
                                    "checkpoint-<step> folder")
        self.state = dataclasses.replace(TrainerState(**state["trainer_state"]), max_steps=total)
        return self.state.global_step

    def load_weights(self, directory: str) -> None:
        load_state(self.model, read_weights(find_weights_file(directory)[1]), source=directory)

    def event(self, name: str, **kwargs: Any) -> None:
        for callback in self.callbacks:
            method = getattr(callback, name, None)
            if method is not None:
                method(self.args, self.state, self.control, model=self.model, **kwargs)

