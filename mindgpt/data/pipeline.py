"""Fine-tuning data as `mindspore.dataset`s: the course's `load_dataset`, and mindgpt's task batches.

`load_dataset("imdb", split=["train", "test"])` answers as mindnlp's does for the MindSpore course: one
mappable `GeneratorDataset` of raw columns per split (`text`, `label`; see `load_dataset`), which the user
tokenizes with `map` and pads with `padded_batch`. It reads `datasets.load_labelled`'s cached splits.

`task_collator` frames records into batches for the Trainer (mindgpt's fine-tuning), and `build_task_dataset`
gives the same batches as a `mindspore.dataset` pipeline: records -> task transform -> batched tensors.
Shuffling, sharding and batching happen in Python over record indices and each batch goes through the
task transform whole, so `padding="longest"` pads per batch (fine on CPU/GPU) while `"max_length"` or a
list of bucket lengths gives the few static shapes Ascend graph mode wants. Every rank gets the same
number of batches: before splitting, the shuffled order is extended by wrapping around (as torch's
DistributedSampler does), so a rank never waits on a missing step.
"""
from __future__ import annotations

import functools
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import mindspore.dataset as ds
import numpy as np

from ..tasks import encode_records
from .datasets import SOURCES, SPLITS, load_labelled
from .sources import FINETUNE_HELD_OUT, FINETUNE_SPLIT_SEED

if TYPE_CHECKING:
    from ..tokenizer import GPTTokenizer

COLUMNS = ("input_ids", "attention_mask", "token_type_ids", "labels")
VALIDATION_CHUNK = 1024


def load_dataset(
    name: str,
    split: str | Sequence[str] | None = None,
    data_dir: str | os.PathLike = "data_cache",
    seed: int = FINETUNE_SPLIT_SEED,
    val_fraction: float = FINETUNE_HELD_OUT["validation"],
    test_fraction: float = FINETUNE_HELD_OUT["test"],
    n_choices: int = 2,
    label_type: str | None = None,
) -> ds.GeneratorDataset | dict[str, ds.GeneratorDataset]:
    """The splits of a labelled dataset as `mindspore.dataset`s, for code written against mindnlp's `load_dataset`.

    name: "imdb", one of mindgpt's datasets (`datasets.SOURCES`), or the path of a CSV or JSONL file (or of a
    folder with train/validation/test files) with the columns text, label and optionally text_pair.
    split: "train", "validation" or "test" -> that dataset; a list of them -> a dict keyed by split name;
    None -> a dict of all three. The splits are `load_labelled`'s (seeded by `seed`, `val_fraction` and
    `test_fraction` of the examples held out; IMDB's 25,000 reviews give about 20,000 / 2,500 / 2,500).
    Each dataset is mappable (`split`, `shuffle`, `map`, `padded_batch`, `get_dataset_size` work) and keeps the
    cache's order; its columns are `text`, then `text_pair` for text pairs or `choices` (a 1-d string array of
    the candidates) for multiple choice, then `label`: an int64 class index (IMDB: 0 negative, 1 positive), or a
    float32 score for regression, or the index of the right choice.
    """
    names = list(SPLITS) if split is None else [split] if isinstance(split, str) else list(split)
    unknown = [s for s in names if s not in SPLITS]
    if unknown or not names:
        raise ValueError(f"split={split!r}: choose from {list(SPLITS)}, a list of them, or None for all")
    dataset, path = _dataset_and_path(name)
    data = load_labelled(dataset, data_dir, seed, val_fraction, test_fraction, path, n_choices, label_type)
    datasets = {s: _split_dataset(data.splits[s]) for s in names}
    return datasets[split] if isinstance(split, str) else datasets


def _dataset_and_path(name: str) -> tuple[str, str | None]:
    """("imdb", None) for a dataset of mindgpt's; ("custom", name) for a user's file or folder."""
    if name in SOURCES:
        return name, None
    if Path(name).suffix in (".csv", ".jsonl") or Path(name).is_dir():
        return "custom", name
    raise ValueError(f"unknown dataset {name!r}: choose one of {sorted(SOURCES)}, or give the path of a .csv or "
                     ".jsonl file (columns text, label, optionally text_pair)")


class SplitColumns:
    """Random access to one split's records as column tuples, so the GeneratorDataset over it is mappable."""

    def __init__(self, records: list[dict[str, Any]]):
        self.records = records
        self.columns = ["text", *[c for c in ("text_pair", "choices") if c in records[0]], "label"]

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
        record = self.records[int(index)]
        label = record["label"]
        return (*(np.array(record[c]) for c in self.columns[:-1]),
                np.array(label, np.float32 if isinstance(label, float) else np.int64))


def _split_dataset(records: list[dict[str, Any]]) -> ds.GeneratorDataset:
    if not records:
        raise ValueError("the split is empty; lower the other splits' fractions or give more examples")
    source = SplitColumns(records)
    return ds.GeneratorDataset(source, column_names=source.columns, shuffle=False)


class TaskBatches:
    """Iterable source of whole batches; each pass over it is one epoch with a fresh shuffle."""

    def __init__(
        self,
        records: Sequence[Any],
        tokenizer: GPTTokenizer,
        task: str,
        batch_size: int,
        shuffle: bool,
        num_shards: int | None,
        shard_id: int | None,
        drop_remainder: bool,
        seed: int,
        options: dict[str, Any],
    ):
        self.records, self.tokenizer, self.task, self.options = records, tokenizer, task, options
        self.batch_size, self.shuffle, self.drop_remainder, self.seed = batch_size, shuffle, drop_remainder, seed
        self.num_shards, self.shard_id = num_shards or 1, shard_id or 0
        self.epoch = 0

    def batch_indices(self, epoch: int) -> list[np.ndarray]:
        """This rank's batches of record indices for one epoch (the same shuffle on every rank)."""
        n = len(self.records)
        order = np.random.default_rng(self.seed + epoch).permutation(n) if self.shuffle else np.arange(n)
        order = np.resize(order, math.ceil(n / self.num_shards) * self.num_shards)[self.shard_id :: self.num_shards]
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        if self.drop_remainder and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        return batches

    def __len__(self) -> int:
        return len(self.batch_indices(0))

    def __iter__(self) -> Iterator[tuple[np.ndarray, ...]]:
        epoch, self.epoch = self.epoch, self.epoch + 1
        for indices in self.batch_indices(epoch):
            batch = encode_records(self.task, self.tokenizer, [self.records[i] for i in indices], **self.options)
            yield tuple(batch[name] for name in COLUMNS if name in batch)


def build_task_dataset(
    records: Sequence[Any],
    tokenizer: GPTTokenizer,
    task: str,
    max_length: int,
    batch_size: int,
    padding: str | Sequence[int] = "longest",
    truncation: bool = True,
    num_labels: int | None = None,
    shuffle: bool = True,
    num_shards: int | None = None,
    shard_id: int | None = None,
    drop_remainder: bool = False,
    seed: int = 0,
) -> ds.GeneratorDataset:
    """A dataset of batches with columns input_ids, attention_mask, token_type_ids (+ labels when records have them).

    records: dicts or tuples `(text, [text_pair | choices], label)` as `mindgpt.tasks.TASKS` names them.
    Every record is encoded once up front, so bad input fails here rather than hours into training.
    """
    records = records if isinstance(records, Sequence) else list(records)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if (num_shards is None) != (shard_id is None):
        raise ValueError(f"pass num_shards and shard_id together, got num_shards={num_shards}, shard_id={shard_id}")
    if num_shards is not None and not 0 <= shard_id < num_shards:
        raise ValueError(f"shard_id={shard_id} must be in [0, num_shards={num_shards})")
    options = dict(max_length=max_length, padding=padding, truncation=truncation, num_labels=num_labels)
    has_labels = validate_records(records, tokenizer, task, options)
    source = TaskBatches(
        records, tokenizer, task, batch_size, shuffle, num_shards, shard_id, drop_remainder, seed, options
    )
    columns = [name for name in COLUMNS if has_labels or name != "labels"]
    return ds.GeneratorDataset(source, column_names=columns, shuffle=False, python_multiprocessing=False)


def task_collator(tokenizer: GPTTokenizer, task: str, **options: Any
                  ) -> Callable[[Sequence[Any]], dict[str, np.ndarray]]:
    """Records into one framed batch (`tasks.encode_records` with `options`: max_length, padding, num_labels, ...):
    the Trainer's `data_collator` for mindgpt's task data."""
    return functools.partial(encode_records, task, tokenizer, **options)


def validate_records(records: Sequence[Any], tokenizer: GPTTokenizer, task: str, options: dict[str, Any]) -> bool:
    """Encode all records once, naming the failing slice; return whether they carry labels.

    Chunks must agree on labels and on the rows per example (n_choices), or batches would not stack.
    """
    if len(records) == 0:
        raise ValueError("records is empty; a dataset needs at least one record")
    first = None
    for start in range(0, len(records), VALIDATION_CHUNK):
        chunk = records[start : start + VALIDATION_CHUNK]
        try:
            batch = encode_records(task, tokenizer, chunk, **options)
        except (TypeError, ValueError) as e:
            raise type(e)(f"records[{start}:{start + len(chunk)}]: {e}") from e
        shape = ("labels" in batch, batch["input_ids"].shape[1:-1])
        if first is not None and shape != first:
            raise ValueError(
                f"records[{start}:{start + len(chunk)}] differ from records[0] in (has label, rows per "
                f"example): {shape} vs {first}; give every record a label and the same number of choices"
            )
        first = first or shape
    return first[0]
